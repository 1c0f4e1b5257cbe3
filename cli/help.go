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
    quflx-tui --demo [pipeline options]
    quflx-tui feed [connection] [keys] [feed options]
    quflx-tui flush [connection] [keys] [flush options]
    quflx-tui status [connection] [keys] [status options]
    quflx-tui mcp [connection] [keys] [--allow-writes]

DESCRIPTION
    quflx-tui watches a QuFLX Redis in a full-screen dashboard: live prices,
    candlesticks, buffers, the candle cache, the server and the batch flusher.
    It subscribes to the asset channels, decodes every tick (counting and
    showing the bad ones), and polls the tick buffers, the candle cache and
    INFO in one pipelined round trip per poll. Against a live server it only
    reads: every command goes through a read-only allowlist.

    Keys are discovered with SCAN (never KEYS) and channels with PSUBSCRIBE,
    unless --assets names them. A lost server is retried by itself; the state
    is shown.

    --demo runs the whole QuFLX pipeline in this process: a simulated feed
    writing as the QuFLX producers do, the batch flusher, and a SQLite store,
    against an embedded Redis unless a server is given (then it writes to it).

COMMANDS
    feed   the simulator, or a replay of recorded CSVs, writing ticks into
           Redis exactly as a QuFLX producer does
    flush  the batch flusher: moves buffered ticks into SQLite or PostgreSQL
           without losing or duplicating one; a last flush on SIGINT/SIGTERM
    status one snapshot (server, buffers, caches, flusher, health) as text
           or --json; the exit status makes it a health check
    mcp    an MCP server on stdio with QuFLX's thirteen Redis tools

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
    --fps N              dashboard repaints per second at most (default 15)
    --stale DURATION     show a feed silent this long as stale (default 10s)
    --ascii              no Unicode box, block or braille glyphs
    --store DSN          read chart history from this store on a cache miss
    --fill-cache         then also fill the cache (a write; mode LIVE)
    --log FILE           write log lines here while the dashboard runs
    --no-ui              print a summary line every poll instead of the
                         dashboard
    --duration DURATION  stop after this long (feed, flush, --demo)
    --json               feed, flush: print the closing summary as JSON
                         (produced, flushed, bad, lost_to_trim,
                         duplicates_skipped)
    --version            print the version and exit
    --help               print this help and exit

FEED (feed, --demo)
    --assets N|A,B,...   how many instruments, or which (default 8)
    --rate N             ticks per second per asset (default 4)
    --bursts             now and then tick five times faster (default true)
    --seed N             random seed: the same seed, the same prices
    --producer v1|v2     v1: LPUSH + LTRIM 0 999; v2: RPUSH, LLEN, LTRIM
                         -1000 -1 (default v1)
    --replay FILE        replay a recorded CSV instead (repeatable)
    --speed X            replay X times faster (default 1)
    --date YYYY-MM-DD    the day of recordings that hold only times of day
    --loop               replay again and again
    --keep-time          send recorded timestamps, not ones moved to now
    --count N            stop after N ticks
    --backfill DURATION  write synthetic candle history at start (--demo:
                         72h into an empty store)

FLUSH (flush, --demo)
    --store DSN          sqlite:PATH or postgres://user:pw@host/db
                         (default sqlite:quflx.db; --demo: a file in the
                         user cache directory)
    --flush-interval D   flush every buffer this often (default 30s)
    --high-water N       flush a buffer early once N ticks arrived since
                         its last flush (default 500; producers trim at
                         1000)

STATUS (status)
    --json               print the report as one JSON object (schema 1)
    --watch DURATION     repeat every DURATION until interrupted
    --stale DURATION     a feed silent longer is degraded (default 1m)
    --max-fill F         a buffer fuller than F of its cap is degraded
                         (default 0.9)
    --capacity N         the producers' buffer cap (default 1000)
    --max-heartbeat D    a flusher heartbeat older is degraded (default 10s)
    --no-flusher         do not require a flusher

MCP (mcp)
    --allow-writes       also offer redis_set, redis_del, redis_lpush and
                         redis_ltrim (otherwise the server is read-only)

KEYS IN THE DASHBOARD
    tab, shift+tab  move focus        j/k, arrows   select, scroll
    enter           chart the asset   1-5           1m 5m 15m 1h 4h
    /               filter            s             sort
    p               freeze display    ?             all keys
    q, ctrl+c       quit

ENVIRONMENT
    REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD, REDIS_USERNAME
                         connection, as QuFLX's producers read it
    NO_COLOR             no colours in the output

EXIT STATUS
    0  stopped normally (q, Ctrl-C, SIGTERM); status: healthy
    1  failed while running; status: degraded
    2  bad command line or configuration, or the server is unreachable

EXAMPLES
    quflx-tui --demo                           everything in-process
    quflx-tui                                  watch localhost:6379
    quflx-tui -h trading-box --assets EURUSD_otc,USDJPY_otc
    quflx-tui --env-file /opt/quflx/.env.redis
    quflx-tui --redis rediss://monitor:pw@cache.internal:6380/1 --cacert ca.pem
    quflx-tui feed --replay EURUSD_otc_ticks.csv --speed 10 --loop
    quflx-tui flush --store postgres://quflx:pw@db.supabase.co/postgres
    quflx-tui status --json --max-fill 0.8 || alert "QuFLX degraded"
`
