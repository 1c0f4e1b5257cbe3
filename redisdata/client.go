// Package redisdata is everything in quflx-tui that talks to Redis: the client, the
// pub/sub subscriber, the poller of buffers, caches and INFO, the candle cache and the
// bounded reader of tick buffers. Everything above it sees typed values from model/.
package redisdata

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
	// MaxRetries of a failed command: 0 means 1, negative means none. Retries after a read
	// timeout may apply a write twice, so writers that are not idempotent pass -1.
	MaxRetries int
	// ReadOnly refuses every command that is not on the read allowlist, in one place for
	// every caller (see readonly.go).
	ReadOnly bool
}

// DefaultAddr is where Redis is looked for when nothing says otherwise.
const DefaultAddr = "localhost:6379"

// ParseURL reads redis://[user:password@]host[:port][/db], rediss:// (TLS) and
// unix://[user:password@]/path/to.sock[?db=N]. Query parameters understood by go-redis
// (dial_timeout=2s and the like) are honoured.
func ParseURL(s string) (Options, error) {
	ro, err := redis.ParseURL(s)
	if err != nil {
		return Options{}, fmt.Errorf("redis URL %q: %w", redactURL(s), err)
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

// redactURL hides the password of a URL for error messages.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	creds := s[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return s[:scheme+3] + user + ":***" + s[at:]
	}
	return s
}

// Endpoint returns a human-readable address: host:port, unix:/path, with a TLS mark.
func (o Options) Endpoint() string {
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

// Client is a go-redis UniversalClient (a single node for now) configured for monitoring,
// with the read-only guard installed when asked for.
type Client struct {
	redis.UniversalClient
	opts Options
}

// NewClient builds a client; it does not connect until first used (see PingRTT).
func NewClient(o Options) (*Client, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Network != "tcp" && o.Network != "unix" {
		return nil, fmt.Errorf("redis network %q: want tcp or unix", o.Network)
	}
	if o.DB < 0 {
		return nil, fmt.Errorf("redis db %d: must not be negative", o.DB)
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
	maxRetries := o.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = 1
	case maxRetries < 0:
		maxRetries = -1 // go-redis: no retries
	}
	uo := &redis.UniversalOptions{
		Addrs:      []string{o.Addr},
		ClientName: o.ClientName,
		DB:         o.DB,
		Username:   o.Username,
		Password:   o.Password,
		TLSConfig:  o.TLS,
		// RESP2 skips HELLO, which old servers and minimal ACL users refuse.
		Protocol:              2,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		ContextTimeoutEnabled: true,
		PoolSize:              o.PoolSize,
		MaxRetries:            maxRetries,
		// One dial attempt per try: reconnect pacing is ours (the subscriber's backoff),
		// not five silent retries inside the pool.
		DialerRetries: 1,
		// Monitoring reads must not disturb the LRU/LFU clock of the keys they look at
		// (Redis 7.2+); older servers and miniredis refuse the command, which is fine.
		OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			_ = cn.Do(ctx, "CLIENT", "NO-TOUCH", "ON").Err()
			return nil
		},
	}
	if o.Network == "unix" {
		uo.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
	}
	uc := redis.NewUniversalClient(uo)
	if o.ReadOnly {
		uc.AddHook(readOnlyHook{})
	}
	return &Client{UniversalClient: uc, opts: o}, nil
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
		return 0, fmt.Errorf("ping %s: %w", c.Endpoint(), err)
	}
	return time.Since(start), nil
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
