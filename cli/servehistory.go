package cli

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// serveBackend is the dashboard's backend in a session: the shared watch's readings, and
// chart history through the gate all the sessions share.
type serveBackend struct {
	backend
	gate *historyGate
}

func (b serveBackend) History(ctx context.Context, asset string, tf model.Timeframe) (redisdata.HistoryResult, error) {
	return b.gate.load(ctx, fmt.Sprintf("%s %s", asset, tf), func(ctx context.Context) (redisdata.HistoryResult, error) {
		return b.watch.History(ctx, asset, tf)
	})
}

func (b serveBackend) HistoryBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) (redisdata.HistoryResult, error) {
	return b.gate.load(ctx, fmt.Sprintf("%s %s <%d %d", asset, tf, before, limit), func(ctx context.Context) (redisdata.HistoryResult, error) {
		return b.watch.HistoryBefore(ctx, asset, tf, before, limit)
	})
}

// historyTimeout bounds a shared history lookup, as the dashboard bounds its own.
const historyTimeout = 5 * time.Second

// historyGate lets one chart-history lookup at a time through to Redis (or the store) for
// every session, and sessions that ask for the same chart at once share one: twenty
// viewers opening the server's first asset cost one GET on one connection.
type historyGate struct {
	turn chan struct{}
	same singleflight.Group
}

func newHistoryGate() *historyGate {
	return &historyGate{turn: make(chan struct{}, 1)}
}

// load runs lookup, named key, once for every session asking for key at the time.
func (g *historyGate) load(ctx context.Context, key string, lookup func(context.Context) (redisdata.HistoryResult, error)) (redisdata.HistoryResult, error) {
	done := g.same.DoChan(key, func() (any, error) {
		// The lookup serves every session waiting for it, not only the first one to ask:
		// it has its own deadline, not that session's.
		ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
		defer cancel()
		select {
		case g.turn <- struct{}{}:
		case <-ctx.Done():
			return redisdata.HistoryResult{}, fmt.Errorf("history %s: %w", key, ctx.Err())
		}
		defer func() { <-g.turn }()
		return lookup(ctx)
	})
	select {
	case r := <-done:
		res, _ := r.Val.(redisdata.HistoryResult)
		return res, r.Err
	case <-ctx.Done():
		return redisdata.HistoryResult{}, ctx.Err()
	}
}
