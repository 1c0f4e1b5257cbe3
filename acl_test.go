package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/cli"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// readmeACLs returns the ACL SETUSER commands the README gives, as argument lists.
func readmeACLs(t *testing.T) map[string][]any {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]any{}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "redis-cli ACL SETUSER ")
		if !ok {
			continue
		}
		args := []any{"ACL", "SETUSER"}
		for _, word := range shellWords(rest) {
			args = append(args, word)
		}
		out[args[2].(string)] = args
	}
	if len(out) != 2 {
		t.Fatalf("the README gives %d ACL users, want the monitor's and the flusher's", len(out))
	}
	return out
}

// shellWords splits a line as sh does for words and single quotes (all the README uses).
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// The README's two Redis users are enough for every feature it promises each role, and
// the monitor's cannot write.
func TestREADMEACLs(t *testing.T) {
	srv := redistest.Real(t)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	for user, args := range readmeACLs(t) {
		for i, a := range args {
			if s, ok := a.(string); ok && strings.HasPrefix(s, ">") {
				args[i] = ">" + user + "-pw"
			}
		}
		if err := admin.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("README's ACL for %s: %v", user, err)
		}
	}
	monitor := "redis://quflx-monitor:quflx-monitor-pw@" + srv.Addr
	flusherURL := "redis://quflx-flusher:quflx-flusher-pw@" + srv.Addr
	admin.Do(ctx, "ACL", "LOG", "RESET")

	// The flusher role: a feed (any producer) and a flusher under the ACL lose nothing.
	dir := t.TempDir()
	feed, feedOut, _ := startCmd(t, nil, "feed", "--redis", "redis://"+srv.Addr, "--assets", "3", "--rate", "100",
		"--count", "3000", "--backfill", "2h", "--json")
	fl, flOut, flErr := startCmd(t, nil, "flush", "--redis", flusherURL, "--store", "sqlite:"+dir+"/q.db",
		"--flush-interval", "300ms", "--json")
	if err := feed.Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)

	// The monitor role, while the flusher runs: status, --no-ui and every MCP tool.
	statusOut, statusErr, code := run(t, nil, "status", "--json", "--redis", monitor)
	if code == 2 || strings.Contains(statusOut+statusErr, "NOPERM") || !strings.Contains(statusOut, `"flusher":{`) {
		t.Fatalf("status as the monitor: exit %d\n%s%s", code, statusOut, statusErr)
	}
	noUI, noUIErr, code := run(t, nil, "--no-ui", "--redis", monitor, "--poll", "500ms", "--duration", "2s")
	if code != 0 || !strings.Contains(noUI, "live") || strings.Contains(noUI+noUIErr, "NOPERM") {
		t.Fatalf("--no-ui as the monitor: exit %d\n%s%s", code, noUI, noUIErr)
	}
	cmd := exec.Command(binary, "mcp", "--redis", monitor)
	cmd.Env = cleanEnv()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for tool, args := range map[string]map[string]any{
		"redis_ping": {}, "redis_info": {}, "redis_keys": {"pattern": "ticks:*"},
		"redis_get": {"key": "historical:EURUSD_otc:1m"}, "redis_llen": {"key": "ticks:EURUSD_otc"},
		"redis_lrange": {"key": "ticks:EURUSD_otc", "start": 0, "stop": 5}, "quflx_monitor_buffers": {},
		"quflx_monitor_cache": {}, "quflx_get_performance_metrics": {},
	} {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
		if err != nil || res.IsError {
			b, _ := json.Marshal(res)
			t.Fatalf("%s as the monitor: %v %s", tool, err, b)
		}
	}

	_ = fl.Process.Signal(syscall.SIGTERM)
	if err := fl.Wait(); err != nil {
		t.Fatalf("flush as the flusher: %v\n%s", err, flErr.String())
	}
	var fed, flushed cli.Summary
	json.Unmarshal([]byte(feedOut.String()), &fed)
	json.Unmarshal([]byte(flOut.String()), &flushed)
	if fed.Produced != 3000 || flushed.Flushed != 3000 {
		t.Fatalf("fed %d, flushed %d under the flusher's ACL:\n%s", fed.Produced, flushed.Flushed, flErr.String())
	}

	// Nothing either role needed was refused; and the monitor cannot write.
	if log := admin.Do(ctx, "ACL", "LOG").Val(); log != nil && len(log.([]any)) > 0 {
		t.Fatalf("refused while working under the README's ACLs: %v", log)
	}
	mon := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "quflx-monitor", Password: "quflx-monitor-pw"})
	defer mon.Close()
	for _, write := range [][]any{{"SET", "ticks:X", "1"}, {"LPUSH", "ticks:X", "1"}, {"DEL", "ticks:EURUSD_otc"},
		{"EVAL", "return 1", "0"}, {"PUBLISH", "updates:X", "1"}, {"CONFIG", "SET", "maxmemory", "1"}, {"FLUSHALL"}} {
		if err := mon.Do(ctx, write...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("the monitor user could %v: %v", write, err)
		}
	}
}
