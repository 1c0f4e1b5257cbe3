package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	flag "github.com/spf13/pflag"
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
		{[]string{"-p", "x"}, nil, `invalid argument "x"`},
		{[]string{"-p", "70000"}, nil, "port 70000 is out of range"},
		{[]string{"-n", "-1"}, nil, "must not be negative"},
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{[]string{"--redis", "http://x"}, nil, "redis URL"},
		{nil, map[string]string{"REDIS_PORT": "abc"}, `REDIS_PORT="abc" in the environment is not a number`},
		{[]string{"--env-file", "/nonexistent/.env.redis"}, nil, "no such file"},
		{[]string{"--cache-key", "h:{asset}"}, nil, "has no {timeframe}"},
		{[]string{"--channel", "updates"}, nil, "has no {asset}"},
		{[]string{"--cacert", "x.pem"}, nil, "need --tls"},
		{[]string{"--poll", "1ms"}, nil, "at least 100ms"},
		{[]string{"extra"}, nil, "unknown command"},
		{[]string{"--no-ui", "extra"}, nil, `unexpected argument "extra"`},
	} {
		_, err := Parse(c.args, envOf(c.env))
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%v, %v) = %v, want a one-line usage error containing %q", c.args, c.env, err, c.want)
		}
	}
}

func TestHelpDocumentsEveryFlagAndVariable(t *testing.T) {
	var v flagValues
	fs := newFlagSet(&v)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(helpText, "--"+f.Name) {
			t.Errorf("--help does not mention --%s", f.Name)
		}
		if f.Shorthand != "" && !strings.Contains(helpText, "-"+f.Shorthand+", --"+f.Name) {
			t.Errorf("--help does not mention -%s", f.Shorthand)
		}
	})
	for _, env := range []string{"REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD", "NO_COLOR", "EXIT STATUS"} {
		if !strings.Contains(helpText, env) {
			t.Errorf("--help does not mention %s", env)
		}
	}
	for i, line := range strings.Split(helpText, "\n") {
		if len([]rune(line)) > 80 {
			t.Errorf("help line %d is %d columns wide", i+1, len([]rune(line)))
		}
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
}
