package mcp

import (
	"context"
	"fmt"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quflx/quflx-tui/redisdata"
)

// The list tools: llen, lrange, bounded in elements and bytes.

// --- redis_llen

type LenOut struct {
	Key    string `json:"key"`
	Length int64  `json:"length"`
}

func (t *tools) llen(ctx context.Context, _ *sdk.CallToolRequest, in KeyIn) (*sdk.CallToolResult, LenOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, LenOut{}, err
	}
	n, err := t.c.LLen(ctx, in.Key).Result()
	if err != nil {
		return nil, LenOut{}, fmt.Errorf("llen %s: %w", in.Key, err)
	}
	return text("%s has %d elements", in.Key, n), LenOut{Key: in.Key, Length: n}, nil
}

// --- redis_lrange

type RangeIn struct {
	Key   string `json:"key" jsonschema:"the list"`
	Start int64  `json:"start" jsonschema:"first index (negative counts from the end)"`
	Stop  int64  `json:"stop" jsonschema:"last index, inclusive (-1 is the last element)"`
}

type RangeOut struct {
	Key       string   `json:"key"`
	Start     int64    `json:"start"` // as served, after bounding
	Stop      int64    `json:"stop"`
	Values    []string `json:"values"`
	Length    int64    `json:"length"` // of the whole list
	Truncated bool     `json:"truncated"`
	// Cut lists the indexes in Values of elements longer than the value bound: each holds
	// its first bytes and its length.
	Cut []int `json:"cut,omitempty"`
}

func (t *tools) lrange(ctx context.Context, _ *sdk.CallToolRequest, in RangeIn) (*sdk.CallToolResult, RangeOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, RangeOut{}, err
	}
	n, err := t.c.LLen(ctx, in.Key).Result()
	if err != nil {
		return nil, RangeOut{}, fmt.Errorf("lrange %s: %w", in.Key, err)
	}
	start, stop := normIndex(in.Start, n), normIndex(in.Stop, n)
	start, stop = max(start, 0), min(stop, n-1)
	out := RangeOut{Key: in.Key, Start: start, Stop: stop, Length: n, Values: []string{}}
	if start > stop {
		return text("%s[%d..%d] is empty (length %d)", in.Key, in.Start, in.Stop, n), out, nil
	}
	if stop-start+1 > int64(t.opts.MaxRange) {
		out.Stop, out.Truncated = start+int64(t.opts.MaxRange)-1, true
	}
	// Bounded in bytes per element and in all, in Redis: a list of huge junk elements
	// must not become gigabytes in this process or in the answer.
	elems, err := redisdata.ReadListBounded(ctx, t.c, in.Key, out.Start, out.Stop, t.opts.MaxValue, t.opts.MaxResultBytes)
	if err != nil {
		return nil, RangeOut{}, fmt.Errorf("lrange %s: %w", in.Key, err)
	}
	for _, e := range elems {
		v := e.Value
		if e.Cut() {
			out.Cut = append(out.Cut, len(out.Values))
			v = cutValue(v, e.Len)
		}
		out.Values = append(out.Values, v)
	}
	if served := out.Start + int64(len(out.Values)) - 1; served < out.Stop {
		out.Stop, out.Truncated = served, true
	}
	more := ""
	if out.Truncated {
		more = fmt.Sprintf(" (bounded to %d elements and %d bytes)", t.opts.MaxRange, t.opts.MaxResultBytes)
	}
	return text("%s[%d..%d]: %d of %d elements%s", in.Key, out.Start, out.Stop, len(out.Values), n, more), out, nil
}

// cutValue shows the head of a value too long to return, on a rune boundary, and says how
// long the whole was.
func cutValue(head string, whole int) string {
	cut := min(len(head), 1024)
	for cut > 0 && cut < len(head) && !utf8.RuneStart(head[cut]) {
		cut--
	}
	return head[:cut] + fmt.Sprintf("… (%d bytes)", whole)
}

func normIndex(i, n int64) int64 {
	if i < 0 {
		return n + i
	}
	return i
}
