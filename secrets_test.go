package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/store/storetest"
)

// secret is the password every path below is given; it must never be printed.
const secret = "S3cretPW-q7Zx"

// leaks reports where the secret (as written or URL-encoded) appears.
func leaks(texts map[string]string) []string {
	var where []string
	for name, text := range texts {
		if strings.Contains(text, secret) || strings.Contains(text, url.QueryEscape(secret)) {
			where = append(where, name)
		}
	}
	return where
}

// Every failing path with a known password, and the working ones that show where they
// are connected: the password never appears in stdout, stderr or the log.
func TestSecretsAreNeverShown(t *testing.T) {
	plain := redistest.Real(t)
	locked := redistest.Real(t, "--requirepass", secret)
	lockedPort := strconv.Itoa(locked.Port)
	pg := storetest.PostgresURL(t)
	pgWithPW := strings.Replace(pg, "postgres://postgres@", "postgres://postgres:"+secret+"@", 1) // trust auth ignores it
	dir := t.TempDir()
	envFile := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	logFile := filepath.Join(dir, "quflx.log")
	configFile := func(name, body string, perm os.FileMode) string {
		path := envFile(name, body)
		if err := os.Chmod(path, perm); err != nil {
			t.Fatal(err)
		}
		return path
	}
	withSecrets := configFile("config.toml", "password = \""+secret+"\"\nport = "+lockedPort+"\n[flush]\nstore = \""+
		pgWithPW+"\"\n[connections.wrong]\nredis = \"redis://:"+secret+"-wrong@"+locked.Addr+"\"\n", 0o600)
	sent := redistest.RealSentinel(t, redistest.SentinelOptions{Password: secret, SentinelPassword: secret})
	viaSentinel := []string{"--sentinel", sent.Sentinel.Addr, "--master-name", sent.Name, "-a", secret}

	cases := []struct {
		name string
		env  []string
		args []string
	}{
		{"unreachable server, password in the URL", nil, []string{"status", "--redis", "redis://u:" + secret + "@127.0.0.1:1/0"}},
		{"malformed URL (bad port)", nil, []string{"status", "--redis", "redis://u:" + secret + "@h:notaport/0"}},
		{"malformed URL (bad db)", nil, []string{"status", "--redis", "redis://u:" + secret + "@127.0.0.1/x"}},
		{"malformed URL (unknown parameter)", nil, []string{"status", "--redis", "redis://:" + secret + "@127.0.0.1/0?bogus=1"}},
		{"malformed URL in REDIS_URL", []string{"REDIS_URL=redis://:" + secret + "@h:p0rt"}, []string{"status"}},
		{"REDIS_PASSWORD, unreachable", []string{"REDIS_PASSWORD=" + secret, "REDIS_PORT=1"}, []string{"status"}},
		{"wrong password", nil, []string{"status", "-p", lockedPort, "-a", secret + "-wrong"}},
		{"env file with a broken line", nil, []string{"status", "--env-file",
			envFile("broken.env", "REDIS_PASSWORD=\""+secret+"\nREDIS_HOST=x\n")}},
		{"env file with a malformed URL", nil, []string{"status", "--env-file",
			envFile("url.env", "REDIS_URL=redis://:"+secret+"@h:bad/0\n")}},
		{"status text, reachable with the password", nil, []string{"status", "--redis", "redis://:" + secret + "@" + locked.Addr}},
		{"status JSON, reachable with the password", nil, []string{"status", "--json", "--redis", "redis://:" + secret + "@" + locked.Addr}},
		{"feed, unreachable", nil, []string{"feed", "--redis", "redis://:" + secret + "@127.0.0.1:1", "--count", "1", "--duration", "1s"}},
		{"flush, unreachable store", nil, []string{"flush", "--redis", "redis://" + plain.Addr,
			"--store", "postgres://u:" + secret + "@127.0.0.1:1/db", "--duration", "1s"}},
		{"flush, malformed store DSN", nil, []string{"flush", "--redis", "redis://" + plain.Addr,
			"--store", "postgres://u:" + secret + "@h:notaport/db", "--duration", "1s"}},
		{"flush, sslpassword in the DSN", nil, []string{"flush", "--redis", "redis://" + plain.Addr,
			"--store", "postgres://u@127.0.0.1:1/db?sslpassword=" + secret, "--duration", "1s"}},
		{"flush, '#' in the store password (libpq takes it, url.Parse does not)", nil, []string{"flush",
			"--redis", "redis://" + plain.Addr, "--store", strings.Replace(pgWithPW, ":"+secret+"@", ":pw#"+secret+"@", 1),
			"--duration", "1s"}},
		{"flush, '?' in the store password", nil, []string{"flush", "--redis", "redis://" + plain.Addr,
			"--store", "postgres://u:pw?" + secret + "@127.0.0.1:1/db", "--duration", "1s"}},
		{"'/' in a Redis password", nil, []string{"status", "--redis", "redis://u:ab/" + secret + "@127.0.0.1:1"}},
		{"'#' in a Redis password", nil, []string{"status", "--redis", "redis://u:ab#" + secret + "@127.0.0.1:6379"}},
		{"single-slash Redis URL", nil, []string{"status", "--redis", "redis:/u:" + secret + "@host:x"}},
		{"flush, unsupported store", nil, []string{"flush", "--redis", "redis://" + plain.Addr,
			"--store", "mysql://u:" + secret + "@h/db"}},
		{"flush, working, with its log and JSON", nil, []string{"flush", "--redis", "redis://:" + secret + "@" + locked.Addr,
			"--store", pgWithPW, "--duration", "2s", "--json"}},
		{"dashboard, unreachable read-only store", nil, []string{"--redis", "redis://" + plain.Addr,
			"--store", "postgres://u:" + secret + "@127.0.0.1:1/db"}},
		{"demo with a store and a log file", nil, []string{"--demo", "--no-ui", "--duration", "3s",
			"--store", pgWithPW, "--log", logFile}},
		{"mcp, unreachable (stdin closes at once)", nil, []string{"mcp", "--redis", "redis://:" + secret + "@127.0.0.1:1"}},
		{"config print of a file with passwords", nil, []string{"--config", withSecrets, "config", "print"}},
		{"status with the config file's password", nil, []string{"--config", withSecrets, "status"}},
		{"status with a profile's wrong password", nil, []string{"--config", withSecrets, "status", "--connection", "wrong"}},
		{"a config file others may read", nil, []string{"--config", configFile("open.toml", "password = \""+secret+"\"\n", 0o644), "status"}},
		{"a config file that is not TOML on the password's line", nil, []string{"--config",
			configFile("broken.toml", "fps = 3\npassword = \""+secret+"\" \""+secret+"\"\n", 0o600), "status"}},
		{"a config file with a bad value after a password", nil, []string{"--config",
			configFile("badvalue.toml", "redis = \"redis://:"+secret+"@h:1/0\"\nport = \""+secret+"\"\n", 0o600), "status"}},
		{"--sentinel-password, unreachable Sentinel", nil, []string{"status", "--sentinel", "127.0.0.1:1", "--master-name",
			"m", "--sentinel-password", secret}},
		{"REDIS_SENTINEL_PASSWORD, wrong", []string{"REDIS_SENTINEL_PASSWORD=" + secret + "-wrong"},
			append([]string{"status"}, viaSentinel...)},
		{"status JSON through Sentinel, both passwords right", []string{"REDIS_SENTINEL_PASSWORD=" + secret},
			append([]string{"status", "--json"}, viaSentinel...)},
		{"dashboard --no-ui through Sentinel", nil, append([]string{"--no-ui", "--duration", "2s", "--sentinel-password",
			secret}, viaSentinel...)},
		{"feed through Sentinel, wrong Sentinel password", nil, append([]string{"feed", "--count", "1", "--duration", "2s",
			"--sentinel-password", secret + "-wrong"}, viaSentinel...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := run(t, append(c.env, "XDG_CACHE_HOME="+dir), c.args...)
			log, _ := os.ReadFile(logFile)
			if where := leaks(map[string]string{"stdout": out, "stderr": errOut, "log": string(log)}); len(where) > 0 {
				t.Fatalf("the password is shown in %v (exit %d):\nstdout: %s\nstderr: %s\nlog: %s", where, code, out, errOut, log)
			}
		})
	}

	// The working Sentinel paths above did work (else the test would prove little).
	t.Run("through Sentinel, working", func(t *testing.T) {
		out, errOut, code := run(t, []string{"REDIS_SENTINEL_PASSWORD=" + secret}, append([]string{"status", "--json"}, viaSentinel...)...)
		if code == 2 || !strings.Contains(out, `"mode":"sentinel"`) || !strings.Contains(out, `"master":"`+sent.Master.Addr+`"`) {
			t.Fatalf("status through Sentinel: exit %d\n%s\n%s", code, out, errOut)
		}
		out, errOut, code = run(t, nil, append([]string{"status", "--sentinel-password", secret + "-wrong"}, viaSentinel...)...)
		if code != 2 || !strings.Contains(out+errOut, "WRONGPASS") && !strings.Contains(out+errOut, "invalid") {
			t.Fatalf("a wrong Sentinel password: exit %d\n%s\n%s", code, out, errOut)
		}
	})

	// What a running flusher published (its store's DSN among it), as status and as MCP
	// results: the flusher above with a password in its DSN left its status in Redis.
	t.Run("published status and MCP results", func(t *testing.T) {
		fl, _, flErr := startCmd(t, nil, "flush", "--redis", "redis://:"+secret+"@"+locked.Addr, "--store", pgWithPW)
		waitOutput(t, flErr, "moving buffers", 10*time.Second)
		time.Sleep(1500 * time.Millisecond) // a heartbeat
		defer func() { _ = fl.Process.Signal(syscall.SIGTERM); _ = fl.Wait() }()
		ctx := context.Background()
		cmd := exec.Command(binary, "mcp", "--redis", "redis://:"+secret+"@"+locked.Addr)
		cmd.Env = cleanEnv()
		var stderr syncBuffer
		cmd.Stderr = &stderr
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "quflx-test", Version: "1"}, nil).
			Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		texts := map[string]string{"flusher stderr": flErr.String()}
		for _, tool := range []string{"quflx_get_performance_metrics", "redis_info", "redis_ping", "quflx_monitor_buffers"} {
			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: map[string]any{}})
			if err != nil {
				t.Fatalf("%s: %v", tool, err)
			}
			b, _ := json.Marshal(res)
			texts[tool] = string(b)
		}
		if !strings.Contains(texts["quflx_get_performance_metrics"], "postgres://postgres@") {
			t.Fatalf("the metrics do not show the flusher's store at all: %s", texts["quflx_get_performance_metrics"])
		}
		texts["mcp stderr"] = stderr.String()
		if where := leaks(texts); len(where) > 0 {
			t.Fatalf("the password is shown in %v: %v", where, texts)
		}
	})
}
