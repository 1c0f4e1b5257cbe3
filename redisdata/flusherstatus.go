package redisdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// maxFlusherStatusBytes bounds a status read: a real one is under 2 KB.
const maxFlusherStatusBytes = 64 << 10

// DefaultFlusherStatusKey is the single status key of quflx-tui's first flusher. Every
// flusher still writes it (the last one to beat wins) for readers that know only it; the
// per-instance keys (FlusherStatusKey) are the full picture when several flushers run.
const DefaultFlusherStatusKey = "quflx:flusher:status"

// FlushersIndexKey is the sorted set of flusher instances (score: last heartbeat, Unix
// ms). It and every per-instance status share one cluster slot, so one MGET reads them all.
func FlushersIndexKey(namespace string) string {
	if namespace == "" {
		namespace = DefaultClaimNamespace
	}
	return namespace + ":{flushers}"
}

// FlusherStatusKey is where one flusher instance publishes its status.
func FlusherStatusKey(namespace, instance string) string {
	return FlushersIndexKey(namespace) + ":status:" + instance
}

// FlusherStatus is what a flusher publishes. The key expires when heartbeats stop, so a
// missing key means no flusher (or a dead one).
type FlusherStatus struct {
	Instance  string    `json:"instance,omitempty"`
	State     string    `json:"state"` // starting, idle, flushing, retrying, backlog-full, stopped
	Store     string    `json:"store"` // "sqlite:/path" or a postgres URL without password
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat"`
	LastFlush time.Time `json:"last_flush,omitzero"`
	NextFlush time.Time `json:"next_flush,omitzero"`
	Interval  float64   `json:"interval_seconds"`
	HighWater int       `json:"high_water"`

	LastRows          int64     `json:"last_rows"`    // ticks inserted by the last flush
	Produced          int64     `json:"produced"`     // entries taken from the buffers
	Flushed           int64     `json:"flushed"`      // ticks committed to the store
	Bad               int64     `json:"bad"`          // entries set aside as dead letters
	LostToTrim        int64     `json:"lost_to_trim"` // estimated ticks the producer trimmed unread
	Vanished          int64     `json:"vanished"`     // ticks of claims that left Redis unstored
	DuplicatesSkipped int64     `json:"duplicates_skipped"`
	Backlog           int64     `json:"backlog"` // entries waiting: buffers plus in flight
	Errors            int64     `json:"errors"`  // failed flush attempts
	LastError         string    `json:"last_error,omitempty"`
	LastErrorAt       time.Time `json:"last_error_at,omitzero"`

	InFlight    int64     `json:"in_flight"`           // entries held in claims, not yet committed
	Claims      int       `json:"claims"`              // claims held
	Buffers     int       `json:"buffers_held"`        // buffers those claims came from
	Adopted     int64     `json:"adopted"`             // entries of other flushers' claims taken over
	Conflicts   int64     `json:"conflicts"`           // writes another flusher had already made
	MaxBacklog  int64     `json:"max_backlog"`         // in-flight entries at which claiming stops
	BacklogFull bool      `json:"backlog_full"`        // claiming stopped: the producers' trim may lose ticks
	DownSince   time.Time `json:"down_since,omitzero"` // writes failing since
	// Problem says in one line what is wrong, "" when nothing is
	// ("backlog full: store down since 12:00:01, 1000000 entries held").
	Problem string `json:"problem,omitempty"`
	// Assets is what this flusher holds and stored per asset (at most MaxFlusherAssets,
	// the most recently stored first kept): a buffer the flushers drain is empty or
	// absent most of the time, so readers learn the feed's assets and freshness here.
	Assets []FlusherAsset `json:"assets,omitempty"`
}

// FlusherAsset is one asset as a flusher sees it.
type FlusherAsset struct {
	Asset     string    `json:"asset"`
	InFlight  int64     `json:"in_flight"`            // entries held in claims
	Stored    int64     `json:"stored"`               // ticks committed since the flusher started
	LastTick  time.Time `json:"last_tick,omitzero"`   // timestamp of the newest tick committed
	LastPrice float64   `json:"last_price,omitempty"` // its price
}

// MaxFlusherAssets bounds the assets one status lists (a status stays under 64 KB).
const MaxFlusherAssets = 256

// printable makes every text a reader shows on a screen printable: a status key is
// anyone's to write who may write to Redis.
func (st *FlusherStatus) printable() {
	// Our flushers publish their store without its password; another writer might not.
	st.Store = model.RedactURL(st.Store)
	for _, f := range []*string{&st.Instance, &st.State, &st.Store, &st.Host, &st.LastError, &st.Problem} {
		*f = model.Printable(*f)
	}
	if len(st.Assets) > MaxFlusherAssets {
		st.Assets = st.Assets[:MaxFlusherAssets]
	}
	// An asset name that is no plausible asset is not one, whoever wrote it.
	st.Assets = slices.DeleteFunc(st.Assets, func(a FlusherAsset) bool { return model.PlausibleAsset(a.Asset) != "" })
}

// PublishFlusherStatus writes a status under key with a TTL (the heartbeat's deadline).
// With an Instance, it also writes the instance's own key and indexes the instance.
func PublishFlusherStatus(ctx context.Context, c *Client, key string, st FlusherStatus, ttl time.Duration) error {
	return PublishFlusherStatusIn(ctx, c, "", key, st, ttl)
}

// PublishFlusherStatusIn is PublishFlusherStatus with the flusher's key namespace.
func PublishFlusherStatusIn(ctx context.Context, c *Client, namespace, key string, st FlusherStatus, ttl time.Duration) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("flusher status: %w", err)
	}
	pipe := c.Pipeline()
	if key != "" {
		pipe.Set(ctx, key, b, ttl)
	}
	if st.Instance != "" {
		index := FlushersIndexKey(namespace)
		now := time.Now().UnixMilli()
		pipe.Set(ctx, FlusherStatusKey(namespace, st.Instance), b, ttl)
		pipe.ZAdd(ctx, index, redis.Z{Score: float64(now), Member: st.Instance})
		// Instances silent for an hour are forgotten by whoever beats next.
		pipe.ZRemRangeByScore(ctx, index, "-inf", fmt.Sprint(now-time.Hour.Milliseconds()))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("publish flusher status %s: %w", key, err)
	}
	return nil
}

// ReadFlusherStatuses reads the status of every flusher instance with a live heartbeat
// key, in two round trips, ordered by instance.
func ReadFlusherStatuses(ctx context.Context, c *Client, namespace string) ([]FlusherStatus, error) {
	instances, err := c.ZRange(ctx, FlushersIndexKey(namespace), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read flusher index: %w", err)
	}
	if len(instances) == 0 {
		return nil, nil
	}
	slices.Sort(instances)
	keys := make([]string, len(instances))
	for i, inst := range instances {
		keys[i] = FlusherStatusKey(namespace, inst)
	}
	vals, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("read flusher statuses: %w", err)
	}
	var out []FlusherStatus
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired: that flusher stopped beating
		}
		var st FlusherStatus
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			return nil, fmt.Errorf("flusher status is not JSON: %w", err)
		}
		st.printable()
		out = append(out, st)
	}
	return out, nil
}

// ReadFlusherStatus reads the status; ok is false when no flusher has published one (or
// its heartbeat expired).
func ReadFlusherStatus(ctx context.Context, c *Client, key string) (st FlusherStatus, ok bool, err error) {
	s, err := parseFlusherStatus(c.Get(ctx, key))
	if err != nil || s == nil {
		return st, false, err
	}
	return *s, true, nil
}

// parseFlusherStatus reads a GET of the status key: nil without error when it is missing.
func parseFlusherStatus(cmd *redis.StringCmd) (*FlusherStatus, error) {
	b, err := cmd.Bytes()
	if errors.Is(err, redis.Nil) || (err == nil && len(b) == 0) { // GETRANGE of no key is ""
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read flusher status: %w", err)
	}
	var st FlusherStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("flusher status is not JSON: %w", err)
	}
	st.printable()
	return &st, nil
}
