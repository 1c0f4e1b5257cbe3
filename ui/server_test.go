package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/quflx/quflx-tui/redisdata"
)

// miniredisPoll is what a poll of the demo's embedded server holds: INFO gives clients and
// commands, Embedded.FillInfo adds uptime, pub/sub and the keyspace.
func miniredisPoll() *Poll {
	known := func(v int64) redisdata.Int { return redisdata.Int{V: v, Known: true} }
	return &Poll{At: fixedNow, Snapshot: &redisdata.Snapshot{At: fixedNow, Info: redisdata.Info{
		ConnectedClients: known(4), TotalCommands: known(5000), UptimeSeconds: known(30),
		PubSubChannels: known(8), PubSubPatterns: known(1), Keyspace: map[int]redisdata.DBKeys{0: {Keys: 57}},
	}}}
}

func redisPanelText(t *testing.T, info Info, p *Poll) string {
	t.Helper()
	opts, _ := fixtureOptions(2)
	opts.Info = info
	ctx := newFrameContext(opts.withDefaults())
	c := newRedisPanel(ctx)
	c.SetPoll(p)
	c.SetSize(44, 10)
	refresh(c)
	return ansi.Strip(c.View())
}

// The embedded server's panel shows the figures its own counters give, and says in one
// line what it lacks; a real server that does not report a figure is still named as such.
func TestRedisPanelSaysWhatTheServerLacks(t *testing.T) {
	embedded := redisPanelText(t, Info{Endpoint: "127.0.0.1:1", Mode: ModeDemo, Embedded: true}, miniredisPoll())
	for _, want := range []string{"clients 4", "pubsub 8ch 1pat", "keys 57", "embedded: no memory, hit rate, expiry"} {
		if !strings.Contains(embedded, want) {
			t.Errorf("embedded panel lacks %q:\n%s", want, embedded)
		}
	}
	if strings.Contains(embedded, "not reported") {
		t.Errorf("embedded panel:\n%s", embedded)
	}
	real := redisPanelText(t, Info{Endpoint: "10.0.0.1:6379", Mode: ModeReadOnly}, miniredisPoll())
	if !strings.Contains(real, "not reported by this server: memory") {
		t.Errorf("a server's missing figures not named:\n%s", real)
	}
}

// The header says which server the demo runs on.
func TestHeaderNamesTheDemosServer(t *testing.T) {
	for _, c := range []struct {
		info Info
		want string
	}{
		{Info{Endpoint: "127.0.0.1:1", Mode: ModeDemo, Embedded: true}, "127.0.0.1:1 (embedded)"},
		{Info{Endpoint: "127.0.0.1:2", Mode: ModeDemo, Throwaway: true}, "127.0.0.1:2 (throwaway)"},
	} {
		opts, _ := fixtureOptions(2)
		opts.Info = c.info
		ctx := newFrameContext(opts.withDefaults())
		h := newHeader(ctx)
		h.SetServer(miniredisPoll())
		h.SetSize(120, 1)
		refresh(h)
		if v := ansi.Strip(h.View()); !strings.Contains(v, c.want) {
			t.Errorf("header %q lacks %q", v, c.want)
		}
	}
}
