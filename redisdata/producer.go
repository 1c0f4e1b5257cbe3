package redisdata

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// ProducerVersion is the QuFLX producer whose writes are reproduced.
type ProducerVersion int

const (
	// ProducerV1: LPUSH then LTRIM 0 cap-1 (newest at index 0), then PUBLISH.
	ProducerV1 ProducerVersion = 1
	// ProducerV2: RPUSH, LLEN, and LTRIM -cap -1 when longer than cap (not atomic), then
	// PUBLISH.
	ProducerV2 ProducerVersion = 2
)

// ParseProducerVersion reads "v1" or "v2".
func ParseProducerVersion(s string) (ProducerVersion, error) {
	switch s {
	case "v1", "1":
		return ProducerV1, nil
	case "v2", "2":
		return ProducerV2, nil
	}
	return 0, fmt.Errorf("producer %q: want v1 (LPUSH) or v2 (RPUSH)", s)
}

// DefaultBufferCap is the QuFLX producers' LTRIM cap.
const DefaultBufferCap = 1000

// ProducerOptions configures a Producer.
type ProducerOptions struct {
	TickKey model.KeyPattern
	Channel model.KeyPattern
	Version ProducerVersion // default v1
	Cap     int             // default 1000
	// Cache, when set, is kept up to date as candles close: SETEX of the newest candles of
	// every timeframe, as the QuFLX producers do.
	Cache *CandleCache
}

// Producer writes ticks exactly as a QuFLX producer does, pipelined: many ticks' commands
// go in one round trip, each tick's push before its publish.
type Producer struct {
	client *Client
	opts   ProducerOptions
	keys   map[string][2]string // asset -> buffer key, channel

	series map[string]*[len(cacheTFs)]*model.CandleBuilder
	buf    []byte
	closed []closedCandle
}

var cacheTFs = [...]model.Timeframe{model.TF1m, model.TF5m, model.TF15m, model.TF1h, model.TF4h}

type closedCandle struct {
	asset string
	tf    int // index in cacheTFs
}

// NewProducer returns a producer. It is not safe for concurrent use.
func NewProducer(c *Client, opts ProducerOptions) *Producer {
	if opts.Version == 0 {
		opts.Version = ProducerV1
	}
	if opts.Cap <= 0 {
		opts.Cap = DefaultBufferCap
	}
	return &Producer{client: c, opts: opts, keys: map[string][2]string{},
		series: map[string]*[len(cacheTFs)]*model.CandleBuilder{}}
}

func (p *Producer) keysOf(asset string) (string, string) {
	k, ok := p.keys[asset]
	if !ok {
		k = [2]string{p.opts.TickKey.Key(asset, ""), p.opts.Channel.Key(asset, "")}
		p.keys[asset] = k
	}
	return k[0], k[1]
}

// Seed gives the producer an asset's candle history (1-minute candles), so that the cache
// it writes holds history and not only the candles seen since start.
func (p *Producer) Seed(asset string, oneMinute []model.Candle) {
	s := p.seriesOf(asset)
	for i, tf := range cacheTFs {
		s[i].Seed(model.Aggregate(oneMinute, tf))
	}
}

func (p *Producer) seriesOf(asset string) *[len(cacheTFs)]*model.CandleBuilder {
	s := p.series[asset]
	if s == nil {
		s = new([len(cacheTFs)]*model.CandleBuilder)
		for i, tf := range cacheTFs {
			s[i] = model.NewCandleBuilder(tf, DefaultCacheCandles)
		}
		p.series[asset] = s
	}
	return s
}

// Write pushes and publishes ticks. On error some of them may have been written: the
// caller retries the batch, as a producer would, and the flusher's idempotent store makes
// a repeat harmless.
func (p *Producer) Write(ctx context.Context, ticks []model.Tick) error {
	if len(ticks) == 0 {
		return nil
	}
	pipe := p.client.Pipeline()
	var lens []*redis.IntCmd
	for _, t := range ticks {
		key, channel := p.keysOf(t.Asset)
		p.buf = AppendPayload(p.buf[:0], t)
		payload := string(p.buf)
		switch p.opts.Version {
		case ProducerV1:
			pipe.LPush(ctx, key, payload)
			pipe.LTrim(ctx, key, 0, int64(p.opts.Cap-1))
		case ProducerV2:
			pipe.RPush(ctx, key, payload)
			lens = append(lens, pipe.LLen(ctx, key))
		}
		pipe.Publish(ctx, channel, payload)
		if p.opts.Cache != nil {
			p.track(t)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("produce %d ticks: %w", len(ticks), err)
	}
	if p.opts.Version == ProducerV2 {
		if err := p.trimV2(ctx, ticks, lens); err != nil {
			return err
		}
	}
	return p.writeClosedCandles(ctx)
}

// trimV2 trims, in a second round trip, the buffers that grew past the cap: the version-2
// producer's non-atomic LLEN-then-LTRIM.
func (p *Producer) trimV2(ctx context.Context, ticks []model.Tick, lens []*redis.IntCmd) error {
	over := map[string]bool{}
	for i, l := range lens {
		if l.Val() > int64(p.opts.Cap) {
			key, _ := p.keysOf(ticks[i].Asset)
			over[key] = true
		}
	}
	if len(over) == 0 {
		return nil
	}
	pipe := p.client.Pipeline()
	for key := range over {
		pipe.LTrim(ctx, key, int64(-p.opts.Cap), -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("produce: trim: %w", err)
	}
	return nil
}

// track folds a tick into the asset's candles and notes the timeframes whose candle closed.
func (p *Producer) track(t model.Tick) {
	s := p.seriesOf(t.Asset)
	for i, b := range s {
		before, had := b.Last()
		b.Add(t)
		if after, _ := b.Last(); had && after.Start > before.Start {
			p.closed = append(p.closed, closedCandle{t.Asset, i})
		}
	}
}

// writeClosedCandles refreshes the cache of every asset and timeframe whose candle closed.
func (p *Producer) writeClosedCandles(ctx context.Context) error {
	if len(p.closed) == 0 {
		return nil
	}
	done := map[closedCandle]bool{}
	var candles []model.Candle
	for _, cc := range p.closed {
		if done[cc] {
			continue
		}
		done[cc] = true
		candles = p.series[cc.asset][cc.tf].Candles(candles[:0])
		if _, err := p.opts.Cache.Put(ctx, cc.asset, cacheTFs[cc.tf], candles); err != nil {
			return err
		}
	}
	p.closed = p.closed[:0]
	return nil
}

// WriteCaches writes every asset's cache now (at start, so history is there at once).
func (p *Producer) WriteCaches(ctx context.Context) error {
	if p.opts.Cache == nil {
		return nil
	}
	for asset := range p.series {
		for i := range cacheTFs {
			p.closed = append(p.closed, closedCandle{asset, i})
		}
	}
	return p.writeClosedCandles(ctx)
}

// AppendPayload appends a tick as a QuFLX producer's JSON: a plain tick with float-second
// timestamps (milliseconds when the tick has no finer time, microseconds otherwise, as
// Python's time.time() gives), or a candle-as-tick update.
func AppendPayload(dst []byte, t model.Tick) []byte {
	dst = append(dst, `{"asset":`...)
	dst = strconv.AppendQuote(dst, t.Asset)
	if t.Kind == model.KindCandle {
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, t.UnixMicro/1e6, 10)
		for _, f := range [...]struct {
			name string
			v    float64
		}{{"open", t.Open}, {"high", t.High}, {"low", t.Low}, {"close", t.Price}, {"volume", t.Volume}} {
			dst = append(dst, `,"`...)
			dst = append(dst, f.name...)
			dst = append(dst, `":`...)
			dst = strconv.AppendFloat(dst, f.v, 'f', -1, 64)
		}
		dst = append(dst, `,"date":"`...)
		dst = time.UnixMicro(t.UnixMicro).UTC().AppendFormat(dst, "2006-01-02T15:04:05+00:00")
		return append(dst, `"}`...)
	}
	dst = append(dst, `,"price":`...)
	dst = strconv.AppendFloat(dst, t.Price, 'f', -1, 64)
	dst = append(dst, `,"timestamp":`...)
	dst = appendEpochSeconds(dst, t.UnixMicro)
	return append(dst, '}')
}

// appendEpochSeconds writes µs as decimal seconds, exactly (no float rounding).
func appendEpochSeconds(dst []byte, us int64) []byte {
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	digits := 6
	if frac%1000 == 0 {
		frac, digits = frac/1000, 3
	}
	dst = append(dst, '.')
	var tmp [8]byte
	s := strconv.AppendInt(tmp[:0], frac+pow10int(digits), 10) // a leading 1 keeps the zeros
	return append(dst, s[1:]...)
}

func pow10int(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
