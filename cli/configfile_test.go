package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// writeConfig writes a config file with mode perm and returns its path.
func writeConfig(t *testing.T, text string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// parseWith parses args with the config file at path.
func parseWith(t *testing.T, path string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	return Parse(append([]string{"--config", path}, args...), envOf(env))
}

func TestConfigFileAppliedAndOverriddenByFlags(t *testing.T) {
	path := writeConfig(t, `
fps = 30
theme = "light"
stale = "20s"        # the dashboard's and status's
ascii = true

[status]
max-fill = 0.5
stale = "2m"

[flush]
flush-interval = "10s"

[dashboard]
rate = 9              # the demo's feed: no use without --demo, no error either
ma = "20,ema50"       # a flag added after the config file: no code for it
`, 0o644)
	cfg, err := parseWith(t, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Averages) != 2 || cfg.Averages[1].Period != 50 {
		t.Fatalf("ma from the file: %v", cfg.Averages)
	}
	if cfg.FPS != 30 || cfg.Theme != "light" || !cfg.ASCII || cfg.Stale != 20*time.Second || cfg.ConfigFile != path {
		t.Fatalf("from the file: fps %d theme %q ascii %v stale %v file %q", cfg.FPS, cfg.Theme, cfg.ASCII, cfg.Stale, cfg.ConfigFile)
	}
	cfg, err = parseWith(t, path, nil, "--fps", "12", "--theme", "dark", "--stale", "5s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FPS != 12 || cfg.Theme != "dark" || cfg.Stale != 5*time.Second || !cfg.ASCII {
		t.Fatalf("flags over the file: fps %d theme %q stale %v ascii %v", cfg.FPS, cfg.Theme, cfg.Stale, cfg.ASCII)
	}
	// A command's section ranks above the top level.
	st, err := parseWith(t, path, nil, "status")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Thresholds.MaxFill != 0.5 || st.Status.Thresholds.Stale != 2*time.Minute {
		t.Fatalf("status: %+v", st.Status.Thresholds)
	}
	fl, err := parseWith(t, path, nil, "flush", "--flush-interval", "5s")
	if err != nil || fl.Flush.Interval != 5*time.Second {
		t.Fatalf("flush: %v %v", fl.Flush.Interval, err)
	}
	if fl, _ = parseWith(t, path, nil, "flush"); fl.Flush.Interval != 10*time.Second {
		t.Fatalf("flush from its section: %v", fl.Flush.Interval)
	}
	// The demo's settings in the file apply with --demo.
	demo, err := parseWith(t, path, nil, "--demo")
	if err != nil || demo.Feed.Rate != 9 {
		t.Fatalf("--demo: rate %v %v", demo.Feed.Rate, err)
	}
	// No file at the default place is no error; the default place is XDG's, else HOME's.
	home := t.TempDir()
	if cfg, err := Parse(nil, envOf(map[string]string{"HOME": home})); err != nil || cfg.ConfigFile != "" || cfg.FPS != 15 {
		t.Fatalf("no file: %v %q", err, cfg.ConfigFile)
	}
	os.MkdirAll(filepath.Join(home, ".config", "quflx-tui"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "quflx-tui", "config.toml"), []byte("fps = 7\n"), 0o600)
	if cfg, err := Parse(nil, envOf(map[string]string{"HOME": home})); err != nil || cfg.FPS != 7 {
		t.Fatalf("~/.config: fps %d %v", cfg.FPS, err)
	}
	xdg := t.TempDir()
	os.MkdirAll(filepath.Join(xdg, "quflx-tui"), 0o700)
	os.WriteFile(filepath.Join(xdg, "quflx-tui", "config.toml"), []byte("fps = 8\n"), 0o600)
	if cfg, err := Parse(nil, envOf(map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg})); err != nil || cfg.FPS != 8 {
		t.Fatalf("XDG_CONFIG_HOME: fps %d %v", cfg.FPS, err)
	}
	if _, err := Parse([]string{"--config", filepath.Join(xdg, "none.toml")}, envOf(nil)); err == nil ||
		!strings.Contains(err.Error(), "no such file") {
		t.Fatalf("a missing --config: %v", err)
	}
}

func TestConfigListFlags(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	os.WriteFile(a, nil, 0o600)
	os.WriteFile(b, nil, 0o600)
	path := writeConfig(t, `assets = ["EURUSD_otc", "GBPUSD_otc"]
[feed]
replay = ["`+a+`", "`+b+`"]
`, 0o600)
	cfg, err := parseWith(t, path, nil)
	if err != nil || strings.Join(cfg.Assets, ",") != "EURUSD_otc,GBPUSD_otc" {
		t.Fatalf("assets %v %v", cfg.Assets, err)
	}
	feed, err := parseWith(t, path, nil, "feed")
	if err != nil || len(feed.Feed.Replay) != 2 || feed.Feed.Replay[1] != b {
		t.Fatalf("replay %v %v", feed.Feed.Replay, err)
	}
	// The command line's list replaces the file's.
	cfg, err = parseWith(t, path, nil, "--assets", "USDJPY_otc")
	if err != nil || strings.Join(cfg.Assets, ",") != "USDJPY_otc" {
		t.Fatalf("--assets over the file: %v %v", cfg.Assets, err)
	}
	// A comma-separated string is a list too; a list is no value for a one-value flag.
	path = writeConfig(t, "assets = \"A_otc,B_otc\"\n", 0o600)
	if cfg, err = parseWith(t, path, nil); err != nil || len(cfg.Assets) != 2 {
		t.Fatalf("assets as one string: %v %v", cfg.Assets, err)
	}
	path = writeConfig(t, "\nfps = [1, 2]\n", 0o600)
	if _, err = parseWith(t, path, nil); err == nil || !strings.Contains(err.Error(), "line 2: fps: takes one value, not a list") {
		t.Fatalf("a list for --fps: %v", err)
	}
}

func TestConfigConnectionProfiles(t *testing.T) {
	path := writeConfig(t, `
host = "file-host"
port = 7000

[connections.prod]
redis = "redis://ops:s3cret-pw@prod.example:6380/2"
cluster = "off"

[connections.local]
socket = "/run/redis.sock"
`, 0o600)
	env := map[string]string{"REDIS_HOST": "env-host"}
	for _, c := range []struct {
		name   string
		args   []string
		env    map[string]string
		addr   string
		source string
		named  bool
	}{
		{"the file", nil, nil, "file-host:7000", "config file", false},
		{"the environment over the file", nil, env, "env-host:7000", "environment", false},
		{"a chosen profile over the environment", []string{"--connection", "prod"}, env, "prod.example:6380",
			"connection prod", true},
		{"flags over the profile", []string{"--connection", "prod", "-h", "flag-host"}, env, "flag-host:6380", "flag", true},
		{"a socket profile", []string{"--connection", "local"}, nil, "/run/redis.sock", "connection local", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseWith(t, path, c.env, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Redis.Addr != c.addr || cfg.RedisSource != c.source || (cfg.RedisNamed != nil) != c.named {
				t.Fatalf("addr %s source %q named %v", cfg.Redis.Addr, cfg.RedisSource, cfg.RedisNamed != nil)
			}
		})
	}
	cfg, err := parseWith(t, path, nil, "status", "--connection", "prod")
	if err != nil || cfg.Redis.Password != "s3cret-pw" || cfg.Redis.DB != 2 || cfg.Redis.Cluster.String() != "off" {
		t.Fatalf("status with prod: %+v %v", cfg.Redis, err)
	}
	// The demo writes only where the command line says: a server the file names is not one.
	if cfg, err := parseWith(t, path, nil, "--demo"); err != nil || cfg.RedisNamed != nil {
		t.Fatalf("--demo took the file's server: %v", err)
	}
	// A profile the file chooses ranks as the file does.
	chosen := writeConfig(t, "connection = \"prod\"\n[connections.prod]\nhost = \"prod-host\"\n", 0o600)
	if cfg, err := parseWith(t, chosen, env); err != nil || cfg.Redis.Addr != "env-host:6379" {
		t.Fatalf("file's profile under the environment: %s %v", cfg.Redis.Addr, err)
	}
	if cfg, err := parseWith(t, chosen, nil); err != nil || cfg.Redis.Addr != "prod-host:6379" || cfg.RedisNamed != nil {
		t.Fatalf("file's profile: %s %v", cfg.Redis.Addr, err)
	}
	for _, c := range []struct {
		args []string
		file string
		want string
	}{
		{[]string{"--connection", "nope"}, path, "--connection nope: config file " + path + " has no [connections.nope] (it has local, prod)"},
		{nil, writeConfig(t, "\n\nconnection = \"x\"\n", 0o600), "line 3: connection: the file has no [connections.x]"},
		{nil, writeConfig(t, "[connections.a]\nconnection = \"b\"\n", 0o600), "line 2: connections.a.connection: a connection profile cannot choose another"},
		{nil, writeConfig(t, "[connections.a]\nhots = \"b\"\n", 0o600), "line 2: connections.a.hots: unknown key"},
	} {
		if _, err := parseWith(t, c.file, nil, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	// --connection completes to the file's profiles.
	if out, err := runConfig(t, nil, "__complete", "status", "--config", path, "--connection", ""); err != nil ||
		!strings.HasPrefix(out, "local\nprod\n") {
		t.Fatalf("completion: %q %v", out, err)
	}
	if _, err := Parse([]string{"--connection", "prod"}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "no config file") {
		t.Fatalf("--connection without a file: %v", err)
	}
}

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	const pw = "hunter2-very-secret"
	for _, c := range []struct{ text, want string }{
		{"fps = 30\n\nfpss = 31\n", "line 3: fpss: unknown key: no command has a flag --fpss"},
		{"fps = \"fast\"\n", "line 1: fps: want a whole number"},
		{"[dashbord]\nfps = 1\n", "line 1: dashbord: unknown section; the sections are dashboard, feed, flush, status, serve, mcp, migrate"},
		{"[flush]\nfps = 1\n", "line 2: flush.fps: quflx-tui flush has no flag --fps"},
		{"[dashboard]\nfps = 0\n", "line 2: --fps 0: want 1 to 60"},
		{"password = \"" + pw + "\nfps = 1\n", "line 1: password: "},
		{"password = \"" + pw + "\" x\n", "line 1: password: "},
		{"redis = \"redis://u:" + pw + "@h:1/0\" \"\n", "line 1: redis: "},
		{"help = true\n", "line 1: help: unknown key"},
		{"[keys]\nquit = \"ctrl+q\"\nhelp = \"q\"\nfreeze = \"j\"\n", "line 4: keys.freeze: key \"j\" is also bound to down"},
		{"[keys]\nquitt = \"x\"\n", "line 2: keys.quitt: unknown action"},
		{"[keys]\nquit = 3\n", "line 2: keys.quit: want a key name"},
		{"[[watchlist.groups]]\nname = \"a\"\nassets = [\"X\"]\n[[watchlist.groups]]\nname = \"b\"\nassets = []\n",
			"line 6: watchlist.groups[1].assets: want a list of asset names"},
		{"[[watchlist.groups]]\nassets = [\"X\"]\n", "line 1: watchlist.groups[0]: a group needs a name"},
		{"[watchlist]\ntabs = 1\n", "line 2: watchlist.tabs: unknown key"},
		{"theme = \"pink\"\n", "line 1: --theme pink: want auto, dark or light"},
		// Writes only when asked on the command line.
		{"[dashboard]\nfill-cache = true\n", "line 2: dashboard.fill-cache: --fill-cache makes quflx-tui write to Redis"},
		{"[mcp]\nallow-writes = true\n", "line 2: mcp.allow-writes: --allow-writes makes quflx-tui write to Redis"},
		{"fill-cache = true\n", "line 1: fill-cache: --fill-cache makes quflx-tui write"},
	} {
		path := writeConfig(t, c.text, 0o600)
		_, err := parseWith(t, path, nil)
		if err == nil || !strings.Contains(err.Error(), "config file "+path+", "+c.want) {
			t.Errorf("%q: %v\nwant %q", c.text, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "hunter") {
			t.Errorf("%q: the error shows the secret: %v", c.text, err)
		}
	}
}

func TestConfigWithASecretMustBePrivate(t *testing.T) {
	for _, c := range []struct {
		text   string
		perm   os.FileMode
		secret string // "" when it is accepted
	}{
		{"password = \"pw-123\"\n", 0o644, "password, line 1"},
		{"fps = 3\n[connections.prod]\nredis = \"redis://u:pw-123@h:1/0\"\n", 0o640, "connections.prod.redis, line 3"},
		{"[flush]\nstore = \"postgres://app:pw-123@db/quflx\"\n", 0o604, "flush.store, line 2"},
		{"[flush]\nstore = \"postgres://db/quflx?sslmode=require&password=pw-123\"\n", 0o660, "flush.store, line 2"},
		{"password = \"pw-123\"\n", 0o600, ""},
		{"redis = \"redis://h:1/0\"\nfps = 3\n", 0o644, ""}, // no secret: anyone may read it
		{"[flush]\nstore = \"sqlite:/var/lib/quflx.db\"\n", 0o644, ""},
	} {
		path := writeConfig(t, c.text, c.perm)
		_, err := parseWith(t, path, nil)
		if c.secret == "" {
			if err != nil {
				t.Errorf("%q %o: %v", c.text, c.perm, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "holds a secret ("+c.secret+")") ||
			!strings.Contains(err.Error(), "chmod 600 "+path) || strings.Contains(err.Error(), "pw-123") {
			t.Errorf("%q %o: %v", c.text, c.perm, err)
		}
	}
}

func TestConfigKeysAndWatchlistGroups(t *testing.T) {
	path := writeConfig(t, `
[keys]
quit = "ctrl+q"
next-group = ["n", "alt+right"]

[[watchlist.groups]]
name = "majors"
assets = ["EURUSD_otc", "GBPUSD_otc"]

[[watchlist.groups]]
name = "yen"
assets = ["USDJPY_otc"]
`, 0o600)
	cfg, err := parseWith(t, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys == nil || strings.Join(cfg.Keys.Quit.Keys(), ",") != "ctrl+q" ||
		strings.Join(cfg.Keys.NextGroup.Keys(), ",") != "n,alt+right" {
		t.Fatalf("keys %+v", cfg.Keys)
	}
	if len(cfg.Groups) != 2 || cfg.Groups[0].Name != "majors" || cfg.Groups[1].Assets[0] != "USDJPY_otc" {
		t.Fatalf("groups %+v", cfg.Groups)
	}
}

// runConfig runs `quflx-tui ARGS` with env and returns stdout, or the error.
func runConfig(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{env: envOf(env), run: runMode}
	_, err := a.execute(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func TestConfigPathAndPrint(t *testing.T) {
	xdg, home := t.TempDir(), t.TempDir()
	if out, err := runConfig(t, map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": home}, "config", "path"); err != nil ||
		out != filepath.Join(xdg, "quflx-tui", "config.toml")+"\n" {
		t.Fatalf("path with XDG_CONFIG_HOME: %q %v", out, err)
	}
	if out, _ := runConfig(t, map[string]string{"XDG_CONFIG_HOME": "relative", "HOME": home}, "config", "path"); out !=
		filepath.Join(home, ".config", "quflx-tui", "config.toml")+"\n" {
		t.Fatalf("path with HOME: %q", out)
	}
	path := writeConfig(t, `fps = 24
password = "s3cret-password"

[flush]
store = "postgres://app:db-s3cret@db.example/quflx"

[connections.prod]
redis = "redis://ops:prod-s3cret@prod.example:6380/0"
assets = ["EURUSD_otc"]

[connections.lab]
redis = "redis://ops:xy@lab.example:6380/0"

[keys]
quit = "ctrl+q"

[[watchlist.groups]]
name = "majors"
assets = ["EURUSD_otc"]
`, 0o600)
	if out, err := runConfig(t, nil, "--config", path, "config", "path"); err != nil || out != path+"\n" {
		t.Fatalf("path with --config: %q %v", out, err)
	}
	out, err := runConfig(t, nil, "config", "print", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret-password", "db-s3cret", "prod-s3cret", "ops:xy@"} {
		if strings.Contains(out, secret) {
			t.Fatalf("config print shows %q:\n%s", secret, out)
		}
	}
	var doc map[string]any
	if err := toml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("config print is not TOML: %v\n%s", err, out)
	}
	section := func(name string) map[string]any { m, _ := doc[name].(map[string]any); return m }
	if section("dashboard")["fps"] != int64(24) || section("dashboard")["password"] != "***" ||
		section("status")["fps"] != nil || section("flush")["store"] != "postgres://app:***@db.example/quflx" {
		t.Fatalf("sections: dashboard %v\nflush %v", section("dashboard"), section("flush"))
	}
	if section("feed")["rate"] != float64(4) || section("status")["stale"] != "1m0s" {
		t.Fatalf("defaults: feed %v status %v", section("feed")["rate"], section("status")["stale"])
	}
	prod, _ := section("connections")["prod"].(map[string]any)
	if prod["redis"] != "redis://ops:***@prod.example:6380/0" {
		t.Fatalf("profile: %v", prod)
	}
	if keys := section("keys"); keys["quit"].([]any)[0] != "ctrl+q" || keys["down"].([]any)[0] != "down" {
		t.Fatalf("keys %v", keys)
	}
	groups := section("watchlist")["groups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["name"] != "majors" {
		t.Fatalf("groups %v", groups)
	}
	if !strings.Contains(out, "fps = 24 # config file "+path+", line 1") {
		t.Fatalf("the value's place is not said:\n%s", out)
	}
	// An error in the file is config print's error too.
	bad := writeConfig(t, "fps = 1\nfpss = 2\n", 0o600)
	if _, err := runConfig(t, nil, "config", "print", "--config", bad); err == nil || !strings.Contains(err.Error(), "line 2: fpss") {
		t.Fatalf("config print of a bad file: %v", err)
	}
	if _, err := runConfig(t, nil, "config", "show"); err == nil {
		t.Fatal("config show")
	}
}

func TestThemeAutoFollowsTheBackground(t *testing.T) {
	known := func(dark bool) func() (bool, bool) { return func() (bool, bool) { return dark, true } }
	unknown := func() (bool, bool) { return false, false }
	for _, c := range []struct {
		theme  string
		detect func() (bool, bool)
		env    map[string]string
		dark   bool
	}{
		{"dark", known(false), nil, true},
		{"light", known(true), nil, false},
		{"auto", known(false), nil, false},
		{"auto", known(true), map[string]string{"COLORFGBG": "0;15"}, true},
		{"auto", unknown, map[string]string{"COLORFGBG": "0;15"}, false},
		{"auto", unknown, map[string]string{"COLORFGBG": "15;0"}, true},
		{"auto", unknown, map[string]string{"COLORFGBG": "0;default;7"}, false},
		{"auto", unknown, nil, true},
	} {
		if got := themeIsDark(c.theme, c.detect, envOf(c.env)); got != c.dark {
			t.Errorf("%s %v: dark %v", c.theme, c.env, got)
		}
	}
	// The terminal's answer, as a white, a black and a silent terminal give it.
	for _, c := range []struct {
		reply       string
		dark, known bool
	}{
		{"\x1b]11;rgb:ffff/ffff/ffff\x1b\\\x1b[?62;22c", false, true},
		{"\x1b]11;rgb:0000/0000/0000\x07\x1b[?1;2c", true, true},
		{"\x1b]11;rgb:fd/f6/e3\x07", false, true}, // Solarized light, two digits a channel; no DA1: the timeout
		{"\x1b[?1;2c", false, false},              // no OSC 11: known at once from DA1
		{"", false, false},                        // nothing: the timeout
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(c.reply)
		var asked bytes.Buffer
		dark, ok := queryBackground(r, &asked, 50*time.Millisecond)
		// Both answers were read: what the dashboard reads next is the next key.
		w.WriteString("k")
		if next := make([]byte, 8); func() string { n, _ := r.Read(next); return string(next[:n]) }() != "k" {
			t.Errorf("%q: the answers were left for the dashboard to read", c.reply)
		}
		r.Close()
		w.Close()
		if dark != c.dark || ok != c.known || !strings.HasPrefix(asked.String(), "\x1b]11;?") {
			t.Errorf("%q: dark %v known %v (asked %q)", c.reply, dark, ok, asked.String())
		}
	}
}

// The README's example file is a valid config file, and says what it seems to.
func TestReadmeConfigExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```toml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no TOML example in the README")
	}
	// The CA file is not on this machine: the profile without it.
	example = strings.Replace(example, "cacert = \"/etc/quflx/ca.pem\"", "", 1)
	path := writeConfig(t, example, 0o600)
	cfg, err := parseWith(t, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FPS != 20 || cfg.Redis.Addr != "localhost:6379" || len(cfg.Groups) != 2 || cfg.Keys == nil ||
		cfg.Keys.Quit.Keys()[0] != "ctrl+q" || len(cfg.Assets) != 4 {
		t.Fatalf("fps %d redis %s groups %v", cfg.FPS, cfg.Redis.Addr, cfg.Groups)
	}
	st, err := parseWith(t, path, nil, "status", "--connection", "prod")
	if err != nil || st.Redis.Addr != "trading-box:6380" || st.Status.Thresholds.Stale != 2*time.Minute || !st.Status.Thresholds.NoFlusher {
		t.Fatalf("status --connection prod: %s %+v %v", st.Redis.Addr, st.Status.Thresholds, err)
	}
	if fl, err := parseWith(t, path, nil, "flush"); err != nil || fl.Flush.Interval != 10*time.Second {
		t.Fatalf("flush: %v", err)
	}
}

// Over a stream (an SSH session's channel): the answer is read, and the keys typed
// around it, or after a silent terminal's timeout, still reach the dashboard.
func TestProbeBackgroundOverAStream(t *testing.T) {
	for _, c := range []struct {
		input       string
		dark, known bool
		keys        string
	}{
		{"j\x1b]11;rgb:ffff/ffff/ffff\x1b\\\x1b[?62;22ck", false, true, "jk"},
		{"\x1b]11;rgb:1e1e/1e1e/1e1e\x07\x1b[?1;2cq", true, true, "q"},
		{"\x1b[?1;2c?", false, false, "?"},
	} {
		in, feed := io.Pipe()
		go func() { feed.Write([]byte(c.input)); feed.Close() }()
		var asked bytes.Buffer
		dark, known, rest := probeBackground(in, &asked, time.Second)
		keys, _ := io.ReadAll(rest)
		if dark != c.dark || known != c.known || string(keys) != c.keys || asked.String() != backgroundQuery {
			t.Errorf("%q: dark %v known %v keys %q", c.input, dark, known, keys)
		}
	}
	// Silence: the timeout, and what comes later is still read.
	in, feed := io.Pipe()
	dark, known, rest := probeBackground(in, io.Discard, 30*time.Millisecond)
	go func() { feed.Write([]byte("late")); feed.Close() }()
	if keys, _ := io.ReadAll(rest); dark || known || string(keys) != "late" {
		t.Fatalf("silent: %v %v %q", dark, known, keys)
	}
}

// What the config file adds to starting a command: the README's example read, checked
// and applied to every command, against no file at all.
func BenchmarkParseWithConfigFile(b *testing.B) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		b.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "```toml\n")
	example, _, _ := strings.Cut(rest, "```")
	example = strings.Replace(example, "cacert = \"/etc/quflx/ca.pem\"", "", 1)
	path := filepath.Join(b.TempDir(), "config.toml")
	os.WriteFile(path, []byte(example), 0o600)
	for _, c := range []struct {
		name string
		args []string
	}{{"no file", nil}, {"README example", []string{"--config", path}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse(c.args, envOf(nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
