package redisdata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// BufferStat is one tick buffer as polled.
type BufferStat struct {
	Asset string
	Key   string
	Len   int64
	Err   error // WRONGTYPE and the like, for this key only
	// With PollerOptions.LastTicks: the newest tick (nil when empty or undecodable) and
	// the producer's order as told by the two ends.
	Last  *model.Tick
	Order ListOrder
}

type bufferKey struct{ asset, key string }

// bufferCmds are one buffer's commands in a pipeline.
type bufferCmds struct {
	llen       *redis.IntCmd
	ends       *redis.Cmd       // bufferEndsScript's reply
	head, tail *redis.StringCmd // LINDEX, on servers without EVAL_RO
}

// EndsRead says how a poll reads the two ends of a buffer.
type EndsRead int

const (
	// EndsBounded reads them with a read-only script that cuts each to maxEndBytes inside
	// Redis: a publisher's 64 MiB entry never crosses the network (Redis 7+, EVAL_RO).
	EndsBounded EndsRead = iota
	// EndsWhole reads them with LINDEX: servers without EVAL_RO have no other way.
	EndsWhole
	// EndsNone does not read them: the server refused EVAL_RO (an ACL without it).
	EndsNone
)

// maxEndBytes bounds the buffer ends a poll reads: a tick is about 100 bytes.
const maxEndBytes = 4 << 10

// bufferEndsScript returns the first and last entries of a list, each cut to ARGV[1]
// bytes, with their lengths: {head, #head, tail, #tail}, or {} when empty.
const bufferEndsScript = `
local h = redis.call('LINDEX', KEYS[1], 0)
if not h then return {} end
local t = redis.call('LINDEX', KEYS[1], -1)
local max = tonumber(ARGV[1])
return {string.sub(h, 1, max), #h, string.sub(t, 1, max), #t}
`

// queueBuffers adds LLEN, and with last also the two ends, of every buffer to pipe.
func queueBuffers(ctx context.Context, pipe redis.Pipeliner, buffers []bufferKey, last bool, ends EndsRead) []bufferCmds {
	cmds := make([]bufferCmds, len(buffers))
	for i, b := range buffers {
		cmds[i].llen = pipe.LLen(ctx, b.key)
		if !last {
			continue
		}
		switch ends {
		case EndsBounded:
			cmds[i].ends = pipe.EvalRO(ctx, bufferEndsScript, []string{b.key}, maxEndBytes)
		case EndsWhole:
			cmds[i].head = pipe.LIndex(ctx, b.key, 0)
			cmds[i].tail = pipe.LIndex(ctx, b.key, -1)
		}
	}
	return cmds
}

// endsOf returns a buffer's two ends from either way of reading them; ok is false when
// they were not read. An end cut to the limit is returned empty: it is no tick.
func (c bufferCmds) endsOf() (head, tail string, ok bool) {
	switch {
	case c.ends != nil:
		vals, err := c.ends.Slice()
		if err != nil || len(vals) != 4 {
			return "", "", false
		}
		end := func(v, n any) string {
			s, _ := v.(string)
			if l, _ := n.(int64); int(l) > len(s) {
				return ""
			}
			return s
		}
		return end(vals[0], vals[1]), end(vals[2], vals[3]), true
	case c.head != nil:
		return c.head.Val(), c.tail.Val(), true
	}
	return "", "", false
}

// endsRefusal tells how to read buffer ends after a poll's replies: EVAL_RO unknown (an
// old server) or refused (an ACL) changes the way; anything else keeps it.
func endsRefusal(cmds []bufferCmds, ends EndsRead) EndsRead {
	if ends != EndsBounded {
		return ends
	}
	for _, c := range cmds {
		if c.ends == nil {
			continue
		}
		err := c.ends.Err()
		switch {
		case err == nil || errors.Is(err, redis.Nil):
		case redis.HasErrorPrefix(err, "ERR unknown command"):
			return EndsWhole
		case redis.HasErrorPrefix(err, "NOPERM"):
			return EndsNone
		}
	}
	return ends
}

// readBuffers reads the replies of queueBuffers. The newest tick is the later-stamped of
// the two ends, which also tells the producer's order.
func readBuffers(buffers []bufferKey, cmds []bufferCmds, d *model.Decoder) []BufferStat {
	out := make([]BufferStat, len(buffers))
	now := time.Now().UnixMicro()
	for i, b := range buffers {
		n, err := cmds[i].llen.Result()
		st := BufferStat{Asset: b.asset, Key: b.key, Len: n, Err: err}
		if headText, tailText, ok := cmds[i].endsOf(); ok && err == nil && n > 0 {
			head, herr := d.DecodeString(headText, b.asset, now)
			tail, terr := d.DecodeString(tailText, b.asset, now)
			switch {
			case herr == nil && terr == nil:
				st.Last = &head
				switch {
				case head.UnixMicro > tail.UnixMicro:
					st.Order = OrderNewestFirst
				case head.UnixMicro < tail.UnixMicro:
					st.Order, st.Last = OrderNewestLast, &tail
				}
			case herr == nil:
				st.Last = &head
			case terr == nil:
				st.Last = &tail
			}
		}
		out[i] = st
	}
	return out
}

// ReadBuffers reads the length and the newest tick of each asset's buffer in one pipelined
// round trip.
func ReadBuffers(ctx context.Context, c *Client, tickKey model.KeyPattern, assets []string) ([]BufferStat, error) {
	buffers := make([]bufferKey, len(assets))
	for i, a := range assets {
		buffers[i] = bufferKey{a, tickKey.Key(a, "")}
	}
	ends := EndsBounded
	var cmds []bufferCmds
	for {
		pipe := c.Pipeline()
		cmds = queueBuffers(ctx, pipe, buffers, true, ends)
		if _, err := pipe.Exec(ctx); err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read %d buffers: %w", len(assets), err)
		}
		next := endsRefusal(cmds, ends)
		if next == ends {
			break
		}
		ends = next // once more, the way this server allows
	}
	var d model.Decoder
	return readBuffers(buffers, cmds, &d), nil
}
