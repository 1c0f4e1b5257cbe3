package mcp

import (
	"context"
	"fmt"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// The write tools, offered only with --allow-writes and never retried.

// --- writes

type SetIn struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	TTL   int64  `json:"ttl,omitempty" jsonschema:"expiry in seconds (none when 0)"`
}

type SetOut struct {
	Key        string `json:"key"`
	OK         bool   `json:"ok"`
	TTLSeconds int64  `json:"ttl_seconds"`
}

func (t *tools) set(ctx context.Context, _ *sdk.CallToolRequest, in SetIn) (*sdk.CallToolResult, SetOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, SetOut{}, err
	}
	if in.TTL < 0 {
		return nil, SetOut{}, fmt.Errorf("ttl %d: must not be negative", in.TTL)
	}
	if err := t.c.Set(ctx, in.Key, in.Value, time.Duration(in.TTL)*time.Second).Err(); err != nil {
		return nil, SetOut{}, fmt.Errorf("set %s: %w", in.Key, err)
	}
	return text("set %s", in.Key), SetOut{Key: in.Key, OK: true, TTLSeconds: in.TTL}, nil
}

type DelOut struct {
	Key     string `json:"key"`
	Deleted int64  `json:"deleted"`
}

func (t *tools) del(ctx context.Context, _ *sdk.CallToolRequest, in KeyIn) (*sdk.CallToolResult, DelOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, DelOut{}, err
	}
	n, err := t.c.Del(ctx, in.Key).Result()
	if err != nil {
		return nil, DelOut{}, fmt.Errorf("del %s: %w", in.Key, err)
	}
	return text("deleted %d key", n), DelOut{Key: in.Key, Deleted: n}, nil
}

type PushIn struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (t *tools) lpush(ctx context.Context, _ *sdk.CallToolRequest, in PushIn) (*sdk.CallToolResult, LenOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, LenOut{}, err
	}
	n, err := t.c.LPush(ctx, in.Key, in.Value).Result()
	if err != nil {
		return nil, LenOut{}, fmt.Errorf("lpush %s: %w", in.Key, err)
	}
	return text("%s now has %d elements", in.Key, n), LenOut{Key: in.Key, Length: n}, nil
}

type TrimOut struct {
	Key    string `json:"key"`
	OK     bool   `json:"ok"`
	Length int64  `json:"length"`
}

func (t *tools) ltrim(ctx context.Context, _ *sdk.CallToolRequest, in RangeIn) (*sdk.CallToolResult, TrimOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, TrimOut{}, err
	}
	pipe := t.c.TxPipeline()
	pipe.LTrim(ctx, in.Key, in.Start, in.Stop)
	n := pipe.LLen(ctx, in.Key)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, TrimOut{}, fmt.Errorf("ltrim %s: %w", in.Key, err)
	}
	return text("%s trimmed to %d elements", in.Key, n.Val()), TrimOut{Key: in.Key, OK: true, Length: n.Val()}, nil
}
