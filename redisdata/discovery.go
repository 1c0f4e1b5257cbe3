package redisdata

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// vouch admits an asset a key was found for; true when it is tracked.
func (p *Poller) vouch(asset string) bool {
	if p.opts.Admission == nil {
		return true
	}
	p.opts.Admission.Vouch(asset)
	return p.opts.Admission.Admitted(asset)
}

// queueCandidates adds, for names the admission refused, a check of their buffer and of
// a flusher's claims of it (a drained buffer may be momentarily absent).
func (p *Poller) queueCandidates(ctx context.Context, pipe redis.Pipeliner) (names []string, cmds []*redis.IntCmd) {
	if p.opts.Admission == nil {
		return nil, nil
	}
	for _, name := range p.opts.Admission.Candidates(p.opts.MaxCandidateChecks) {
		buffer := p.opts.TickKey.Key(name, "")
		keys := []string{buffer}
		if reg, err := ClaimRegistryKey("", buffer); err == nil {
			keys = append(keys, reg)
		}
		names = append(names, name)
		cmds = append(cmds, pipe.Exists(ctx, keys...))
	}
	return names, cmds
}

// readCandidates admits the candidates a key vouches for and polls their buffers; the
// others are forgotten until they are seen again.
func (p *Poller) readCandidates(names []string, cmds []*redis.IntCmd) {
	if p.opts.Admission == nil {
		return
	}
	var found, missing []string
	for i, cmd := range cmds {
		if n, err := cmd.Result(); err == nil && n > 0 {
			found = append(found, names[i])
		} else if err == nil {
			missing = append(missing, names[i])
		}
	}
	p.opts.Admission.Drop(missing...)
	p.addAssetsLocked(p.opts.Admission.Vouch(found...))
}

// Discover runs SCAN for tick and cache keys now.
func (p *Poller) Discover(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discoverLocked(ctx)
}

func (p *Poller) discoverLocked(ctx context.Context) error {
	p.discoveredAt = time.Now()
	fixed := len(p.opts.Assets) > 0
	buffers := slices.Clone(p.buffers)
	var tickKeys []string
	if !fixed {
		keys, err := p.scan(ctx, p.opts.TickKey.Glob())
		if err != nil {
			p.discoverErr = err
			return err
		}
		tickKeys = keys
		for _, k := range keys {
			asset, _, ok := p.opts.TickKey.Match(k)
			// A key name is anyone's choice: one that cannot be an asset is not one.
			if !ok || model.PlausibleAsset(asset) != "" || !p.vouch(asset) {
				continue
			}
			if !slices.ContainsFunc(buffers, func(b bufferKey) bool { return b.asset == asset }) &&
				len(buffers) < p.opts.MaxKeys {
				buffers = append(buffers, bufferKey{asset, k})
			}
		}
	}
	keys, err := p.scan(ctx, p.opts.CacheKey.Glob())
	if err != nil {
		p.discoverErr = err
		return err
	}
	var only []string
	if fixed {
		only = p.opts.Assets
	}
	caches := cacheKeysOf(p.opts.CacheKey, keys, only, p.opts.MaxKeys)
	caches = slices.DeleteFunc(caches, func(c cacheKey) bool { return !p.vouch(c.asset) })
	if !fixed {
		buffers = p.dropVanished(buffers, tickKeys, caches)
	}
	p.buffers, p.caches, p.discoverErr = buffers, caches, nil
	p.sortBuffersLocked()
	return nil
}

// vanishedAfter is how many discoveries in a row must find none of an asset's keys before
// it is no longer polled and its place among the vouched assets is given back: a buffer a
// flusher drains may be absent at one SCAN.
const vanishedAfter = 2

// dropVanished removes from buffers those whose asset no key vouches for any more.
func (p *Poller) dropVanished(buffers []bufferKey, bufferKeys []string, caches []cacheKey) []bufferKey {
	found := map[string]bool{}
	for _, k := range bufferKeys {
		if asset, _, ok := p.opts.TickKey.Match(k); ok {
			found[asset] = true
		}
	}
	for _, c := range caches {
		found[c.asset] = true
	}
	for a := range p.flushed {
		found[a] = true
	}
	var gone []string
	buffers = slices.DeleteFunc(buffers, func(b bufferKey) bool {
		if found[b.asset] || (p.opts.Admission != nil && p.opts.Admission.Named(b.asset)) {
			delete(p.missed, b.asset)
			return false
		}
		p.missed[b.asset]++
		if p.missed[b.asset] < vanishedAfter {
			return false
		}
		delete(p.missed, b.asset)
		gone = append(gone, b.asset)
		return true
	})
	p.extraAssets = slices.DeleteFunc(p.extraAssets, func(a string) bool { return slices.Contains(gone, a) })
	if p.opts.Admission != nil && len(gone) > 0 {
		p.opts.Admission.Unvouch(gone...)
	}
	return buffers
}

// cacheKeysOf keeps the keys that match the cache pattern with a known timeframe (and, when
// only is set, one of those assets), sorted by asset and timeframe.
func cacheKeysOf(pattern model.KeyPattern, keys, only []string, limit int) []cacheKey {
	var caches []cacheKey
	for _, k := range keys {
		asset, tfText, ok := pattern.Match(k)
		if !ok || model.PlausibleAsset(asset) != "" {
			continue
		}
		tf, err := model.ParseTimeframe(tfText)
		if err != nil || (len(only) > 0 && !slices.Contains(only, asset)) {
			continue
		}
		if len(caches) < limit {
			caches = append(caches, cacheKey{asset: asset, tfText: tfText, key: k, tf: tf})
		}
	}
	slices.SortFunc(caches, func(a, b cacheKey) int {
		if c := compareStrings(a.asset, b.asset); c != 0 {
			return c
		}
		return int(a.tf - b.tf)
	})
	return caches
}

// scan walks the keyspace for the poller's discovery.
func (p *Poller) scan(ctx context.Context, glob string) ([]string, error) {
	return ScanKeys(ctx, p.client, glob, p.opts.ScanCount, 4*p.opts.MaxKeys)
}

// ScanKeys walks the keyspace with SCAN MATCH glob COUNT count, never KEYS (which blocks
// the server for the whole walk), on every master of a cluster (SCAN reaches one node),
// and stops after limit keys. The keys come back sorted.
func ScanKeys(ctx context.Context, c *Client, glob string, count int64, limit int) ([]string, error) {
	var mu sync.Mutex
	var keys []string
	full := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(keys) >= limit
	}
	err := c.ForEachNode(ctx, func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for !full() {
			batch, next, err := node.Scan(ctx, cursor, glob, count).Result()
			if err != nil {
				return fmt.Errorf("scan %s: %w", glob, err)
			}
			mu.Lock()
			keys = append(keys, batch...)
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
		return nil
	})
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return keys[:min(len(keys), limit)], err
}
