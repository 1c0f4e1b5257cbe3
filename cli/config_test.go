package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

func envOf(kv map[string]string) Env {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func TestConnectionPrecedence(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".env.redis")
	os.WriteFile(envFile, []byte("# QuFLX\nREDIS_HOST=file-host\nREDIS_PORT=7001\nREDIS_DB=1\nREDIS_PASSWORD='file pw'\n"), 0o600)
	urlFile := filepath.Join(dir, "url.env")
	os.WriteFile(urlFile, []byte("REDIS_URL=redis://u:urlpw@url-host:7100/4\n"), 0o600)

	cases := []struct {
		name         string
		args         []string
		env          map[string]string
		addr, pw     string
		user, source string
		db           int
	}{
		{"default", nil, nil, "localhost:6379", "", "", "default", 0},
		{"file", []string{"--env-file", envFile}, nil, "file-host:7001", "file pw", "", "env file " + envFile, 1},
		{"env over file", []string{"--env-file", envFile}, map[string]string{"REDIS_HOST": "env-host"},
			"env-host:7001", "file pw", "", "environment", 1},
		{"flag over env", []string{"--env-file", envFile, "-h", "flag-host", "-n", "3"},
			map[string]string{"REDIS_HOST": "env-host", "REDIS_PASSWORD": "env pw"}, "flag-host:7001", "env pw", "", "flag", 3},
		{"port flag keeps lower host", []string{"-p", "7002"}, map[string]string{"REDIS_HOST": "env-host"},
			"env-host:7002", "", "", "flag", 0},
		{"url in file, field in env", []string{"--env-file", urlFile}, map[string]string{"REDIS_DB": "9"},
			"url-host:7100", "urlpw", "u", "env file " + urlFile, 9},
		{"env url replaces file", []string{"--env-file", envFile}, map[string]string{"REDIS_URL": "redis://other:1234"},
			"other:1234", "", "", "environment", 0},
		{"flag url with flag overrides", []string{"--redis", "redis://a:b@h:1/2", "-a", "override", "--user", "ops"},
			map[string]string{"REDIS_URL": "redis://x:9"}, "h:1", "override", "ops", "flag", 2},
		{"socket", []string{"-s", "/run/r.sock", "-n", "5"}, nil, "/run/r.sock", "", "", "flag", 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse(c.args, envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			r := cfg.Redis
			if r.Addr != c.addr || r.Password != c.pw || r.Username != c.user || r.DB != c.db || cfg.RedisSource != c.source {
				t.Fatalf("got addr %s pw %q user %q db %d source %q", r.Addr, r.Password, r.Username, r.DB, cfg.RedisSource)
			}
		})
	}
}

func TestParseKeysAssetsAndTLS(t *testing.T) {
	cfg, err := Parse([]string{"--assets", "EURUSD_otc, USDJPY_otc,", "--tick-key", "t:{{asset}}",
		"--cache-key", "c:{asset}:{timeframe}", "--tls", "-h", "cache.example", "--poll", "500ms"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Assets, "|") != "EURUSD_otc|USDJPY_otc" || cfg.TickKey.Key("A", "") != "t:{A}" ||
		cfg.CacheKey.String() != "c:{asset}:{timeframe}" || cfg.Channel.String() != "updates:{asset}" {
		t.Fatalf("%+v", cfg)
	}
	if cfg.Redis.TLS == nil || cfg.Redis.TLS.ServerName != "cache.example" || cfg.PollInterval != 500*time.Millisecond {
		t.Fatalf("tls %+v poll %v", cfg.Redis.TLS, cfg.PollInterval)
	}
}

func TestParseErrorsAreOneLineUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--bogus"}, nil, "unknown flag: --bogus"},
		{[]string{"--bogus=S3cret"}, nil, "unknown flag: --bogus"},
		{[]string{"-p", "x"}, nil, "invalid value for -p, --port: want a whole number"},
		{[]string{"--poll", "5"}, nil, "invalid value for --poll: want a duration"},
		{[]string{"-p", "70000"}, nil, "port 70000 is out of range"},
		{[]string{"-n", "-1"}, nil, "must not be negative"},
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{[]string{"stauts"}, nil, "did you mean status?"},
		{[]string{"--redis", "http://x"}, nil, "redis URL"},
		{[]string{"--redis"}, nil, "flag needs an argument: --redis"},
		{nil, map[string]string{"REDIS_PORT": "abc"}, `REDIS_PORT="abc" in the environment is not a number`},
		{[]string{"--env-file", "/nonexistent/.env.redis"}, nil, "no such file"},
		{[]string{"--cache-key", "h:{asset}"}, nil, "has no {timeframe}"},
		// The dashboard takes a channel without {asset} (QuFLX v2); the flusher, which
		// counts per channel, does not; nor does a key pattern.
		{[]string{"flush", "--channel", "updates"}, nil, "has no {asset}"},
		{[]string{"--tick-key", "ticks"}, nil, "has no {asset}"},
		{[]string{"--demo", "--channel", "market_data"}, nil, "has no {asset}"},
		{[]string{"--profile", "quflx-v3"}, nil, "want quflx-v1 or quflx-v2"},
		{[]string{"--profile", "quflx-v2", "--channel", "system_status"}, nil, "also a heartbeat"},
		{[]string{"status", "--expect-services", "collector"}, nil, "needs heartbeat channels"},
		{[]string{"--cacert", "x.pem"}, nil, "need --tls"},
		{[]string{"--poll", "1ms"}, nil, "at least 100ms"},
		{[]string{"--no-ui", "extra"}, nil, "unexpected argument at position 2"},
		{[]string{"feed", "--", "x"}, nil, "unexpected argument at position 3: quflx-tui feed takes none"},
		// A flag that means nothing to a command is refused by it.
		{[]string{"status", "--rate", "5"}, nil, `--rate is not a flag of "quflx-tui status"`},
		{[]string{"mcp", "--store", "sqlite:x"}, nil, `--store is not a flag of "quflx-tui mcp"`},
		{[]string{"feed", "--poll", "2s"}, nil, `--poll is not a flag of "quflx-tui feed"`},
		{[]string{"migrate", "--redis", "redis://x"}, nil, `--redis is not a flag of "quflx-tui migrate"`},
		{[]string{"migrate", "-h", "x"}, nil, `-h is not a flag of "quflx-tui migrate"`},
		{[]string{"--allow-writes"}, nil, `--allow-writes is not a flag of "quflx-tui"`},
		{[]string{"--rate", "5"}, nil, "--rate needs --demo"},
		{[]string{"--lease", "5s"}, nil, "--lease needs --demo"},
		{[]string{"--fill-cache"}, nil, "it needs --store and no --demo"},
		{[]string{"--demo", "--rate", "0"}, nil, "--rate 0"},
		{[]string{"--fps", "0"}, nil, "--fps 0: want 1 to 60"},
		{[]string{"--ma", "20,50,100"}, nil, "--ma 20,50,100: 3 moving averages: at most 2"},
		{[]string{"--ma", "wma20"}, nil, `moving average "wma20": want a period`},
		{[]string{"status", "--max-fill", "7"}, nil, "--max-fill 7"},
		{[]string{"status", "--watch", "1ms"}, nil, "--watch 1ms"},
		{[]string{"feed", "--producer", "v3"}, nil, "--producer"},
		{[]string{"feed", "--date", "04/10/2025"}, nil, "want YYYY-MM-DD"},
		{[]string{"flush", "--store", "mysql://u:S3cret@h/db"}, nil, "want sqlite:PATH or postgres://"},
		{[]string{"flush", "--duration", "-1s"}, nil, "must not be negative"},
		{[]string{"migrate"}, nil, "migrate needs --store"},
		{[]string{"completion", "powershell"}, nil, "completion takes one shell"},
		{[]string{"man", "x"}, nil, "unexpected argument at position 2"},
		{[]string{"--sentinel", "h:26379"}, nil, "--sentinel needs --master-name"},
		{[]string{"status", "--master-name", "m"}, nil, "--master-name needs --sentinel"},
		{[]string{"--sentinel", "h", "--master-name", "m"}, nil, `--sentinel "h": want HOST:PORT`},
		{[]string{"--sentinel", "h:1", "--master-name", "m", "-s", "/run/r.sock"}, nil, "--sentinel and --socket"},
		{[]string{"flush", "--sentinel", "h:1", "--master-name", "m", "--cluster", "on"}, nil, "--sentinel and --cluster on"},
		{[]string{"--demo", "--sentinel", "h:1", "--master-name", "m"}, nil, "--demo runs a pipeline of its own"},
	} {
		_, err := Parse(c.args, envOf(c.env))
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") ||
			strings.Contains(err.Error(), "S3cret") {
			t.Errorf("Parse(%v, %v) = %v, want a one-line usage error containing %q", c.args, c.env, err, c.want)
		}
	}
}

// A password with a space in it, unquoted, leaves a stray word: the error says where it
// is, never what it is.
func TestStrayArgumentsAreNamedByPosition(t *testing.T) {
	for _, c := range []struct {
		args []string
		pos  string
	}{
		{[]string{"-a", "my", "pass"}, "position 3"},
		{[]string{"status", "-a", "my", "pass"}, "position 4"},
		{[]string{"-h", "x", "status", "-a", "my", "pass"}, "position 6"},
		{[]string{"--password=my", "pass"}, "position 2"},
		{[]string{"-amy", "pass"}, "position 2"},
		{[]string{"--tls", "pass"}, "position 2"},
		{[]string{"flush", "--user", "u", "-a", "Pass", "Word9"}, "position 6"},
	} {
		_, err := Parse(c.args, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), c.pos) || strings.Contains(err.Error(), "pass") ||
			strings.Contains(err.Error(), "Word9") {
			t.Errorf("Parse(%q) = %v, want the %s and no password", c.args, err, c.pos)
		}
	}
}

func TestEachCommandKeepsItsDefaults(t *testing.T) {
	for _, command := range []string{"", "feed", "flush", "status", "mcp"} {
		var args []string
		if command != "" {
			args = []string{command}
		}
		cfg, err := Parse(args, envOf(map[string]string{"QUFLX_FLUSH_PAUSE_AT": "after-claim"}))
		if err != nil {
			t.Fatalf("%q: %v", command, err)
		}
		want := defaults(command, envOf(map[string]string{"QUFLX_FLUSH_PAUSE_AT": "after-claim"}))
		if cfg.Command != command || cfg.Redis.Addr != "localhost:6379" || cfg.RedisSource != "default" ||
			cfg.TickKey.String() != "ticks:{asset}" || cfg.CacheKey.String() != "historical:{asset}:{timeframe}" ||
			cfg.MaxAssets != 500 || cfg.PollInterval != time.Second || cfg.DiscoverEvery != 15*time.Second ||
			cfg.FPS != 15 || cfg.Stale != 10*time.Second || !reflect.DeepEqual(cfg.Feed, want.Feed) || cfg.Flush != want.Flush ||
			cfg.Status != want.Status || cfg.Flush.PauseAt != "after-claim" || cfg.RedisNamed != nil {
			t.Errorf("%q: %+v", command, cfg)
		}
	}
	if d := defaults("", envOf(nil)); d.Feed.Rate != 4 || d.Feed.Producer != redisdata.ProducerV1 || !d.Feed.Bursts ||
		d.Flush.Interval != 30*time.Second || d.Flush.HighWater != 500 || d.Flush.MaxBacklog != 1_000_000 ||
		d.Status.Thresholds.Stale != time.Minute || d.Status.Thresholds.MaxFill != 0.9 {
		t.Fatalf("defaults %+v", d)
	}
}

func TestCommandSettings(t *testing.T) {
	parse := func(env map[string]string, args ...string) Config {
		t.Helper()
		cfg, err := Parse(args, envOf(env))
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return cfg
	}
	// The dashboard judges health with its own --stale; status has a default of its own.
	if cfg := parse(nil, "--stale", "5s"); cfg.Stale != 5*time.Second || cfg.Status.Thresholds.Stale != 5*time.Second {
		t.Errorf("dashboard --stale: %v %v", cfg.Stale, cfg.Status.Thresholds.Stale)
	}
	if cfg := parse(nil, "status", "--stale", "2m", "--max-fill", "0.5", "--no-flusher", "--json", "--watch", "1s"); cfg.Status.Thresholds.Stale != 2*time.Minute ||
		cfg.Status.Thresholds.MaxFill != 0.5 || !cfg.Status.Thresholds.NoFlusher || !cfg.JSON || cfg.Status.Watch != time.Second {
		t.Errorf("status: %+v", cfg.Status)
	}
	cfg := parse(nil, "--demo", "--rate", "9", "--producer", "v2", "--store", "sqlite:x.db", "--lease", "1s", "--duration", "3s")
	if !cfg.Demo || cfg.Feed.Rate != 9 || cfg.Feed.Producer != redisdata.ProducerV2 || cfg.Flush.Store != "sqlite:x.db" ||
		cfg.Flush.Lease != time.Second || cfg.Duration != 3*time.Second {
		t.Errorf("demo: %+v", cfg)
	}
	if cfg := parse(nil, "--ma", "ema20,50"); len(cfg.Averages) != 2 || cfg.Averages[0] != (model.MovingAverage{Kind: model.EMA, Period: 20}) ||
		cfg.Averages[1] != (model.MovingAverage{Kind: model.SMA, Period: 50}) {
		t.Errorf("--ma: %+v", cfg.Averages)
	}
	if cfg := parse(nil); cfg.Averages != nil {
		t.Errorf("no --ma: %+v", cfg.Averages)
	}
	if cfg := parse(nil, "--store", "sqlite:x.db", "--fill-cache"); !cfg.FillCache || cfg.Flush.Store != "sqlite:x.db" {
		t.Errorf("dashboard --store: %+v", cfg)
	}
	if cfg := parse(nil, "feed", "--date", "2025-10-04", "--count", "7", "--bursts=false", "--json"); cfg.Feed.Date.Day() != 4 ||
		cfg.Feed.Count != 7 || cfg.Feed.Bursts || !cfg.JSON {
		t.Errorf("feed: %+v", cfg.Feed)
	}
	if cfg := parse(nil, "mcp", "--allow-writes"); !cfg.AllowWrites || cfg.Command != "mcp" {
		t.Errorf("mcp: %+v", cfg)
	}
	// Flags may come before the command's name, as cobra allows.
	if cfg := parse(nil, "-h", "box", "status"); cfg.Command != "status" || cfg.Redis.Addr != "box:6379" {
		t.Errorf("flags first: %+v", cfg)
	}
	// migrate reads no Redis setting: a broken REDIS_URL cannot stop it.
	if cfg := parse(map[string]string{"REDIS_URL": "redis://:pw@h:notaport", "REDIS_PORT": "x"}, "migrate", "--store", "sqlite:x.db"); cfg.Command != "migrate" || cfg.Flush.Store != "sqlite:x.db" {
		t.Errorf("migrate: %+v", cfg)
	}
	// The hidden --cpuprofile, and QUFLX_CPUPROFILE as before.
	if cfg := parse(nil, "status", "--cpuprofile", "cpu.out"); cfg.CPUProfile != "cpu.out" {
		t.Errorf("--cpuprofile: %q", cfg.CPUProfile)
	}
	if cfg := parse(map[string]string{"QUFLX_CPUPROFILE": "env.out"}, "feed"); cfg.CPUProfile != "env.out" {
		t.Errorf("QUFLX_CPUPROFILE: %q", cfg.CPUProfile)
	}
	if cfg := parse(nil, "flush", "--version"); !cfg.ShowVersion {
		t.Error("--version")
	}
	if cfg := parse(nil, "status", "--help"); !cfg.ShowHelp {
		t.Error("--help")
	}
}

// What --demo may write to is what the command line alone names: the environment never
// makes the demo write anywhere.
// --sentinel gives the Sentinels and the master's name; the Sentinels' password comes from
// its flag or REDIS_SENTINEL_PASSWORD, the master's from the usual places; TLS checks each
// host under its own name.
func TestSentinelSettings(t *testing.T) {
	env := envOf(map[string]string{"REDIS_PASSWORD": "data-pw", "REDIS_SENTINEL_PASSWORD": "env-spw"})
	cfg, err := Parse([]string{"status", "--sentinel", "s1:26379, s2:26380", "--master-name", "mymaster", "--tls"}, env)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Redis
	if !reflect.DeepEqual(r.Sentinels, []string{"s1:26379", "s2:26380"}) || r.MasterName != "mymaster" ||
		r.Password != "data-pw" || r.SentinelPassword != "env-spw" || r.TLS == nil || r.TLS.ServerName != "" {
		t.Fatalf("options %+v", r)
	}
	if e := r.Endpoint(); !strings.Contains(e, "mymaster") || !strings.Contains(e, "s1:26379") || strings.Contains(e, "pw") {
		t.Fatalf("endpoint %q", e)
	}
	cfg, err = Parse([]string{"feed", "--sentinel", "s1:26379", "--master-name", "m", "--sentinel-password", "flag-spw",
		"--sentinel-user", "mon"}, env)
	if err != nil || cfg.Redis.SentinelPassword != "flag-spw" || cfg.Redis.SentinelUsername != "mon" {
		t.Fatalf("flag over env: %v %+v", err, cfg.Redis)
	}
}

// The Sentinels may live in the config file (keys are flag names), in a profile too; the
// Sentinels' password there makes the file a secret one.
func TestSentinelInTheConfigFile(t *testing.T) {
	path := writeConfig(t, "[connections.prod]\nsentinel = [\"s1:26379\", \"s2:26379\"]\nmaster-name = \"quflx\"\n"+
		"sentinel-password = \"spw\"\n", 0o600)
	cfg, err := parseWith(t, path, nil, "status", "--connection", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Redis; len(r.Sentinels) != 2 || r.MasterName != "quflx" || r.SentinelPassword != "spw" {
		t.Fatalf("options %+v", r)
	}
	open := writeConfig(t, "sentinel = [\"s1:26379\"]\nmaster-name = \"quflx\"\nsentinel-password = \"spw\"\n", 0o644)
	if _, err := parseWith(t, open, nil, "status"); err == nil {
		t.Fatal("a readable config file with the Sentinels' password was accepted")
	}
}

func TestRedisNamedIsTheCommandLinesAlone(t *testing.T) {
	env := envOf(map[string]string{"REDIS_HOST": "prod", "REDIS_PASSWORD": "envpw", "REDIS_DB": "3"})
	cfg, err := Parse([]string{"--demo"}, env)
	if err != nil || cfg.RedisNamed != nil || cfg.Redis.Addr != "prod:6379" {
		t.Fatalf("no server named: %v %+v", err, cfg.RedisNamed)
	}
	cfg, err = Parse([]string{"--demo", "-h", "lab", "-p", "7000", "--tls", "--cluster", "off"}, env)
	if err != nil || cfg.RedisNamed == nil {
		t.Fatalf("-h: %v", err)
	}
	if n := cfg.RedisNamed; n.Addr != "lab:7000" || n.Password != "" || n.DB != 0 || n.TLS == nil ||
		n.TLS.ServerName != "lab" || n.Cluster != redisdata.ClusterOff {
		t.Fatalf("named %+v", n)
	}
	if cfg.Redis.Password != "envpw" || cfg.Redis.DB != 3 {
		t.Fatalf("the connection still takes the environment: %+v", cfg.Redis)
	}
	if cfg, _ := Parse([]string{"--demo", "-p", "7000"}, env); cfg.RedisNamed != nil {
		t.Fatal("a port alone names no server")
	}
}

func TestMainExitStatuses(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"--version"}, &out, &errOut); code != 0 || !regexp.MustCompile(`^quflx-tui \S+`).MatchString(out.String()) {
		t.Fatalf("--version: %d %q", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"--help"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "NAME") {
		t.Fatalf("--help: %d", code)
	}
	errOut.Reset()
	if code := Main([]string{"--nope"}, &out, &errOut); code != 2 || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("bad flag: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := Main([]string{"status", "--watch", "1ms"}, &out, &errOut); code != 2 ||
		errOut.String() != "quflx-tui: --watch 1ms: want at least 100ms (see quflx-tui status --help)\n" {
		t.Fatalf("bad setting: %d %q", code, errOut.String())
	}
	errOut.Reset()
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.out")
	if code := Main([]string{"migrate", "--store", "sqlite:x", "--cpuprofile", path}, &out, &errOut); code != 2 ||
		!strings.HasPrefix(errOut.String(), "quflx-tui: cpu profile:") {
		t.Fatalf("cpu profile: %d %q", code, errOut.String())
	}
}

// rediss:// from the environment and -h on the command line: the certificate must be
// checked against the host dialled, not the URL's.
func TestTLSServerNameFollowsTheDialledHost(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "REDIS_URL" {
			return "rediss://:pw@cache.example.com:6380/0", true
		}
		return "", false
	}
	cfg, err := Parse([]string{"status", "-h", "other.internal"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.Addr != "other.internal:6380" || cfg.Redis.TLS == nil || cfg.Redis.TLS.ServerName != "other.internal" {
		t.Fatalf("addr %s, TLS %+v", cfg.Redis.Addr, cfg.Redis.TLS)
	}
}

// --insecure (or --cacert) with TLS from REDIS_URL and a host on the command line: the
// connection is TLS, and only the demo, which writes to the server the command line alone
// names, refuses.
func TestTLSFlagsWithTLSFromTheEnvironment(t *testing.T) {
	env := envOf(map[string]string{"REDIS_URL": "rediss://wrong.invalid:6380"})
	for _, args := range [][]string{{"status"}, {"--no-ui"}, {"feed"}} {
		cfg, err := Parse(append(args, "-h", "127.0.0.1", "--insecure"), env)
		if err != nil || cfg.Redis.TLS == nil || !cfg.Redis.TLS.InsecureSkipVerify || cfg.Redis.Addr != "127.0.0.1:6380" {
			t.Errorf("%v: %v %+v", args, err, cfg.Redis)
		}
	}
	if _, err := Parse([]string{"--demo", "-h", "127.0.0.1", "--insecure"}, env); err == nil ||
		!strings.Contains(err.Error(), "need --tls") {
		t.Errorf("--demo: %v", err)
	}
}

// --profile quflx-v2 sets the v2 topology; each part is its own flag too; quflx-v1, the
// default, is today's.
func TestProfiles(t *testing.T) {
	v1, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Channel.String() != "updates:{asset}" || v1.Topology.PubSubOnly || len(v1.Topology.sideChannels()) != 0 ||
		v1.Topology.Profile != ProfileV1 {
		t.Errorf("default: channel %q topology %+v, want v1's", v1.Channel, v1.Topology)
	}
	v2, err := Parse([]string{"--profile", "quflx-v2"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"system_status", "scan:heartbeat", "trading:signals", "strategy:regime", "alerts:dispatched"}
	if v2.Channel.String() != "market_data" || v2.Channel.HasAsset() || !v2.Topology.PubSubOnly ||
		!slices.Equal(v2.Topology.sideChannels(), want) {
		t.Errorf("v2: channel %q topology %+v", v2.Channel, v2.Topology)
	}
	if !v2.Status.Thresholds.NoFlusher {
		t.Error("v2 requires a flusher")
	}
	custom, err := Parse([]string{"--profile", "quflx-v2", "--channel", "md", "--heartbeat-channels", "hb",
		"--signal-channel", "", "--regime-channel", "rg", "--alerts-channel", "al", "--heartbeat-stale", "30s"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if custom.Channel.String() != "md" || !slices.Equal(custom.Topology.sideChannels(), []string{"hb", "rg", "al"}) ||
		custom.Status.Thresholds.ServiceStale != 30*time.Second {
		t.Errorf("overrides: channel %q topology %+v stale %v", custom.Channel, custom.Topology,
			custom.Status.Thresholds.ServiceStale)
	}
	st, err := Parse([]string{"status", "--profile", "quflx-v2", "--expect-services", "collector,scanner"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Listen != v2Listen || !slices.Equal(st.Topology.ExpectServices, []string{"collector", "scanner"}) {
		t.Errorf("status v2: listen %v expect %v", st.Status.Listen, st.Topology.ExpectServices)
	}
	st1, err := Parse([]string{"status"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if st1.Status.Listen != 0 {
		t.Errorf("status v1 listens %v, want 0 (today's one snapshot)", st1.Status.Listen)
	}
	// Heartbeats followed under v1 too: status listens for them.
	hb, err := Parse([]string{"status", "--heartbeat-channels", "system_status"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if hb.Status.Listen != v2Listen || hb.Topology.PubSubOnly || hb.Status.Thresholds.NoFlusher {
		t.Errorf("v1 with heartbeats: listen %v topology %+v", hb.Status.Listen, hb.Topology)
	}
	// A channel without {asset} is accepted without the profile too.
	if _, err := Parse([]string{"--channel", "market_data"}, noEnv); err != nil {
		t.Errorf("--channel market_data: %v", err)
	}
}

func noEnv(string) (string, bool) { return "", false }

// The config file takes --profile and its parts like any flag: a deployment's topology
// lives in the file, the command line still wins.
func TestProfileFromConfigFile(t *testing.T) {
	path := writeConfig(t, "profile = \"quflx-v2\"\n[status]\nexpect-services = [\"collector\"]\nheartbeat-stale = \"20s\"\n", 0o600)
	cfg, err := Parse([]string{"status", "--config", path}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Channel.String() != "market_data" || !cfg.Topology.PubSubOnly || cfg.Status.Listen != v2Listen ||
		!slices.Equal(cfg.Topology.ExpectServices, []string{"collector"}) || cfg.Status.Thresholds.ServiceStale != 20*time.Second {
		t.Errorf("from the file: channel %q topology %+v listen %v stale %v", cfg.Channel, cfg.Topology,
			cfg.Status.Listen, cfg.Status.Thresholds.ServiceStale)
	}
	// The command line's quflx-v1 wins (and then the file's expect-services needs
	// heartbeat channels it no longer has: refused, saying so).
	if _, err := Parse([]string{"status", "--config", path, "--profile", "quflx-v1"}, noEnv); err == nil ||
		!strings.Contains(err.Error(), "needs heartbeat channels") {
		t.Errorf("quflx-v1 over a file's expect-services: %v", err)
	}
	path = writeConfig(t, "profile = \"quflx-v2\"\n", 0o600)
	cfg, err = Parse([]string{"status", "--config", path, "--profile", "quflx-v1"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Channel.String() != "updates:{asset}" || cfg.Topology.PubSubOnly {
		t.Errorf("the command line's quflx-v1: channel %q topology %+v", cfg.Channel, cfg.Topology)
	}
}
