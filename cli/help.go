package cli

import (
	"fmt"
	"runtime/debug"
)

// version is set at build time with
// -ldflags "-X github.com/quflx/quflx-tui/cli.version=v1.2.3"; otherwise it comes from
// the module version that go install recorded.
var version = ""

// Version returns the program version, with the VCS revision when known.
func Version() string {
	v, rev, dirty := version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " (" + rev
		if dirty {
			v += ", modified"
		}
		v += ")"
	}
	return fmt.Sprintf("quflx-tui %s", v)
}

const helpText = `NAME
    quflx-tui - terminal monitor for QuFLX market-data pipelines on Redis

SYNOPSIS
    quflx-tui [connection] [keys] [options]

DESCRIPTION
    quflx-tui watches a QuFLX Redis: it subscribes to the asset channels,
    decodes every tick (counting and showing the bad ones), and polls the tick
    buffers, the candle cache and INFO in one pipelined round trip per poll.
    Against a live server it only reads: every command goes through a
    read-only allowlist.

    Keys are discovered with SCAN (never KEYS) and channels with PSUBSCRIBE,
    unless --assets names them. A lost server is retried by itself; the state
    is shown.

CONNECTION
    --redis URL          redis://[user:password@]host[:port][/db],
                         rediss://... for TLS,
                         unix://[user:password@]/path.sock[?db=N]
    -h, --host HOST      server host (default localhost)
    -p, --port PORT      server port (default 6379)
    -s, --socket PATH    Unix socket instead of TCP
    -n, --db N           database number (default 0)
    -a, --password PASS  password (visible in ps: prefer REDIS_PASSWORD or
                         --env-file)
        --user NAME      ACL user name (Redis 6+)
        --tls            use TLS
        --cacert FILE    trust this CA for TLS
        --insecure       skip TLS certificate verification
        --env-file FILE  read REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_DB and
                         REDIS_PASSWORD from a QuFLX .env.redis file

    Precedence: flags, then environment, then --env-file, then
    localhost:6379. A URL sets everything it names; host, port, db, user and
    password given at the same or a higher level override its parts.

KEYS
    --tick-key PATTERN   tick buffer list (default "ticks:{asset}")
    --channel PATTERN    live update channel (default "updates:{asset}")
    --cache-key PATTERN  candle cache string
                         (default "historical:{asset}:{timeframe}")
    --assets A,B,...     follow these assets only (default: discover them)

    Patterns hold {asset} and {timeframe}; other braces are literal, so
    cluster hash tags work: --tick-key 'ticks:{{asset}}'.

OPTIONS
    --poll DURATION      how often buffers, caches and INFO are read
                         (default 1s)
    --discover DURATION  how often SCAN looks for new keys (default 15s)
    --no-ui              print a summary line every poll instead of the
                         dashboard
    --version            print the version and exit
    --help               print this help and exit

ENVIRONMENT
    REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD, REDIS_USERNAME
                         connection, as QuFLX's producers read it
    NO_COLOR             no colours in the output

EXIT STATUS
    0  stopped normally (q, Ctrl-C, SIGTERM)
    1  failed while running
    2  bad command line or configuration, or the server is unreachable at start

EXAMPLES
    quflx-tui                                  watch localhost:6379
    quflx-tui -h trading-box --assets EURUSD_otc,USDJPY_otc
    quflx-tui --env-file /opt/quflx/.env.redis
    quflx-tui --redis rediss://monitor:pw@cache.internal:6380/1 --cacert ca.pem
`
