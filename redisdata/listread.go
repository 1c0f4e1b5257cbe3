package redisdata

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ListElement is one element of a bounded list read.
type ListElement struct {
	Value string // whole, or its first bytes when Len says it was longer
	Len   int    // the element's length in bytes
}

// Cut reports whether Value holds only the first bytes of the element.
func (e ListElement) Cut() bool { return len(e.Value) < e.Len }

// boundedRangeScript returns elements start..stop of a list, each cut to ARGV[3] bytes
// inside Redis, stopping once ARGV[4] bytes are returned. It only reads (EVAL_RO refuses
// a write), one element at a time, so neither this process nor the reply holds an element
// whole. Returns {value, length, value, length, ...}.
const boundedRangeScript = `
local out, bytes = {}, 0
local maxEach, maxTotal = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  local v = redis.call('LINDEX', KEYS[1], i)
  if not v then break end
  local cut = string.sub(v, 1, maxEach)
  out[#out + 1] = cut
  out[#out + 1] = #v
  bytes = bytes + #cut
  if bytes >= maxTotal then break end
end
return out
`

// ReadListBounded returns elements start..stop (non-negative, inclusive) of a list, each
// cut to maxEach bytes and maxTotal bytes in all: large elements (a known junk shape)
// never arrive whole. It runs as a read-only script on Redis 7 and later; older servers
// have no EVAL_RO, and there elements are read one at a time (each may arrive whole, but
// never sixteen at once).
func ReadListBounded(ctx context.Context, c *Client, key string, start, stop int64, maxEach, maxTotal int) ([]ListElement, error) {
	vals, err := c.EvalRO(ctx, boundedRangeScript, []string{key}, start, stop, maxEach, maxTotal).Slice()
	if err == nil {
		out := make([]ListElement, 0, len(vals)/2)
		for i := 0; i+1 < len(vals); i += 2 {
			v, _ := vals[i].(string)
			n, _ := vals[i+1].(int64)
			out = append(out, ListElement{Value: v, Len: int(n)})
		}
		return out, nil
	}
	if !redis.HasErrorPrefix(err, "ERR unknown command") {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	var out []ListElement
	bytes := 0
	for i := start; i <= stop && bytes < maxTotal; i++ {
		v, err := c.LIndex(ctx, key, i).Result()
		if err == redis.Nil {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		e := ListElement{Value: v, Len: len(v)}
		if len(v) > maxEach {
			e.Value = v[:maxEach]
		}
		out = append(out, e)
		bytes += len(e.Value)
	}
	return out, nil
}
