package mcp

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/quflx/quflx-tui/model/format"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/redisdata"
)

// The key tools: ping, get, keys, info.

// --- redis_ping

type PingOut struct {
	Pong      string  `json:"pong"`
	RTTMillis float64 `json:"rtt_ms"`
}

func (t *tools) ping(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, PingOut, error) {
	rtt, err := t.c.PingRTT(ctx)
	if err != nil {
		return nil, PingOut{}, fmt.Errorf("ping %s: %w", t.c.Endpoint(), err)
	}
	out := PingOut{Pong: "PONG", RTTMillis: format.Millis(rtt)}
	return text("%s in %.2f ms", out.Pong, out.RTTMillis), out, nil
}

// --- redis_get

type KeyIn struct {
	Key string `json:"key" jsonschema:"the key"`
}

type GetOut struct {
	Key       string `json:"key"`
	Exists    bool   `json:"exists"`
	Value     string `json:"value"`
	Bytes     int64  `json:"bytes"`
	Truncated bool   `json:"truncated"`
}

func (t *tools) get(ctx context.Context, _ *sdk.CallToolRequest, in KeyIn) (*sdk.CallToolResult, GetOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, GetOut{}, err
	}
	// STRLEN first, so that a huge value is never pulled whole.
	pipe := t.c.Pipeline()
	n := pipe.StrLen(ctx, in.Key)
	head := pipe.GetRange(ctx, in.Key, 0, int64(t.opts.MaxValue-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, GetOut{}, fmt.Errorf("get %s: %w", in.Key, err)
	}
	out := GetOut{Key: in.Key, Bytes: n.Val(), Value: head.Val()}
	if out.Bytes == 0 {
		exists, err := t.c.Exists(ctx, in.Key).Result()
		if err != nil {
			return nil, GetOut{}, fmt.Errorf("get %s: %w", in.Key, err)
		}
		out.Exists = exists == 1
		if !out.Exists {
			return text("%s does not exist", in.Key), out, nil
		}
	}
	out.Exists = true
	out.Truncated = out.Bytes > int64(len(out.Value))
	return text("%s = %s", in.Key, shorten(out.Value, 200)), out, nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// --- redis_keys

type KeysIn struct {
	Pattern string `json:"pattern" jsonschema:"a glob pattern such as ticks:*"`
	Limit   int    `json:"limit,omitempty" jsonschema:"at most this many keys (default and maximum 1000)"`
}

type KeysOut struct {
	Pattern   string   `json:"pattern"`
	Keys      []string `json:"keys"`
	Count     int      `json:"count"`
	Truncated bool     `json:"truncated"`
	// Partial says the walk stopped at its deadline before seeing the whole keyspace.
	Partial bool `json:"partial,omitempty"`
}

// Bounds on a redis_keys pattern: SCAN matches every key of the keyspace against it, and
// glob matching with many stars is exponential in servers before 6.2.11 and 7.0.9.
const (
	maxPatternLen   = 256
	maxPatternStars = 8
)

func checkPattern(p string) error {
	switch {
	case len(p) > maxPatternLen:
		return fmt.Errorf("pattern of %d bytes: at most %d", len(p), maxPatternLen)
	case strings.Count(p, "*") > maxPatternStars:
		return fmt.Errorf("pattern with %d '*': at most %d", strings.Count(p, "*"), maxPatternStars)
	}
	return nil
}

func (t *tools) keys(ctx context.Context, _ *sdk.CallToolRequest, in KeysIn) (*sdk.CallToolResult, KeysOut, error) {
	if in.Pattern == "" {
		in.Pattern = "*"
	}
	if err := checkPattern(in.Pattern); err != nil {
		return nil, KeysOut{}, err
	}
	limit := t.opts.MaxKeys
	if in.Limit > 0 {
		limit = min(in.Limit, limit)
	}
	walk, cancel := context.WithTimeout(ctx, t.opts.ScanDeadline)
	defer cancel()
	keys, err := redisdata.ScanKeys(walk, t.c, in.Pattern, 1000, limit+1)
	partial := false
	if err != nil {
		if walk.Err() == nil || ctx.Err() != nil {
			return nil, KeysOut{}, err
		}
		partial = true // the deadline: what was found so far is the answer
	}
	out := KeysOut{Pattern: in.Pattern, Keys: keys, Truncated: len(keys) > limit, Partial: partial}
	if out.Truncated {
		out.Keys = keys[:limit]
	}
	if out.Keys == nil {
		out.Keys = []string{}
	}
	out.Count = len(out.Keys)
	more := ""
	switch {
	case out.Truncated:
		more = " (more exist: narrow the pattern)"
	case partial:
		more = fmt.Sprintf(" (the walk stopped after %s before seeing every key: narrow the pattern)", t.opts.ScanDeadline)
	}
	return text("%d keys match %s%s: %s", out.Count, in.Pattern, more, shorten(strings.Join(out.Keys, " "), 300)), out, nil
}

// --- redis_info

type InfoIn struct {
	Section string `json:"section,omitempty" jsonschema:"one INFO section, e.g. memory; all sections when empty"`
}

type InfoOut struct {
	Section string                       `json:"section"`
	Info    map[string]map[string]string `json:"info"` // of the one server; empty for a cluster
	// Nodes are a Redis Cluster's masters, each with its own INFO.
	Nodes []NodeInfoOut `json:"nodes,omitempty"`
}

// NodeInfoOut is one cluster node's INFO.
type NodeInfoOut struct {
	Address string                       `json:"address"`
	Info    map[string]map[string]string `json:"info,omitempty"`
	Error   string                       `json:"error,omitempty"`
}

func (t *tools) info(ctx context.Context, _ *sdk.CallToolRequest, in InfoIn) (*sdk.CallToolResult, InfoOut, error) {
	var sections []string
	if in.Section != "" {
		if strings.ContainsAny(in.Section, " \r\n") {
			return nil, InfoOut{}, fmt.Errorf("section %q: one word, e.g. memory", in.Section)
		}
		sections = []string{in.Section}
	}
	out := InfoOut{Section: in.Section, Info: map[string]map[string]string{}}
	if t.c.IsCluster() {
		// Every master answers for itself: one node's INFO is a third of a cluster.
		var mu sync.Mutex
		err := t.c.ForEachNodeAddr(ctx, func(ctx context.Context, addr string, node redis.Cmdable) error {
			n := NodeInfoOut{Address: addr}
			if m, err := node.InfoMap(ctx, sections...).Result(); err != nil {
				n.Error = err.Error()
			} else {
				n.Info = map[string]map[string]string(m)
			}
			mu.Lock()
			out.Nodes = append(out.Nodes, n)
			mu.Unlock()
			return nil
		})
		if len(out.Nodes) == 0 {
			return nil, InfoOut{}, fmt.Errorf("info %s: no cluster node answered: %v", in.Section, err)
		}
		slices.SortFunc(out.Nodes, func(a, b NodeInfoOut) int { return strings.Compare(a.Address, b.Address) })
		var parts []string
		for _, n := range out.Nodes {
			if n.Error != "" {
				parts = append(parts, n.Address+" error: "+n.Error)
			} else {
				parts = append(parts, fmt.Sprintf("%s (%d sections)", n.Address, len(n.Info)))
			}
		}
		return text("INFO of %d cluster masters: %s", len(out.Nodes), strings.Join(parts, ", ")), out, nil
	}
	m, err := t.c.InfoMap(ctx, sections...).Result()
	if err != nil {
		return nil, InfoOut{}, fmt.Errorf("info %s: %w", in.Section, err)
	}
	out.Info = map[string]map[string]string(m)
	var parts []string
	for section, fields := range out.Info {
		parts = append(parts, fmt.Sprintf("%s (%d fields)", section, len(fields)))
	}
	return text("INFO: %s", strings.Join(parts, ", ")), out, nil
}
