package redisdata

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// serverNowMs is Lua for the server's clock in milliseconds: every lease is judged by the
// server's clock, so flushers on hosts whose clocks disagree still agree on expiry.
const serverNowMs = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// claimScript moves a whole buffer into a new claim and leases it to its maker. RENAME
// is atomic: a tick pushed during the claim lands in a fresh buffer for the next one, and
// the producer's LTRIM can no longer reach what was claimed. Made again with the same id
// (a reply lost, the pipeline sent twice) it changes nothing and answers as the first
// time did. Returns {claimed 0|1, entries}.
var claimScript = redis.NewScript(serverNowMs + `
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {1, redis.call('LLEN', KEYS[3])}
end
local n = redis.call('LLEN', KEYS[1])
if n == 0 then
  return {0, 0}
end
redis.call('RENAME', KEYS[1], KEYS[3])
-- A TTL on the buffer would carry over and expire the claim during a store outage.
redis.call('PERSIST', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[1], (now + tonumber(ARGV[3])) .. ':' .. ARGV[2])
return {1, n}
`)

// renewScript extends the leases the caller still owns; a claim another flusher took
// over after the lease ran out is reported lost (0). Owner, not deadline, is compared, so
// a renewal applied twice is still a renewal. Returns one 0|1 per id.
var renewScript = redis.NewScript(serverNowMs + `
local lease = (now + tonumber(ARGV[2])) .. ':' .. ARGV[1]
local out = {}
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  local ok = 0
  if v and string.match(v, '^%d+:(.*)$') == ARGV[1] then
    redis.call('HSET', KEYS[1], ARGV[i], lease)
    ok = 1
  end
  out[#out + 1] = ok
end
return out
`)

// adoptScript takes over the claims of a buffer whose lease ran out (their owner died or
// lost Redis): each is leased to the caller, at most ARGV[3] of them. Registry entries
// whose list is gone are forgotten. Returns {id, entries, id, entries, ...}.
var adoptScript = redis.NewScript(serverNowMs + `
local lease = (now + tonumber(ARGV[2])) .. ':' .. ARGV[1]
local max = tonumber(ARGV[3])
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local id, v = all[i], all[i + 1]
  local deadline = tonumber(string.match(v, '^(%d+):')) or 0
  if deadline < now then
    local n = redis.call('LLEN', ARGV[4] .. id)
    if n == 0 then
      redis.call('HDEL', KEYS[1], id)
    else
      redis.call('HSET', KEYS[1], id, lease)
      out[#out + 1] = id
      out[#out + 1] = n
      if #out >= 2 * max then break end
    end
  end
end
return out
`)

// abandonScript ends the caller's leases at once (a flusher that stops with claims it
// could not commit hands them over instead of making others wait out the lease).
var abandonScript = redis.NewScript(`
local n = 0
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.match(v, '^%d+:(.*)$') == ARGV[1] then
    redis.call('HSET', KEYS[1], ARGV[i], '0:' .. ARGV[1])
    n = n + 1
  end
end
return n
`)

// releaseScript deletes a claim whose every entry is committed, and its lease. Deleting
// a claim id twice deletes nothing the second time: ids are never reused, and a claim
// never gains entries, so no release can remove an entry that was not committed.
var releaseScript = redis.NewScript(`
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

// readScript returns entries [start, start+count) of a claim, stopping early once the
// reply would pass ARGV[3] bytes. An entry longer than ARGV[4] bytes is not sent: its
// first ARGV[5] bytes are, and its index, length and SHA-1 are listed apart. At most 32
// entries are held by the script at once, whatever their size.
// Returns {{entry, ...}, {index, length, sha1, ...}}.
var readScript = redis.NewScript(`
local start, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local maxBytes, maxEntry, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out, big, bytes = {}, {}, 0
local i, stop = start, start + count
while i < stop do
  local chunk = redis.call('LRANGE', KEYS[1], i, math.min(i + 31, stop - 1))
  if #chunk == 0 then break end
  for _, v in ipairs(chunk) do
    if #v > maxEntry then
      big[#big + 1] = #out
      big[#big + 1] = #v
      big[#big + 1] = redis.sha1hex(v)
      v = string.sub(v, 1, keep)
    end
    if #out > 0 and bytes + #v > maxBytes then
      return {out, big}
    end
    out[#out + 1] = v
    bytes = bytes + #v
  end
  i = i + #chunk
end
return {out, big}
`)

// legacyAdoptScript turns an in-flight list of the first flusher into a claim.
var legacyAdoptScript = redis.NewScript(serverNowMs + `
local n = redis.call('LLEN', KEYS[1])
if n == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('PERSIST', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[1], (now + tonumber(ARGV[3])) .. ':' .. ARGV[2])
return n
`)

// scriptCall is one run of a script in a pipeline.
type scriptCall struct {
	keys []string
	args []any
}

// runScripts runs calls of one script in a pipelined round trip (one per node on a
// cluster) by SHA, and again by body for the calls a server did not know the script for
// (a restart or a new node empties its cache; NOSCRIPT means nothing ran). Each call's
// outcome is on its Cmd: on a cluster with one node down, the calls the other nodes ran
// are good. The error is returned only when no call got an answer at all.
func runScripts(ctx context.Context, c *Client, s *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	if len(calls) == 0 {
		return cmds, nil
	}
	pipe := c.Pipeline()
	for i, call := range calls {
		cmds[i] = s.EvalSha(ctx, pipe, call.keys, call.args...)
	}
	_, _ = pipe.Exec(ctx)
	var again []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe = c.Pipeline()
		for _, i := range again {
			cmds[i] = s.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err == nil || isRedisError(err) {
			return cmds, nil
		}
	}
	return cmds, cmds[0].Err()
}
