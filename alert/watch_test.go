package alert

import (
	"context"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// The runner on a watch session: health findings come with each reading, prices from the
// ticks the session aggregates, both judged in the runner's own goroutine.
func TestRunnerFollowsAWatch(t *testing.T) {
	m := redistest.Mini(t)
	c, err := redisdata.NewClient(redisdata.Options{Addr: m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	pattern := func(s string) model.KeyPattern {
		p, err := model.ParseKeyPattern(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	w := redisdata.NewWatch(c, redisdata.WatchOptions{TickKey: pattern("ticks:{asset}"), Channel: pattern("updates:{asset}"),
		CacheKey: pattern("historical:{asset}:{timeframe}"), Assets: []string{"EURUSD_otc"}, Subscribe: true,
		PollEvery: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := NewRunner(Options{Prices: []model.PriceRule{{Asset: "EURUSD_otc", Above: true, Level: 1.09, Text: "EURUSD_otc>1.09"}}})
	wake, stop := r.Wake()
	defer stop()
	w.Start(ctx)
	defer w.Close()
	r.Start(ctx, w)
	defer r.Close(time.Second)

	firing := func(rule string) bool {
		for _, f := range r.State().Firing {
			if f.Rule == rule {
				return true
			}
		}
		return false
	}
	waitFor(t, "the missing flusher's alert", 5*time.Second, func() bool { return firing(model.FindingNoFlusher) })
	<-wake
	price := 1.0850
	deadline := time.Now().Add(5 * time.Second)
	for !firing(model.RulePriceAbove) {
		if time.Now().After(deadline) {
			t.Fatalf("no price alert; state %+v", r.State())
		}
		payload := string(redisdata.AppendPayload(nil, model.Tick{Asset: "EURUSD_otc", Price: price, UnixMicro: time.Now().UnixMicro()}))
		m.Publish("updates:EURUSD_otc", payload)
		price += 0.001
		time.Sleep(20 * time.Millisecond)
	}
	if n := r.FiringCount(); n != 2 {
		t.Fatalf("FiringCount %d, want 2", n)
	}
	if st := r.State(); st.Firing[0].Rule != model.RulePriceAbove || *st.Firing[0].Value <= 1.09 {
		t.Fatalf("newest first: %+v", st.Firing)
	}
}
