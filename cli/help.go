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

// The manual: each command's description and examples, and the sections of the whole
// manual besides them. The flags' own texts are where they are defined (conn.go,
// flags.go, commands.go); writeHelp and writeMan put it all together. Lines of the
// descriptions stay within 76 columns (the help indents them by 4); they are Markdown to
// the man page, so prose stays prose and tables are kept apart in sections marked pre.

const rootShort = "terminal monitor for QuFLX market-data pipelines on Redis"

const rootLong = `quflx-tui watches a QuFLX Redis in a full-screen dashboard: live prices,
candlesticks, buffers, the candle cache, the server and the batch flusher.
It subscribes to the asset channels, decodes every tick (counting and
showing the bad ones), and polls the tick buffers, the candle cache and
INFO in one pipelined round trip per poll. Against a live server it only
reads: every command goes through a read-only allowlist.

Keys are discovered with SCAN (never KEYS) and channels with PSUBSCRIBE,
unless --assets names them. A lost server is retried by itself; the state
is shown.

With --demo it runs the whole QuFLX pipeline in this process: a simulated
feed writing as the QuFLX producers do, the batch flusher, and a SQLite
store, against an embedded Redis unless a server is given on the command
line (then it writes to it).`

const rootExamples = `quflx-tui --demo                           everything in-process
quflx-tui                                  watch localhost:6379
quflx-tui -h trading-box --assets EURUSD_otc,USDJPY_otc
quflx-tui --env-file /opt/quflx/.env.redis
quflx-tui --profile quflx-v2 -h trading-box  QuFLX v2: pub/sub only
quflx-tui --redis rediss://monitor:pw@cache.internal:6380/1 --cacert ca.pem
quflx-tui feed --replay EURUSD_otc_ticks.csv --speed 10 --loop
quflx-tui flush --store postgres://quflx:pw@db.supabase.co/postgres
quflx-tui status --json --max-fill 0.8 || alert "QuFLX degraded"`

const feedShort = "simulate or replay ticks, writing them as a QuFLX producer does"

const feedLong = `The simulator, or a replay of recorded CSVs, writing ticks into Redis
exactly as a QuFLX producer does: pushed onto the asset's tick buffer,
trimmed to its cap, and published on the asset's channel. Synthetic prices
revert to a mean, with bursts now and then; the same --seed gives the same
prices (each run picks a new seed unless told, and prints it).

It waits up to 30s for Redis at start (a failover, a network blip), stops
cleanly on SIGINT or SIGTERM and prints a closing summary.`

const feedExamples = `quflx-tui feed --assets 10 --rate 50
quflx-tui feed --replay EURUSD_otc_ticks.csv --speed 10 --loop
quflx-tui feed --replay ZARUSD_otc_ticks_timeonly.csv --date 2025-10-04`

const flushShort = "move buffered ticks into a store, none lost or duplicated"

const flushLong = `The batch flusher: moves buffered ticks into SQLite or PostgreSQL without
losing or duplicating one, and makes a last flush on SIGINT or SIGTERM.
A claim renames a buffer to a key of its own, so the producers' LTRIM
cannot reach claimed ticks however long the store is down; the store
records each claim's progress in the same transaction as its ticks, so a
replay after a crash, or a second flusher, never writes a tick twice. Any
number of flushers may share one Redis.

It brings the store's schema to this version's on start (QuFLX's own
tables included), waits up to 30s for Redis at start, and exits 1 when its
last attempt failed or claims are left: a flusher that could not do its
job never looks like one that had nothing to do.`

const flushExamples = `quflx-tui flush --store sqlite:quflx.db
quflx-tui flush --store postgres://quflx:pw@db.supabase.co/postgres
quflx-tui flush --store "$DATABASE_URL" --duration 1h --json`

const statusShort = "print a snapshot of the pipeline; the exit status is its health"

const statusLong = `One snapshot of the pipeline (server, buffers, caches, flusher, health) as
aligned text, or as one JSON object (schema 1) with --json. The exit
status is the health: 0 healthy; 1 degraded (a stale feed, a buffer above
--max-fill of its cap, a flusher without a heartbeat, an expired cache
key); 2 unreachable or misconfigured. The reasons are listed.

With --profile quflx-v2 (pub/sub only: no buffers, cache or flusher) it
listens to pub/sub for --listen (6s) first and judges from what it heard:
each service's heartbeat (disconnected, or older than --heartbeat-stale),
the feeds' ticks on market_data.`

const statusExamples = `quflx-tui status
quflx-tui status --json | jq .health
quflx-tui status --watch 2s
quflx-tui status --profile quflx-v2 --expect-services collector,scanner
quflx-tui status --json --max-fill 0.8 || alert "QuFLX degraded"`

const serveShort = "serve the dashboard over SSH, one watch shared by every viewer"

const serveLong = `An SSH server that shows each session its own dashboard (its own size,
focus, timeframe and colours: the profile from the TERM and NO_COLOR the
client sends, and with --theme auto the theme from that terminal's
background) over one watch of Redis: one subscriber, one poller and a
fixed few connections, however many people look. A viewer needs no
account on the box and runs nothing there: ssh -p 23234 trading-box.

Only the public keys in --authorized-keys get in (re-read at each login,
so adding a key needs no restart); passwords and everything else are
refused. The host key is generated at --host-key on first start and kept;
its fingerprint is logged. The server only reads, as the dashboard does:
no --fill-cache, and --store is opened read-only. No shell, command,
forwarding or subsystem is offered.

q or ctrl+c ends that session only. A session without input (a key, the
mouse, a resize) for --idle-timeout is closed; one past --max-sessions is
refused with a line saying so. SIGINT or SIGTERM closes every session
cleanly, each terminal restored, and stops the server. Sessions are logged
on stderr.`

const serveExamples = `quflx-tui serve --authorized-keys ~/.ssh/authorized_keys
quflx-tui serve --listen :23234 --authorized-keys /etc/quflx/viewers \
    --env-file /opt/quflx/.env.redis
quflx-tui serve --demo --authorized-keys viewers   # ssh -p 23234 localhost`

const mcpShort = "serve QuFLX's thirteen Redis tools to an MCP client on stdio"

const mcpLong = `An MCP server on stdio with QuFLX's Redis tools, under QuFLX's names and
arguments: redis_ping, redis_get, redis_keys, redis_info, redis_llen,
redis_lrange, quflx_monitor_buffers, quflx_monitor_cache and
quflx_get_performance_metrics; with --allow-writes also redis_set,
redis_del, redis_lpush and redis_ltrim. Results are bounded in size and
time. It logs only to stderr.`

const mcpExamples = `quflx-tui mcp --env-file /opt/quflx/.env.redis`

const migrateShort = "bring a store's schema to this version's"

const migrateLong = `Brings a store's schema to this version's (QuFLX's own tables included:
its (pair, timestamp) key is replaced); the flusher does the same on
start. Nothing else ever changes a store's schema: the dashboard's --store
is opened read-only. It reads no Redis settings.`

const migrateExamples = `quflx-tui migrate --store sqlite:quflx.db
quflx-tui migrate --store postgres://quflx:pw@db.supabase.co/postgres`

const completionShort = "print the shell completion script for bash, zsh or fish"

const completionLong = `Prints a completion script for bash, zsh or fish. Commands and flags
complete, and so do the values of --producer, --cluster, --redis and
--store, and file names for the flags that take a file.`

const completionExamples = `source <(quflx-tui completion bash)             # bash, this shell
quflx-tui completion zsh > "${fpath[1]}/_quflx-tui"
quflx-tui completion fish > ~/.config/fish/completions/quflx-tui.fish`

const manShort = "print the manual page, every command included, as roff"

const manLong = `Prints quflx-tui's manual page, with every command and flag, as roff.`

const manExamples = `quflx-tui man | man -l -
quflx-tui man > /usr/local/share/man/man1/quflx-tui.1`

// section is a part of the manual besides the commands and their flags.
type section struct {
	title string
	body  string
	pre   bool   // a table: kept as written in the man page
	group string // shown in the help after this group's flags instead of on its own
}

// manualSections follow the root command's flags, in the help and the man page.
var manualSections = []section{
	{title: "PRECEDENCE", group: groupConnection, body: `Precedence: flags, then the config file's profile chosen with
--connection, then environment, then --env-file, then the config file, then
localhost:6379. A URL sets everything it names; host, port, db, user and
password given at the same or a higher level override its parts.`},
	{title: "KEY PATTERNS", group: groupKeys, body: `Patterns hold {asset} and {timeframe}; other braces are literal, so
cluster hash tags work: --tick-key 'ticks:{{asset}}'.`},
	{title: "KEYS IN THE DASHBOARD", pre: true, body: `tab, shift+tab  move focus        j/k, arrows   select, scroll
enter           chart the asset   1-5           1m 5m 15m 1h 4h
/               filter            s             sort
p               freeze display    ?             all keys
[, ]            group tabs        q, ctrl+c     quit

The config file's [keys] remaps them (quflx-tui config print lists the
actions); ctrl+c always quits.`},
	{title: "ENVIRONMENT", pre: true, body: `REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD, REDIS_USERNAME
                     connection, as QuFLX's producers read it
NO_COLOR             no colours in the output
XDG_CONFIG_HOME      where the config file is (quflx-tui/config.toml in it)
COLORFGBG            the terminal's colours, for --theme auto when it does
                     not answer`},
	{title: "EXIT STATUS", pre: true, body: `0  stopped normally (q, Ctrl-C, SIGTERM); status: healthy
1  failed while running; status: degraded
2  bad command line or configuration, or the server is unreachable`},
}

const configShort = "show where the config file is, and the configuration it makes"

const configLong = `The config file holds anything a flag can say, in TOML: a top-level key is
a flag's name and applies to every command that has the flag; a command's
own section ([dashboard], [feed], [flush], [status], [mcp], [migrate])
applies to it alone; [connections.NAME] is a connection profile, chosen
with --connection NAME (or connection = "NAME" in the file). Flags given
on the command line override the file; the environment's REDIS_* override
its connection, a profile chosen with --connection overrides the
environment. A list flag takes an array. [keys] remaps the dashboard's
keys (action = "key" or ["key", ...]), [[watchlist.groups]] (name, assets)
are the watchlist's tabs.

The file is $XDG_CONFIG_HOME/quflx-tui/config.toml, else ~/.config/quflx-
tui/config.toml, or the one --config FILE names. A file that holds a
secret (a password, a URL with one) must be readable by its owner alone
(chmod 600), or it is refused.

config path prints the path; config print the effective configuration as
TOML, secrets redacted.`

const configExamples = `quflx-tui config path
quflx-tui config print
quflx-tui --config ./staging.toml config print`
