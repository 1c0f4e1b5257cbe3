package redisdata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The batch flusher's claims (see package flusher for the protocol and why it is safe).
//
// For a tick buffer such as "ticks:EURUSD_otc" the flusher keeps, in the buffer's own
// cluster slot:
//
//	quflx:{ticks:EURUSD_otc}:claims         hash: claim id -> "<lease deadline ms>:<owner>"
//	quflx:{ticks:EURUSD_otc}:claim:<id>     list: the entries one claim took, never changed
//
// A buffer that carries its own hash tag ("ticks:{EURUSD}") gets "quflx:{EURUSD}:ticks:{EURUSD}"
// as the stem instead. The producers' key names are never touched.

// DefaultClaimNamespace is the first part of every key the flusher keeps.
const DefaultClaimNamespace = "quflx"

// LegacyClaimPrefix named the in-flight lists of quflx-tui's first flusher
// ("quflx:inflight:ticks:EURUSD_otc"); claims left under it are adopted at start.
const LegacyClaimPrefix = "quflx:inflight:"

// ClaimOptions configures a Claimer.
type ClaimOptions struct {
	// Namespace starts every key (default "quflx").
	Namespace string
	// Owner identifies this flusher in leases and starts its claim ids (default: a
	// random id). It must be unique among every process that ever used this Redis and
	// store: an id reused would meet an earlier claim's recorded progress.
	Owner string
	// Lease is how long a claim stays with its owner without renewal (default 15 s): a
	// killed flusher's claims go to another after at most this long.
	Lease time.Duration
	// MaxReadBytes bounds the entries one Read returns, in bytes (default 8 MiB).
	MaxReadBytes int
	// MaxEntryBytes: an entry longer than this never leaves Redis whole; Read returns its
	// first bytes, its length and its SHA-1 instead (default 64 KiB; a tick is ~100 bytes).
	MaxEntryBytes int
}

// Claimer makes, reads, renews and releases the flusher's claims. It is safe for
// concurrent use.
type Claimer struct {
	client *Client
	opts   ClaimOptions
	seq    atomic.Uint64
}

// NewInstanceID returns a random id for a flusher instance: 12 hex digits.
func NewInstanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewClaimer returns a claimer with defaults filled in.
func NewClaimer(c *Client, opts ClaimOptions) *Claimer {
	if opts.Namespace == "" {
		opts.Namespace = DefaultClaimNamespace
	}
	if opts.Owner == "" {
		opts.Owner = NewInstanceID()
	}
	if opts.Lease <= 0 {
		opts.Lease = 15 * time.Second
	}
	if opts.MaxReadBytes <= 0 {
		opts.MaxReadBytes = 8 << 20
	}
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = 64 << 10
	}
	return &Claimer{client: c, opts: opts}
}

// Options returns the options with defaults filled in.
func (cl *Claimer) Options() ClaimOptions { return cl.opts }

// ClaimRef names one claim.
type ClaimRef struct {
	Buffer   string // the tick buffer it was taken from
	ID       string // unique for all time: owner-sequence
	Key      string // the claim's list
	Registry string // the buffer's lease registry
	Len      int64  // entries; a claim never changes after it is made
}

func (cl *Claimer) stem(buffer string) (string, error) {
	return slotCompanion(cl.opts.Namespace+":", buffer)
}

// ClaimRegistryKey returns the lease registry a flusher keeps for a buffer (namespace ""
// is the default), for readers that want to know whether a buffer has claims.
func ClaimRegistryKey(namespace, buffer string) (string, error) {
	if namespace == "" {
		namespace = DefaultClaimNamespace
	}
	stem, err := slotCompanion(namespace+":", buffer)
	if err != nil {
		return "", err
	}
	return stem + ":claims", nil
}

// RegistryKey returns the lease registry of a buffer.
func (cl *Claimer) RegistryKey(buffer string) (string, error) {
	stem, err := cl.stem(buffer)
	if err != nil {
		return "", err
	}
	return stem + ":claims", nil
}

func (cl *Claimer) claimPrefix(buffer string) (string, error) {
	stem, err := cl.stem(buffer)
	if err != nil {
		return "", err
	}
	return stem + ":claim:", nil
}

// BufferOfRegistry returns the buffer a registry key belongs to.
func (cl *Claimer) BufferOfRegistry(registry string) (string, bool) {
	stem, ok := strings.CutSuffix(registry, ":claims")
	if !ok {
		return "", false
	}
	return companionKey(cl.opts.Namespace+":", stem)
}

// RegistryGlob matches every lease registry, for SCAN.
func (cl *Claimer) RegistryGlob() string { return escapeGlob(cl.opts.Namespace+":{") + "*:claims" }

func (cl *Claimer) ref(buffer, id string, n int64) (ClaimRef, error) {
	stem, err := cl.stem(buffer)
	if err != nil {
		return ClaimRef{}, err
	}
	return ClaimRef{Buffer: buffer, ID: id, Key: stem + ":claim:" + id, Registry: stem + ":claims", Len: n}, nil
}

func (cl *Claimer) nextID() string {
	return cl.opts.Owner + "-" + strconv.FormatUint(cl.seq.Add(1), 10)
}

func (cl *Claimer) leaseMs() int64 { return cl.opts.Lease.Milliseconds() }

// ClaimResult is the outcome of claiming one buffer.
type ClaimResult struct {
	Buffer string
	Claim  *ClaimRef // nil when the buffer was empty (or the claim failed)
	Err    error     // this buffer only (WRONGTYPE...)
}

// Claim makes a new claim of each buffer that holds entries, in one pipelined round trip.
// The error is for the round trip: then some claims may have been made without this
// caller learning of them; their leases run out and they are adopted like a dead
// flusher's. Nothing is ever lost to an unknown outcome, only delayed.
func (cl *Claimer) Claim(ctx context.Context, buffers []string) ([]ClaimResult, error) {
	results := make([]ClaimResult, len(buffers))
	var calls []scriptCall
	var at []int
	for i, b := range buffers {
		results[i].Buffer = b
		ref, err := cl.ref(b, cl.nextID(), 0)
		if err != nil {
			results[i].Err = fmt.Errorf("claim %s: %w", b, err)
			continue
		}
		results[i].Claim = &ref
		calls = append(calls, scriptCall{keys: []string{b, ref.Registry, ref.Key},
			args: []any{ref.ID, cl.opts.Owner, cl.leaseMs()}})
		at = append(at, i)
	}
	if len(calls) == 0 {
		return results, nil
	}
	cmds, err := runScripts(ctx, cl.client, claimScript, calls)
	if err != nil {
		// No node answered: some claims may have been made unseen; their leases run out
		// and they are adopted.
		return nil, fmt.Errorf("claim %d buffers: %w", len(calls), err)
	}
	for j, cmd := range cmds {
		r := &results[at[j]]
		vals, err := cmd.Int64Slice()
		switch {
		case err != nil:
			r.Claim, r.Err = nil, fmt.Errorf("claim %s: %w", r.Buffer, err)
		case len(vals) != 2:
			r.Claim, r.Err = nil, fmt.Errorf("claim %s: unexpected reply %v", r.Buffer, vals)
		case vals[0] == 0:
			r.Claim = nil
		default:
			r.Claim.Len = vals[1]
		}
	}
	return results, nil
}

// Renew extends the leases of claims the caller holds, one round trip for all, and
// returns those it no longer owns (another flusher adopted them after the lease ran out:
// leave them to it; finishing one anyway would be harmless, only wasted work).
func (cl *Claimer) Renew(ctx context.Context, held []ClaimRef) (lost []ClaimRef, err error) {
	byRegistry := map[string][]ClaimRef{}
	var order []string
	for _, c := range held {
		if byRegistry[c.Registry] == nil {
			order = append(order, c.Registry)
		}
		byRegistry[c.Registry] = append(byRegistry[c.Registry], c)
	}
	calls := make([]scriptCall, len(order))
	for i, reg := range order {
		args := []any{cl.opts.Owner, cl.leaseMs()}
		for _, c := range byRegistry[reg] {
			args = append(args, c.ID)
		}
		calls[i] = scriptCall{keys: []string{reg}, args: args}
	}
	cmds, err := runScripts(ctx, cl.client, renewScript, calls)
	if err != nil {
		return nil, fmt.Errorf("renew %d leases: %w", len(held), err)
	}
	var errs []error
	for i, cmd := range cmds {
		oks, err := cmd.Int64Slice()
		if err != nil {
			errs = append(errs, fmt.Errorf("renew leases in %s: %w", order[i], err))
			continue
		}
		for j, c := range byRegistry[order[i]] {
			if j < len(oks) && oks[j] == 0 {
				lost = append(lost, c)
			}
		}
	}
	return lost, errors.Join(errs...)
}

// Abandon ends the leases the caller holds on claims, so that any flusher may adopt them
// at once.
func (cl *Claimer) Abandon(ctx context.Context, held []ClaimRef) error {
	byRegistry := map[string][]any{}
	for _, c := range held {
		if byRegistry[c.Registry] == nil {
			byRegistry[c.Registry] = []any{cl.opts.Owner}
		}
		byRegistry[c.Registry] = append(byRegistry[c.Registry], c.ID)
	}
	var calls []scriptCall
	for reg, args := range byRegistry {
		calls = append(calls, scriptCall{keys: []string{reg}, args: args})
	}
	cmds, err := runScripts(ctx, cl.client, abandonScript, calls)
	if err != nil {
		return fmt.Errorf("abandon %d claims: %w", len(held), err)
	}
	var errs []error
	for _, cmd := range cmds {
		errs = append(errs, cmd.Err())
	}
	return errors.Join(errs...)
}

// Adopt takes over the claims of the given buffers whose leases ran out, at most max in
// all, in one round trip. Each buffer's script takes up to max, so more may be leased than
// wanted: those are returned as surplus, for the caller to Abandon.
func (cl *Claimer) Adopt(ctx context.Context, buffers []string, max int) (adopted, surplus []ClaimRef, err error) {
	if max <= 0 || len(buffers) == 0 {
		return nil, nil, nil
	}
	var calls []scriptCall
	var callBuffers []string
	for _, b := range buffers {
		reg, err1 := cl.RegistryKey(b)
		prefix, err2 := cl.claimPrefix(b)
		if err1 != nil || err2 != nil {
			continue // such a buffer never had a claim
		}
		calls = append(calls, scriptCall{keys: []string{reg}, args: []any{cl.opts.Owner, cl.leaseMs(), max, prefix}})
		callBuffers = append(callBuffers, b)
	}
	cmds, err := runScripts(ctx, cl.client, adoptScript, calls)
	if err != nil {
		return nil, nil, fmt.Errorf("adopt claims of %d buffers: %w", len(calls), err)
	}
	var errs []error
	for i, cmd := range cmds {
		vals, err := cmd.Slice()
		if err != nil {
			errs = append(errs, fmt.Errorf("adopt claims of %s: %w", callBuffers[i], err))
			continue
		}
		for j := 0; j+1 < len(vals); j += 2 {
			id, _ := vals[j].(string)
			n, _ := vals[j+1].(int64)
			if ref, err := cl.ref(callBuffers[i], id, n); err == nil && id != "" {
				adopted = append(adopted, ref)
			}
		}
	}
	if len(adopted) > max {
		adopted, surplus = adopted[:max], adopted[max:]
	}
	return adopted, surplus, errors.Join(errs...)
}

// Oversize describes an entry too long to read whole.
type Oversize struct {
	Len  int64  // bytes
	SHA1 string // of the whole entry, hex
}

// Read is a bounded read of a claim.
type Read struct {
	Entries  []string         // consecutive entries from the start asked for
	Oversize map[int]Oversize // index in Entries -> the entry was cut to its first bytes
}

// oversizeKeep is how much of an oversize entry is read, to show what it was.
const oversizeKeep = 256

// Read returns up to count entries of a claim from start, bounded in bytes as well
// (MaxReadBytes, MaxEntryBytes): however large the entries, one reply stays small. It
// returns at least one entry while there is one.
func (cl *Claimer) Read(ctx context.Context, c ClaimRef, start int64, count int) (Read, error) {
	cmd := readScript.Run(ctx, cl.client, []string{c.Key},
		start, count, cl.opts.MaxReadBytes, cl.opts.MaxEntryBytes, oversizeKeep)
	vals, err := cmd.Slice()
	if err != nil {
		return Read{}, fmt.Errorf("read claim %s: %w", c.Key, err)
	}
	if len(vals) != 2 {
		return Read{}, fmt.Errorf("read claim %s: unexpected reply of %d parts", c.Key, len(vals))
	}
	entries, _ := vals[0].([]any)
	big, _ := vals[1].([]any)
	r := Read{Entries: make([]string, len(entries))}
	for i, e := range entries {
		r.Entries[i], _ = e.(string)
	}
	for i := 0; i+2 < len(big); i += 3 {
		idx, _ := big[i].(int64)
		n, _ := big[i+1].(int64)
		sum, _ := big[i+2].(string)
		if r.Oversize == nil {
			r.Oversize = map[int]Oversize{}
		}
		r.Oversize[int(idx)] = Oversize{Len: n, SHA1: sum}
	}
	return r, nil
}

// Release deletes claims whose every entry is committed, in one round trip, and returns
// those it deleted (on a cluster with a node down, the others still are). Safe to repeat,
// and safe when another flusher released them first.
func (cl *Claimer) Release(ctx context.Context, claims []ClaimRef) ([]ClaimRef, error) {
	if len(claims) == 0 {
		return nil, nil
	}
	calls := make([]scriptCall, len(claims))
	for i, c := range claims {
		calls[i] = scriptCall{keys: []string{c.Registry, c.Key}, args: []any{c.ID}}
	}
	cmds, err := runScripts(ctx, cl.client, releaseScript, calls)
	if err != nil {
		return nil, fmt.Errorf("release %d claims: %w", len(claims), err)
	}
	var released []ClaimRef
	var errs []error
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			errs = append(errs, fmt.Errorf("release claim %s: %w", claims[i].Key, err))
			continue
		}
		released = append(released, claims[i])
	}
	return released, errors.Join(errs...)
}

// Registries finds the buffers that have a lease registry (claims possibly left by a
// flusher that died), on every node.
func (cl *Claimer) Registries(ctx context.Context) ([]string, error) {
	var mu sync.Mutex
	var buffers []string
	err := cl.client.ScanEach(ctx, cl.RegistryGlob(), 1000, func(keys []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			if b, ok := cl.BufferOfRegistry(k); ok {
				buffers = append(buffers, b)
			}
		}
	})
	return buffers, err
}

// AdoptLegacy turns the in-flight lists left by the first flusher
// ("quflx:inflight:<buffer>", single Redis node only) into claims owned by the caller,
// those of the buffers only accepts (nil: all).
func (cl *Claimer) AdoptLegacy(ctx context.Context, only func(buffer string) bool) ([]ClaimRef, error) {
	var mu sync.Mutex
	var legacy []string
	err := cl.client.ScanEach(ctx, escapeGlob(LegacyClaimPrefix)+"*", 1000, func(keys []string) {
		mu.Lock()
		legacy = append(legacy, keys...)
		mu.Unlock()
	})
	if err != nil || len(legacy) == 0 {
		return nil, err
	}
	var adopted []ClaimRef
	var errs []error
	for _, key := range legacy {
		buffer := strings.TrimPrefix(key, LegacyClaimPrefix)
		if only != nil && !only(buffer) {
			continue
		}
		ref, err := cl.ref(buffer, cl.nextID(), 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, err := legacyAdoptScript.Run(ctx, cl.client, []string{key, ref.Registry, ref.Key},
			ref.ID, cl.opts.Owner, cl.leaseMs()).Int64()
		if err != nil {
			errs = append(errs, fmt.Errorf("adopt %s: %w", key, err))
			continue
		}
		if n > 0 {
			ref.Len = n
			adopted = append(adopted, ref)
		}
	}
	return adopted, errors.Join(errs...)
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
