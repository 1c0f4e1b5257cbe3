package redisdata

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// DefaultClaimPrefix names the flusher's in-flight lists: "quflx:inflight:ticks:EURUSD_otc"
// holds what was taken from "ticks:EURUSD_otc" and is not yet committed to the store.
// A prefix (not a suffix) keeps them out of SCAN MATCH ticks:*. With hash-tagged keys
// ("ticks:{EURUSD_otc}") a buffer and its claim share a cluster slot, as the script needs.
const DefaultClaimPrefix = "quflx:inflight:"

// claimScript moves a whole buffer into its in-flight list, atomically. A tick pushed
// during a flush lands in the fresh buffer and waits for the next claim: nothing is
// deleted unread (QuFLX's LRANGE-then-DEL lost those). When an earlier claim is still in
// flight (its commit failed, or the flusher crashed), the buffer is appended to it instead
// of replacing it: RENAME alone would overwrite the unfinished batch. Draining into the
// in-flight list also keeps the producer's LTRIM from discarding ticks while the store is
// down. Returns {moved, in-flight length}.
var claimScript = redis.NewScript(`
local moved = redis.call('LLEN', KEYS[1])
if moved == 0 then
  return {0, redis.call('LLEN', KEYS[2])}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  return {moved, moved}
end
local i = 0
while i < moved do
  redis.call('RPUSH', KEYS[2], unpack(redis.call('LRANGE', KEYS[1], i, i + 999)))
  i = i + 1000
end
redis.call('DEL', KEYS[1])
return {moved, redis.call('LLEN', KEYS[2])}
`)

// Claimer claims tick buffers for the batch flusher. It is not safe for concurrent use.
type Claimer struct {
	client *Client
	prefix string
	loaded bool // the script is in the server's cache (a restart empties it)
}

// NewClaimer returns a claimer; prefix defaults to DefaultClaimPrefix.
func NewClaimer(c *Client, prefix string) *Claimer {
	if prefix == "" {
		prefix = DefaultClaimPrefix
	}
	return &Claimer{client: c, prefix: prefix}
}

// InflightKey returns the in-flight list of a buffer.
func (cl *Claimer) InflightKey(bufferKey string) string { return cl.prefix + bufferKey }

// BufferKey returns the buffer of an in-flight list.
func (cl *Claimer) BufferKey(inflightKey string) (string, bool) {
	return strings.CutPrefix(inflightKey, cl.prefix)
}

// Claim is the outcome of claiming one buffer.
type Claim struct {
	BufferKey string
	Inflight  string // its in-flight list
	Moved     int64  // entries taken from the buffer just now
	Pending   int64  // entries now in flight (earlier unfinished claims included)
	Err       error  // this buffer only (WRONGTYPE...)
}

// Claim claims buffers in one pipelined round trip. The error is for the round trip;
// per-buffer errors are in the claims.
func (cl *Claimer) Claim(ctx context.Context, bufferKeys []string) ([]Claim, error) {
	if len(bufferKeys) == 0 {
		return nil, nil
	}
	claims, noScript, err := cl.claim(ctx, bufferKeys)
	if err == nil && noScript {
		cl.loaded = false // the server restarted: load again, once
		claims, _, err = cl.claim(ctx, bufferKeys)
	}
	return claims, err
}

func (cl *Claimer) claim(ctx context.Context, bufferKeys []string) ([]Claim, bool, error) {
	// EVALSHA in a pipeline cannot fall back to EVAL by itself: load the script first.
	if !cl.loaded {
		if err := claimScript.Load(ctx, cl.client).Err(); err != nil {
			return nil, false, fmt.Errorf("claim: load script: %w", err)
		}
		cl.loaded = true
	}
	pipe := cl.client.Pipeline()
	cmds := make([]*redis.Cmd, len(bufferKeys))
	for i, k := range bufferKeys {
		cmds[i] = claimScript.EvalSha(ctx, pipe, []string{k, cl.InflightKey(k)})
	}
	if _, err := pipe.Exec(ctx); err != nil && !isRedisError(err) {
		return nil, false, fmt.Errorf("claim %d buffers: %w", len(bufferKeys), err)
	}
	claims := make([]Claim, len(bufferKeys))
	noScript := false
	for i, k := range bufferKeys {
		c := Claim{BufferKey: k, Inflight: cl.InflightKey(k)}
		vals, err := cmds[i].Int64Slice()
		switch {
		case err != nil:
			noScript = noScript || redis.HasErrorPrefix(err, "NOSCRIPT")
			c.Err = fmt.Errorf("claim %s: %w", k, err)
		case len(vals) != 2:
			c.Err = fmt.Errorf("claim %s: unexpected reply %v", k, vals)
		default:
			c.Moved, c.Pending = vals[0], vals[1]
		}
		claims[i] = c
	}
	return claims, noScript, nil
}

// Read returns entries [start, start+n) of an in-flight list: a bounded read, however
// large the list grew while the store was down.
func (cl *Claimer) Read(ctx context.Context, inflight string, start, n int64) ([]string, error) {
	vals, err := cl.client.LRange(ctx, inflight, start, start+n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", inflight, err)
	}
	return vals, nil
}

// Release removes the first n entries of each in-flight list, after they are committed.
// Claims only ever append, so the entries a writer read are exactly the first n, and
// whatever a concurrent claim appended meanwhile stays in flight. (DEL would delete
// those unread.) Redis deletes a list that becomes empty. Returns what remains in flight.
func (cl *Claimer) Release(ctx context.Context, committed map[string]int64) (map[string]int64, error) {
	if len(committed) == 0 {
		return nil, nil
	}
	pipe := cl.client.Pipeline()
	left := make(map[string]*redis.IntCmd, len(committed))
	for inflight, n := range committed {
		pipe.LTrim(ctx, inflight, n, -1)
		left[inflight] = pipe.LLen(ctx, inflight)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("release %d claims: %w", len(committed), err)
	}
	remaining := make(map[string]int64, len(left))
	for k, cmd := range left {
		remaining[k] = cmd.Val()
	}
	return remaining, nil
}

// Lengths returns how many entries each in-flight list holds, in one round trip.
func (cl *Claimer) Lengths(ctx context.Context, inflight []string) ([]int64, error) {
	return ListLengths(ctx, cl.client, inflight)
}

// Unfinished returns the buffer keys whose claims a previous run left in flight.
func (cl *Claimer) Unfinished(ctx context.Context) ([]string, error) {
	var buffers []string
	var cursor uint64
	glob := escapeGlob(cl.prefix) + "*"
	for {
		keys, next, err := cl.client.Scan(ctx, cursor, glob, 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", glob, err)
		}
		for _, k := range keys {
			if b, ok := cl.BufferKey(k); ok {
				buffers = append(buffers, b)
			}
		}
		if next == 0 {
			return buffers, nil
		}
		cursor = next
	}
}

func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
