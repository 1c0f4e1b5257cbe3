package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quflx/quflx-tui/redisdata"
)

// connFlags are the connection flags, shared by every command that connects to Redis.
type connFlags struct {
	cfg *Config
	env Env
	fs  *pflag.FlagSet // the command's, to tell a flag given from a default

	url, host, socket, user, password string
	port, db                          int
	useTLS, insecure                  bool
	cacert, envFile, cluster          string
	connection                        string // a profile of the config file

	sentinels                                  []string
	masterName, sentinelUser, sentinelPassword string
}

func addConnFlags(cmd *cobra.Command, cfg *Config, env Env) *connFlags {
	c := &connFlags{cfg: cfg, env: env, fs: cmd.Flags()}
	inGroup(cmd, groupConnection, func(fs *pflag.FlagSet) {
		fs.StringVar(&c.url, "redis", "", "connect to `URL`: redis://[user:password@]host[:port][/db], "+
			"rediss://... for TLS, unix://[user:password@]/path.sock[?db=N]")
		fs.StringVarP(&c.host, "host", "h", "", "connect to `HOST` (default localhost)")
		fs.IntVarP(&c.port, "port", "p", 0, "connect to `PORT` (default 6379)")
		fs.StringVarP(&c.socket, "socket", "s", "", "connect to the Unix socket at `PATH` instead of TCP")
		fs.IntVarP(&c.db, "db", "n", 0, "use database number `N` (default 0)")
		fs.StringVarP(&c.password, "password", "a", "", "authenticate with `PASS` (visible in ps: prefer "+
			"REDIS_PASSWORD or --env-file)")
		fs.StringVar(&c.user, "user", "", "authenticate as the ACL user `NAME` (Redis 6+)")
		fs.BoolVar(&c.useTLS, "tls", false, "use TLS")
		fs.StringVar(&c.cacert, "cacert", "", "trust the CA certificate in `FILE` for TLS")
		fs.BoolVar(&c.insecure, "insecure", false, "skip TLS certificate verification")
		fs.StringVar(&c.envFile, "env-file", "", "read REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_DB, "+
			"REDIS_PASSWORD and REDIS_USERNAME from a QuFLX .env.redis `FILE`")
		fs.StringVar(&c.connection, "connection", "", "connect as the config file's connection profile `NAME` "+
			"([connections.NAME]) says; the profile's settings rank above the environment, the flags above them")
		fs.StringVar(&c.cluster, "cluster", cfg.Redis.Cluster.String(), "how to take the server, `MODE`: auto asks "+
			"whether it is a Redis Cluster node and, if so, reaches the whole cluster from it, as redis-cli -c "+
			"does; on: as a cluster node; off: as a single server")
		fs.StringSliceVar(&c.sentinels, "sentinel", nil, "reach the master through the Redis Sentinels at "+
			"`HOST:PORT,...` instead of one address: commands and the subscription follow a failover to the new "+
			"master; password, user, db and TLS are the master's")
		fs.StringVar(&c.masterName, "master-name", "", "the `NAME` the Sentinels know the master by (with --sentinel)")
		fs.StringVar(&c.sentinelUser, "sentinel-user", "", "authenticate to the Sentinels as the ACL user `NAME`")
		fs.StringVar(&c.sentinelPassword, "sentinel-password", "", "authenticate to the Sentinels with `PASS` "+
			"(visible in ps: prefer REDIS_SENTINEL_PASSWORD)")
	})
	completeWith(cmd, "redis", cobra.ShellCompDirectiveNoSpace, "redis://", "rediss://", "unix://")
	completeWith(cmd, "cluster", cobra.ShellCompDirectiveNoFileComp,
		"auto\task the server", "on\ta Redis Cluster", "off\tthis node only")
	completeFiles(cmd, "socket", "cacert", "env-file")
	return c
}

// resolve sets the connection of the Config from the flags, a profile chosen with
// --connection, the environment, the env file, the config file and the defaults, in that
// order of precedence, and RedisNamed from the first two alone.
func (c *connFlags) resolve() error {
	cfg := c.cfg
	layers := []connLayer{}
	if c.envFile != "" {
		file, err := readEnvFile(c.envFile, c.env)
		if err != nil {
			return err
		}
		layers = append(layers, file)
	}
	envLayer, err := layerFromEnv("environment", c.env)
	if err != nil {
		return err
	}
	// The config file ranks below the environment and the env file (which it may name);
	// a profile chosen with --connection above them, the command line above all.
	layers = append([]connLayer{c.layer("config file", fromFile)}, layers...)
	profile := c.layer("connection "+c.connection, fromChosenConnection)
	flags := c.layer("flag", fromCommandLine)
	layers = append(layers, envLayer, profile, flags)
	if cfg.Redis, cfg.RedisSource, err = resolveConn(layers); err != nil {
		return err
	}
	if err := c.applyTLS(&cfg.Redis); err != nil {
		return err
	}
	if cfg.Redis.Cluster, err = redisdata.ParseClusterMode(c.cluster); err != nil {
		return usageErr("--cluster: %v", err)
	}
	if err := c.applySentinel(&cfg.Redis, flags); err != nil {
		return err
	}
	// RedisNamed is what --demo may write to: what the command line names, itself or by
	// --connection; neither the environment nor the file alone. TLS given by the
	// environment (rediss:// in REDIS_URL) is not the command line's: --cacert alone then
	// leaves the named server without TLS, which only the demo, which would write to it,
	// refuses.
	if profile.names() || flags.names() {
		named, _, err := resolveConn([]connLayer{profile, flags})
		if err == nil {
			err = c.applyTLS(&named)
		}
		if err != nil && cfg.Demo {
			return err
		}
		if err == nil {
			named.Cluster = cfg.Redis.Cluster
			cfg.RedisNamed = &named
		}
	}
	return nil
}

// applySentinel sets the Sentinels from --sentinel and --master-name, with their own
// credentials (--sentinel-user, --sentinel-password or REDIS_SENTINEL_PASSWORD).
func (c *connFlags) applySentinel(o *redisdata.Options, flags connLayer) error {
	if len(c.sentinels) == 0 && c.masterName == "" {
		return nil
	}
	switch {
	case len(c.sentinels) == 0:
		return usageErr("--master-name needs --sentinel HOST:PORT[,HOST:PORT...]")
	case c.masterName == "":
		return usageErr("--sentinel needs --master-name: the name the Sentinels know the master by")
	case c.cfg.Demo:
		return usageErr("--sentinel is for a deployment's Redis; --demo runs a pipeline of its own")
	case flags.socket != nil:
		return usageErr("--sentinel and --socket exclude each other: the Sentinels name a TCP address")
	case o.Cluster == redisdata.ClusterOn:
		return usageErr("--sentinel and --cluster on exclude each other: a Sentinel-managed master is not a cluster")
	}
	for _, addr := range c.sentinels {
		host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return usageErr("--sentinel %q: want HOST:PORT", addr)
		}
		o.Sentinels = append(o.Sentinels, net.JoinHostPort(host, port))
	}
	o.MasterName, o.SentinelUsername = c.masterName, c.sentinelUser
	o.SentinelPassword = c.sentinelPassword
	if pw, ok := c.env("REDIS_SENTINEL_PASSWORD"); ok && !c.fs.Changed("sentinel-password") {
		o.SentinelPassword = pw
	}
	o.Network = "tcp"
	if o.TLS != nil {
		// Each Sentinel and each master is checked under its own name, not the one of an
		// address that is not dialled.
		o.TLS = o.TLS.Clone()
		o.TLS.ServerName = ""
	}
	return nil
}

// connLayer is one source of connection settings; nil fields are not set by it.
type connLayer struct {
	name                              string
	url, host, socket, user, password *string
	port, db                          *int
}

// names says whether the layer names a server.
func (l connLayer) names() bool { return l.url != nil || l.host != nil || l.socket != nil }

// The sources of a flag's value, for the layers.
func fromCommandLine(f *pflag.Flag) bool      { return valueSource(f) == "" }
func fromFile(f *pflag.Flag) bool             { return valueSource(f) == sourceFile }
func fromChosenConnection(f *pflag.Flag) bool { return valueSource(f) == sourceConnection }

// layer is the connection flags set from one source.
func (c *connFlags) layer(name string, from func(*pflag.Flag) bool) connLayer {
	fs := c.fs
	return connLayer{
		name: name, url: ifSet(fs, "redis", &c.url, from), host: ifSet(fs, "host", &c.host, from),
		socket: ifSet(fs, "socket", &c.socket, from), user: ifSet(fs, "user", &c.user, from),
		password: ifSet(fs, "password", &c.password, from), port: ifSet(fs, "port", &c.port, from),
		db: ifSet(fs, "db", &c.db, from),
	}
}

// ifSet returns v when the flag was set from the source, nil otherwise: a default is not
// a setting.
func ifSet[T any](fs *pflag.FlagSet, name string, v *T, from func(*pflag.Flag) bool) *T {
	if f := fs.Lookup(name); f != nil && f.Changed && from(f) {
		return v
	}
	return nil
}

// layerFromEnv reads REDIS_URL and QuFLX's REDIS_HOST, REDIS_PORT, REDIS_DB,
// REDIS_PASSWORD (plus REDIS_USERNAME for ACL users).
func layerFromEnv(name string, env Env) (connLayer, error) {
	l := connLayer{name: name}
	str := func(key string) *string {
		if s, ok := env(key); ok && s != "" {
			return &s
		}
		return nil
	}
	num := func(key string) (*int, error) {
		s := str(key)
		if s == nil {
			return nil, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(*s))
		if err != nil {
			return nil, usageErr("%s=%q in the %s is not a number", key, *s, name)
		}
		return &n, nil
	}
	var err error
	l.url, l.host, l.password = str("REDIS_URL"), str("REDIS_HOST"), str("REDIS_PASSWORD")
	l.user = str("REDIS_USERNAME")
	if l.port, err = num("REDIS_PORT"); err != nil {
		return l, err
	}
	if l.db, err = num("REDIS_DB"); err != nil {
		return l, err
	}
	return l, nil
}

func readEnvFile(path string, env Env) (connLayer, error) {
	vals, err := readEnvFileValues(path, env)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return connLayer{}, usageErr("--env-file %s: no such file", path)
		}
		return connLayer{}, usageErr("--env-file %s: %v", path, err)
	}
	return layerFromEnv("env file "+path, func(k string) (string, bool) {
		v, ok := vals[k]
		return v, ok
	})
}

// resolveConn folds the layers, lowest precedence first. Within a layer a URL comes
// first and its single settings override the URL's parts; a URL in a higher layer
// replaces everything below it.
func resolveConn(layers []connLayer) (redisdata.Options, string, error) {
	o := redisdata.Options{Addr: redisdata.DefaultAddr, Network: "tcp"}
	source := "default"
	for _, l := range layers {
		if l.url != nil {
			parsed, err := redisdata.ParseURL(*l.url)
			if err != nil {
				return o, "", usageErr("%s: %v", l.name, err)
			}
			o, source = parsed, l.name
		}
		if l.socket != nil {
			o.Network, o.Addr, source = "unix", *l.socket, l.name
		}
		if l.host != nil || l.port != nil {
			host, port := "localhost", "6379"
			if o.Network == "tcp" {
				if h, p, err := net.SplitHostPort(o.Addr); err == nil {
					host, port = h, p
				}
			}
			if l.host != nil {
				host = *l.host
			}
			if l.port != nil {
				if *l.port < 1 || *l.port > 65535 {
					return o, "", usageErr("%s: port %d is out of range", l.name, *l.port)
				}
				port = strconv.Itoa(*l.port)
			}
			o.Network, o.Addr, source = "tcp", net.JoinHostPort(host, port), l.name
		}
		if l.db != nil {
			if *l.db < 0 {
				return o, "", usageErr("%s: db %d must not be negative", l.name, *l.db)
			}
			o.DB = *l.db
		}
		if l.user != nil {
			o.Username = *l.user
		}
		if l.password != nil {
			o.Password = *l.password
		}
	}
	return o, source, nil
}

// applyTLS sets up TLS from --tls, --cacert and --insecure (rediss:// already did the
// first).
func (c *connFlags) applyTLS(o *redisdata.Options) error {
	if c.useTLS && o.TLS == nil {
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			host = o.Addr
		}
		o.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if (c.cacert != "" || c.insecure) && o.TLS == nil {
		return usageErr("--cacert and --insecure need --tls or a rediss:// URL")
	}
	if c.cacert != "" {
		pem, err := os.ReadFile(c.cacert)
		if err != nil {
			return usageErr("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usageErr("--cacert %s: no PEM certificate in it", c.cacert)
		}
		o.TLS.RootCAs = pool
	}
	if c.insecure {
		o.TLS.InsecureSkipVerify = true
	}
	// The certificate is checked against the host actually dialled: a rediss:// URL from
	// the environment with -h other on the command line dials other.
	if o.TLS != nil && o.Network == "tcp" {
		if host, _, err := net.SplitHostPort(o.Addr); err == nil && o.TLS.ServerName != host {
			o.TLS = o.TLS.Clone()
			o.TLS.ServerName = host
		}
	}
	return nil
}
