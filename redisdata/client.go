// Package redisdata is everything in quflx-tui that talks to Redis: the client, the
// pub/sub subscriber, the poller of buffers, caches and INFO, the candle cache and the
// bounded reader of tick buffers. Everything above it sees typed values from model/.
package redisdata

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// Options says how to reach one Redis server. The zero value means localhost:6379, db 0.
type Options struct {
	Addr     string // host:port, or the socket path when Network is "unix"
	Network  string // "tcp" (default) or "unix"
	Username string // ACL user (Redis 6+)
	Password string
	DB       int
	TLS      *tls.Config // nil: plaintext

	// ClientName is sent with CLIENT SETNAME so that operators can tell us apart in
	// CLIENT LIST; it defaults to "quflx-tui".
	ClientName string
	// Timeouts default to 2 s each: a monitor should report a slow server, not hang on it.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolSize defaults to 4: a monitor needs few connections.
	PoolSize int
	// FixedPool opens the PoolSize connections at once and keeps them, pipelines
	// included (no separate pipeline pool): the client then holds PoolSize connections,
	// never more, whatever its callers do at the same time.
	FixedPool bool
	// MinIdleConns are opened at once and kept: a server of many viewers holds a fixed
	// number of connections rather than one that depends on how their reads overlapped.
	MinIdleConns int
	// MaxRetries of a failed command: 0 means 1, negative means none. Retries after a read
	// timeout may apply a write twice, so writers that are not idempotent pass -1.
	MaxRetries int
	// ReadOnly refuses every command that is not on the read allowlist, in one place for
	// every caller (see readonly.go).
	ReadOnly bool
	// Cluster says whether the address is one node of a Redis Cluster: ClusterAuto (the
	// default) asks the server when dialling, as redis-cli -c does.
	Cluster ClusterMode

	// Sentinels, when set, are the host:port of Redis Sentinels that name the master
	// MasterName: Addr is then not dialled, commands go to whichever server the Sentinels
	// say is the master now, and the client follows a failover by itself. Username,
	// Password, DB and TLS are the master's; the Sentinels' own credentials are below.
	Sentinels        []string
	MasterName       string
	SentinelUsername string
	SentinelPassword string
}

// DefaultAddr is where Redis is looked for when nothing says otherwise.
const DefaultAddr = "localhost:6379"

// ParseURL reads redis://[user:password@]host[:port][/db], rediss:// (TLS) and
// unix://[user:password@]/path/to.sock[?db=N]. Query parameters understood by go-redis
// (dial_timeout=2s and the like) are honoured.
func ParseURL(s string) (Options, error) {
	ro, err := redis.ParseURL(s)
	if err != nil {
		// The parser's message quotes what it could not parse, password and all: only its
		// own words are shown, and scrubbed besides.
		msg := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		return Options{}, &ConfigError{msg: fmt.Sprintf("redis URL %s: %s", model.RedactURL(s), model.Scrub(msg, model.URLSecrets(s)...))}
	}
	return Options{
		Addr:         ro.Addr,
		Network:      ro.Network,
		Username:     ro.Username,
		Password:     ro.Password,
		DB:           ro.DB,
		TLS:          ro.TLSConfig,
		ClientName:   ro.ClientName,
		DialTimeout:  durationOrZero(strings.Contains(s, "dial_timeout="), ro.DialTimeout),
		ReadTimeout:  durationOrZero(strings.Contains(s, "read_timeout="), ro.ReadTimeout),
		WriteTimeout: durationOrZero(strings.Contains(s, "write_timeout="), ro.WriteTimeout),
		PoolSize:     ro.PoolSize,
	}, nil
}

func durationOrZero(set bool, d time.Duration) time.Duration {
	if set {
		return d
	}
	return 0
}

// Endpoint returns a human-readable address: host:port, unix:/path, with a TLS mark;
// through Sentinel, the master's name and the Sentinels.
func (o Options) Endpoint() string {
	if len(o.Sentinels) > 0 {
		addr := fmt.Sprintf("master %s via sentinel %s", o.MasterName, strings.Join(o.Sentinels, ","))
		if o.TLS != nil {
			addr += " (TLS)"
		}
		if o.DB != 0 {
			addr += fmt.Sprintf(" db %d", o.DB)
		}
		return addr
	}
	addr := o.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if o.Network == "unix" {
		addr = "unix:" + addr
	}
	if o.TLS != nil {
		addr += " (TLS)"
	}
	if o.DB != 0 {
		addr += fmt.Sprintf(" db %d", o.DB)
	}
	return addr
}

// Client is a go-redis UniversalClient configured for monitoring: a single node, or a
// Redis Cluster (see Dial), with the read-only guard installed when asked for.
type Client struct {
	redis.UniversalClient
	opts    Options
	cluster bool
	// sentinel asks the Sentinels who the master is (nil unless Options.Sentinels).
	sentinel *sentinelAsker
}

// NewClient builds a client; it does not connect until first used (see Dial and
// PingRTT). With Cluster set to ClusterOn it is a cluster client; ClusterAuto is treated
// as a single node here, since telling the two apart needs the server (Dial does).
func NewClient(o Options) (*Client, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return newClient(o, o.Cluster == ClusterOn)
}

// ConfigError is a setting the client refuses before any server is asked.
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

func configErr(format string, args ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, args...)}
}

// IsServerRefusal reports whether err is the server's final answer (a wrong password, a
// missing permission, an unknown command) rather than a failure that may pass (a reset,
// a timeout, a server still loading its data or without a master).
func IsServerRefusal(err error) bool {
	if !isRedisError(err) {
		return false
	}
	for _, transient := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"} {
		if redis.HasErrorPrefix(err, transient) {
			return false
		}
	}
	return true
}

func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Network != "tcp" && o.Network != "unix" {
		return o, configErr("redis network %q: want tcp or unix", o.Network)
	}
	if o.DB < 0 {
		return o, configErr("redis db %d: must not be negative", o.DB)
	}
	if o.ClientName == "" {
		o.ClientName = "quflx-tui"
	}
	o.DialTimeout = orDefault(o.DialTimeout, 2*time.Second)
	o.ReadTimeout = orDefault(o.ReadTimeout, 2*time.Second)
	o.WriteTimeout = orDefault(o.WriteTimeout, 2*time.Second)
	if o.PoolSize <= 0 {
		o.PoolSize = 4
	}
	if len(o.Sentinels) > 0 {
		if o.MasterName == "" {
			return o, configErr("--sentinel needs the master's name (--master-name)")
		}
		if o.Network == "unix" {
			return o, configErr("through Sentinel the master is reached over TCP, not a unix socket")
		}
		if o.Cluster == ClusterOn {
			return o, configErr("a Sentinel-managed master is not a Redis Cluster: --sentinel and --cluster on exclude each other")
		}
		o.Cluster = ClusterOff
	}
	return o, nil
}

func newClient(o Options, cluster bool) (*Client, error) {
	if cluster && o.DB != 0 {
		return nil, configErr("redis db %d: a Redis Cluster has only database 0", o.DB)
	}
	if cluster && o.Network == "unix" {
		return nil, configErr("redis cluster at %s: a cluster is reached over TCP, not a unix socket", o.Addr)
	}
	maxRetries := o.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = 1
	case maxRetries < 0:
		maxRetries = -1 // go-redis: no retries
	}
	uo := &redis.UniversalOptions{
		Addrs:         []string{o.Addr},
		IsClusterMode: cluster,
		ClientName:    o.ClientName,
		DB:            o.DB,
		Username:      o.Username,
		Password:      o.Password,
		TLSConfig:     o.TLS,
		// RESP2 skips HELLO, which old servers and minimal ACL users refuse.
		Protocol:              2,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		ContextTimeoutEnabled: true,
		PoolSize:              o.PoolSize,
		MinIdleConns:          o.MinIdleConns,
		MaxRetries:            maxRetries,
		// Note: a cluster client re-sends a command after a network error up to
		// MaxRedirects (3) times whatever MaxRetries says. Turning that off too makes a
		// keyless PUBLISH fail whenever it is routed to a dead node, so it stays: the
		// flusher's commands are safe to repeat, and a tick the feed pushes twice is one
		// row in the store (its key), though counted twice in Redis.
		// One dial attempt per try: reconnect pacing is ours (the subscriber's backoff),
		// not five silent retries inside the pool.
		DialerRetries: 1,
	}
	if o.ReadOnly {
		// Monitoring reads must not disturb the LRU/LFU clock of the keys they look at
		// (Redis 7.2+; older servers and miniredis refuse the command, which is fine).
		// Only for readers: on a connection that owns data (the flusher's in-flight
		// claims) NO-TOUCH would make those keys look idle and evict them first.
		uo.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
			_ = cn.Do(ctx, "CLIENT", "NO-TOUCH", "ON").Err()
			return nil
		}
	}
	if len(o.Sentinels) > 0 {
		// go-redis's failover client: it asks the Sentinels for the master, listens for
		// +switch-master and drops its connections to a master that was demoted.
		uo.Addrs, uo.MasterName = o.Sentinels, o.MasterName
		uo.SentinelUsername, uo.SentinelPassword = o.SentinelUsername, o.SentinelPassword
	}
	if o.Network == "unix" {
		uo.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
	}
	if o.FixedPool {
		uo.MinIdleConns = o.PoolSize
		uo.PipelinePoolSize = -1 // pipelines on the same pool
	}
	uc := redis.NewUniversalClient(uo)
	if o.ReadOnly {
		uc.AddHook(readOnlyHook{})
		if cc, ok := uc.(*redis.ClusterClient); ok {
			// A cluster client's own hooks do not reach the per-node clients that
			// ForEachMaster hands out: guard those too.
			cc.OnNewNode(func(node *redis.Client) { node.AddHook(readOnlyHook{}) })
		}
	}
	c := &Client{UniversalClient: uc, opts: o, cluster: cluster}
	if len(o.Sentinels) > 0 {
		c.sentinel = newSentinelAsker(o)
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Options returns the options the client was built with, defaults filled in.
func (c *Client) Options() Options { return c.opts }

// Endpoint returns the server address for display.
func (c *Client) Endpoint() string { return c.opts.Endpoint() }

// PingRTT sends PING and returns the round-trip time.
func (c *Client) PingRTT(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		return 0, fmt.Errorf("ping %s: %w", c.Endpoint(), hintTLS(err, c.opts.TLS != nil))
	}
	return time.Since(start), nil
}

// tlsHintError adds to a failed dial what it most likely means: the two mistakes look
// like nothing to do with TLS (a plain client at a TLS port is reset; a TLS client at a
// plain port waits for a handshake that never comes).
type tlsHintError struct {
	err  error
	hint string
}

func (e *tlsHintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *tlsHintError) Unwrap() error { return e.err }

func hintTLS(err error, usingTLS bool) error {
	if err == nil || isRedisError(err) {
		return err
	}
	text := err.Error()
	switch {
	case !usingTLS && (strings.Contains(text, "connection reset by peer") || errors.Is(err, io.EOF)):
		return &tlsHintError{err, "is it a TLS port? then use rediss:// or --tls"}
	case usingTLS && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err) ||
		strings.Contains(text, "first record does not look like a TLS handshake")):
		return &tlsHintError{err, "no TLS handshake: if the port speaks plain TCP, use redis:// without --tls"}
	}
	return err
}

// isRedisError reports whether err is a reply error from the server (WRONGTYPE, NOPERM,
// unknown command...), as opposed to a network failure.
func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil) && !isNetError(err)
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// logger routes go-redis's own log lines away from stderr, which a full-screen TUI owns.
type logger struct{ sink func(string) }

func (l logger) Printf(_ context.Context, format string, v ...any) {
	if l.sink != nil {
		l.sink(fmt.Sprintf(format, v...))
	}
}

// RouteLogs sends go-redis's log lines (dial failures and the like) to sink; a nil sink
// discards them. It is process-wide, as go-redis's logger is.
func RouteLogs(sink func(line string)) { redis.SetLogger(logger{sink: sink}) }
