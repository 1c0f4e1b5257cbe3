package redisdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultFlusherStatusKey is where the batch flusher publishes its status, so that a
// dashboard in another process can show it.
const DefaultFlusherStatusKey = "quflx:flusher:status"

// FlusherStatus is what the flusher publishes. The key expires when heartbeats stop, so
// a missing key means no flusher (or a dead one).
type FlusherStatus struct {
	State     string    `json:"state"` // starting, idle, flushing, retrying, stopped
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
	DuplicatesSkipped int64     `json:"duplicates_skipped"`
	Backlog           int64     `json:"backlog"` // entries waiting: buffers plus in flight
	Errors            int64     `json:"errors"`  // failed flush attempts
	LastError         string    `json:"last_error,omitempty"`
	LastErrorAt       time.Time `json:"last_error_at,omitzero"`
}

// PublishFlusherStatus writes the status with a TTL (the heartbeat's deadline).
func PublishFlusherStatus(ctx context.Context, c *Client, key string, st FlusherStatus, ttl time.Duration) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("flusher status: %w", err)
	}
	if err := c.Set(ctx, key, b, ttl).Err(); err != nil {
		return fmt.Errorf("publish flusher status %s: %w", key, err)
	}
	return nil
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
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read flusher status: %w", err)
	}
	var st FlusherStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("flusher status is not JSON: %w", err)
	}
	return &st, nil
}
