// Package cli turns quflx-tui's command line, environment and env file into one Config
// and runs the chosen mode. main.go only calls Main.
package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	flag "github.com/spf13/pflag"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// Config is everything a mode needs, resolved from flags, environment, env file and
// defaults (in that order of precedence).
type Config struct {
	Command string // "" (the monitor), or a subcommand name

	Redis       redisdata.Options
	RedisSource string // where the address came from, for messages: "flag", "env", "file", "default"

	TickKey  model.KeyPattern
	Channel  model.KeyPattern
	CacheKey model.KeyPattern
	Assets   []string // empty: discover

	PollInterval  time.Duration
	DiscoverEvery time.Duration
	NoUI          bool

	ShowHelp    bool
	ShowVersion bool
}

// UsageError is a bad command line or configuration: exit status 2, one line.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// Env looks up an environment variable (os.LookupEnv in production, a map in tests).
type Env func(key string) (string, bool)

// flagValues holds the raw flag values before resolution.
type flagValues struct {
	url, host, socket, user, password string
	port, db                          int
	useTLS, insecure                  bool
	cacert, envFile                   string
	tickKey, channel, cacheKey        string
	assets                            []string
	poll, discover                    time.Duration
	noUI, help, version               bool
}

func newFlagSet(v *flagValues) *flag.FlagSet {
	fs := flag.NewFlagSet("quflx-tui", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Main, in one line
	fs.SortFlags = false
	fs.StringVar(&v.url, "redis", "", "")
	fs.StringVarP(&v.host, "host", "h", "", "")
	fs.IntVarP(&v.port, "port", "p", 0, "")
	fs.StringVarP(&v.socket, "socket", "s", "", "")
	fs.IntVarP(&v.db, "db", "n", 0, "")
	fs.StringVarP(&v.password, "password", "a", "", "")
	fs.StringVar(&v.user, "user", "", "")
	fs.BoolVar(&v.useTLS, "tls", false, "")
	fs.StringVar(&v.cacert, "cacert", "", "")
	fs.BoolVar(&v.insecure, "insecure", false, "")
	fs.StringVar(&v.envFile, "env-file", "", "")
	fs.StringVar(&v.tickKey, "tick-key", "ticks:{asset}", "")
	fs.StringVar(&v.channel, "channel", "updates:{asset}", "")
	fs.StringVar(&v.cacheKey, "cache-key", "historical:{asset}:{timeframe}", "")
	fs.StringSliceVar(&v.assets, "assets", nil, "")
	fs.DurationVar(&v.poll, "poll", time.Second, "")
	fs.DurationVar(&v.discover, "discover", 15*time.Second, "")
	fs.BoolVar(&v.noUI, "no-ui", false, "")
	fs.BoolVar(&v.help, "help", false, "")
	fs.BoolVar(&v.version, "version", false, "")
	return fs
}

// commands lists the subcommands; the issues that build them add their names here.
var commands = map[string]bool{}

// Parse resolves a Config from the arguments (without the program name) and env.
func Parse(args []string, env Env) (Config, error) {
	var cfg Config
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if !commands[args[0]] {
			return cfg, usageErr("unknown command %q", args[0])
		}
		cfg.Command, args = args[0], args[1:]
	}
	var v flagValues
	fs := newFlagSet(&v)
	if err := fs.Parse(args); err != nil {
		return cfg, usageErr("%s", strings.TrimPrefix(err.Error(), "flag: "))
	}
	if fs.NArg() > 0 {
		return cfg, usageErr("unexpected argument %q", fs.Arg(0))
	}
	cfg.ShowHelp, cfg.ShowVersion = v.help, v.version
	if cfg.ShowHelp || cfg.ShowVersion {
		return cfg, nil
	}

	layers := []connLayer{}
	if v.envFile != "" {
		file, err := readEnvFile(v.envFile)
		if err != nil {
			return cfg, err
		}
		layers = append(layers, file)
	}
	envLayer, err := layerFromEnv("environment", env)
	if err != nil {
		return cfg, err
	}
	layers = append(layers, envLayer)
	layers = append(layers, layerFromFlags(fs, &v))
	if cfg.Redis, cfg.RedisSource, err = resolveConn(layers); err != nil {
		return cfg, err
	}
	if err := applyTLS(&cfg.Redis, &v); err != nil {
		return cfg, err
	}

	for _, p := range []struct {
		flag, text string
		dst        *model.KeyPattern
		needTF     bool
	}{
		{"--tick-key", v.tickKey, &cfg.TickKey, false},
		{"--channel", v.channel, &cfg.Channel, false},
		{"--cache-key", v.cacheKey, &cfg.CacheKey, true},
	} {
		kp, err := model.ParseKeyPattern(p.text)
		if err != nil {
			return cfg, usageErr("%s: %v", p.flag, err)
		}
		if p.needTF && !kp.HasTimeframe() {
			return cfg, usageErr("%s %q has no {timeframe}", p.flag, p.text)
		}
		*p.dst = kp
	}
	for _, a := range v.assets {
		if a = strings.TrimSpace(a); a != "" {
			cfg.Assets = append(cfg.Assets, a)
		}
	}
	if v.poll < 100*time.Millisecond {
		return cfg, usageErr("--poll %v: must be at least 100ms", v.poll)
	}
	if v.discover < v.poll {
		return cfg, usageErr("--discover %v: must not be shorter than --poll %v", v.discover, v.poll)
	}
	cfg.PollInterval, cfg.DiscoverEvery, cfg.NoUI = v.poll, v.discover, v.noUI
	return cfg, nil
}

// connLayer is one source of connection settings; nil fields are not set by it.
type connLayer struct {
	name                              string
	url, host, socket, user, password *string
	port, db                          *int
}

func layerFromFlags(fs *flag.FlagSet, v *flagValues) connLayer {
	l := connLayer{name: "flag"}
	set := func(name string) bool { return fs.Changed(name) }
	if set("redis") {
		l.url = &v.url
	}
	if set("host") {
		l.host = &v.host
	}
	if set("socket") {
		l.socket = &v.socket
	}
	if set("user") {
		l.user = &v.user
	}
	if set("password") {
		l.password = &v.password
	}
	if set("port") {
		l.port = &v.port
	}
	if set("db") {
		l.db = &v.db
	}
	return l
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

func readEnvFile(path string) (connLayer, error) {
	vals, err := godotenv.Read(path)
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
func applyTLS(o *redisdata.Options, v *flagValues) error {
	if v.useTLS && o.TLS == nil {
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			host = o.Addr
		}
		o.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if (v.cacert != "" || v.insecure) && o.TLS == nil {
		return usageErr("--cacert and --insecure need --tls or a rediss:// URL")
	}
	if v.cacert != "" {
		pem, err := os.ReadFile(v.cacert)
		if err != nil {
			return usageErr("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usageErr("--cacert %s: no PEM certificate in it", v.cacert)
		}
		o.TLS.RootCAs = pool
	}
	if v.insecure {
		o.TLS.InsecureSkipVerify = true
	}
	return nil
}
