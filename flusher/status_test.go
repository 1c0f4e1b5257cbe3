package flusher

import (
	"context"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// A flusher is alive to readers from its start, not from its first check: a dashboard
// started with it (the demo's) called it dead on its first poll.
func TestStatusIsPublishedAtStart(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	// Checks an hour apart: only a status written before the first check can be read.
	f, _ := r.run(Options{CheckEvery: time.Hour, StatusEvery: time.Hour, Interval: time.Hour})
	waitFor(t, 10*time.Second, "a published status", func() bool {
		st, ok, err := redisdata.ReadFlusherStatus(context.Background(), r.redis, redisdata.DefaultFlusherStatusKey)
		return err == nil && ok && st.Instance == f.Status().Instance && st.State != "stopped"
	})
}
