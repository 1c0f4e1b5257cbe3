package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/metrics/metricstest"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// throwawayAddr waits for the demo's "throwaway redis-server VERSION on ADDR" line.
func throwawayAddr(t *testing.T, errOut *syncBuffer) (version, addr string) {
	t.Helper()
	waitOutput(t, errOut, "throwaway redis-server", 10*time.Second)
	m := regexp.MustCompile(`throwaway redis-server (\S+) on (\S+),`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no throwaway server named:\n%s", errOut.String())
	}
	return m[1], m[2]
}

// With redis-server on the PATH the demo runs a throwaway one: INFO has a real server's
// figures (memory, persistence off), the monitor's line names its version, the demo's
// metrics are served, and the server and its directory are gone once the demo ends.
func TestDemoRunsAThrowawayRedisServer(t *testing.T) {
	redistest.RedisServerPath(t)
	cache := t.TempDir()
	cmd, out, errOut := startCmd(t, []string{"XDG_CACHE_HOME=" + cache}, "--demo", "--no-ui", "--assets", "3",
		"--flush-interval", "500ms", "--duration", "5s", "--metrics", "127.0.0.1:0")
	version, addr := throwawayAddr(t, errOut)
	if host, _, _ := strings.Cut(addr, ":"); host != "127.0.0.1" {
		t.Errorf("throwaway server on %s, not loopback", addr)
	}
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	text, err := c.Info(ctx, "server", "memory", "persistence").Result()
	if err != nil {
		t.Fatal(err)
	}
	var in redisdata.Info
	redisdata.ParseInfo(text, &in)
	if in.Version != version || !in.UsedMemory.Known || !strings.Contains(text, "aof_enabled:0") {
		t.Errorf("not a real server without persistence: version %q, memory %+v\n%s", in.Version, in.UsedMemory, text)
	}
	dirs, err := c.ConfigGet(ctx, "dir").Result()
	if err != nil || dirs["dir"] == "" {
		t.Fatalf("CONFIG GET dir: %v %v", dirs, err)
	}
	save, _ := c.ConfigGet(ctx, "save").Result()
	if save["save"] != "" {
		t.Errorf("the throwaway server saves: %q", save["save"])
	}
	metricsText := waitMetric(t, metricsAddr(t, errOut), "the demo's metrics", 4*time.Second, func(x string) bool {
		v, _ := metricstest.Value(x, "quflx_redis_up")
		return v == 1
	})

	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "redis "+version) {
		t.Errorf("the monitor did not show the server's version:\n%s", out.String())
	}
	if _, err := os.Stat(dirs["dir"]); !os.IsNotExist(err) {
		t.Errorf("the server's directory %s is left behind (%v)", dirs["dir"], err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("the throwaway server still answers after the demo ended")
	}
	for _, name := range []string{"quflx_feed_ticks_total", "quflx_flusher_rows_total", "quflx_redis_up"} {
		if _, ok := metricstest.Value(metricsText, name); !ok {
			t.Errorf("the demo's metrics lack %s", name)
		}
	}
	metricstest.Promtool(t, metricsText)
}

// The throwaway server dies with the demo, however the demo dies.
func TestDemosServerDiesWithIt(t *testing.T) {
	redistest.RedisServerPath(t)
	// Killed, the demo cannot remove the server's directory: it is left in the test's.
	tmp := t.TempDir()
	cmd, _, errOut := startCmd(t, []string{"XDG_CACHE_HOME=" + tmp, "TMPDIR=" + tmp}, "--demo", "--no-ui", "--assets", "2")
	_, addr := throwawayAddr(t, errOut)
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	text, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`process_id:(\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no process_id in INFO:\n%s", text)
	}
	pid, _ := strconv.Atoi(m[1])
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("redis-server %d outlived the demo killed with SIGKILL", pid)
		}
	}
}

// alive tells whether a process runs (a zombie waiting for its reaper does not).
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// "pid (comm) S ...": the state follows the last parenthesis.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}
