package redisdata

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// MaxRecent bounds ReadRecent: the producers cap a buffer at 1000 ticks anyway, and a
// monitor must never read a whole list of unknown length.
const MaxRecent = 1000

// ListOrder is where a producer puts the newest tick of a buffer.
type ListOrder int

const (
	OrderUnknown     ListOrder = iota
	OrderNewestFirst           // producer v1: LPUSH, newest at index 0
	OrderNewestLast            // producer v2: RPUSH, newest at the end
)

func (o ListOrder) String() string {
	return [...]string{"unknown", "newest-first (LPUSH)", "newest-last (RPUSH)"}[o]
}

// RecentTicks is the newest part of a tick buffer.
type RecentTicks struct {
	Ticks []model.Tick // oldest first, in the order the producer pushed them
	Len   int64        // the buffer's whole length
	Order ListOrder    // how the producer writes this buffer, as detected
	Bad   int          // entries that failed to decode
}

// ReadRecent reads the newest n ticks (at most MaxRecent) of the buffer at key, in time
// order, whichever producer version wrote it. It reads both ends in one pipelined round
// trip and tells the producer's order from the timestamps at the two ends; ties (a
// one-element list, equal stamps) fall back to hint. asset names ticks without one.
func ReadRecent(ctx context.Context, c *Client, key, asset string, n int, hint ListOrder) (RecentTicks, error) {
	n = min(max(n, 1), MaxRecent)
	pipe := c.Pipeline()
	llen := pipe.LLen(ctx, key)
	head := pipe.LRange(ctx, key, 0, int64(n-1))
	tail := pipe.LRange(ctx, key, int64(-n), -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return RecentTicks{}, fmt.Errorf("read %s: %w", key, err)
	}
	var d model.Decoder
	now := time.Now().UnixMicro()
	decode := func(raw []string) ([]model.Tick, int) {
		out := make([]model.Tick, 0, len(raw))
		bad := 0
		for _, p := range raw {
			t, err := d.DecodeString(p, asset, now)
			if err != nil {
				bad++
				continue
			}
			out = append(out, t)
		}
		return out, bad
	}
	r := RecentTicks{Len: llen.Val()}
	headTicks, headBad := decode(head.Val())
	tailTicks, tailBad := decode(tail.Val())
	if len(headTicks) == 0 && len(tailTicks) == 0 {
		r.Bad = max(headBad, tailBad)
		return r, nil
	}
	r.Order = hint
	if len(headTicks) > 0 && len(tailTicks) > 0 {
		first, last := headTicks[0].UnixMicro, tailTicks[len(tailTicks)-1].UnixMicro
		switch {
		case first > last:
			r.Order = OrderNewestFirst
		case first < last:
			r.Order = OrderNewestLast
		}
	}
	if r.Order == OrderNewestLast {
		r.Ticks, r.Bad = tailTicks, tailBad
	} else {
		slices.Reverse(headTicks)
		r.Ticks, r.Bad = headTicks, headBad
	}
	return r, nil
}

// ListLengths returns LLEN of each key, in one pipelined round trip. A key that is not a
// list counts as 0.
func ListLengths(ctx context.Context, c *Client, keys []string) ([]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := c.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.LLen(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !isRedisError(err) {
		return nil, fmt.Errorf("llen %d buffers: %w", len(keys), err)
	}
	lens := make([]int64, len(keys))
	for i, cmd := range cmds {
		lens[i] = cmd.Val()
	}
	return lens, nil
}
