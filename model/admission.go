package model

import (
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultMaxAssets bounds the assets a monitor or flusher tracks when not told otherwise:
// QuFLX trades about a hundred instruments.
const DefaultMaxAssets = 500

// AdmissionOptions configures an Admission.
type AdmissionOptions struct {
	// Named assets (--assets) are always admitted, beyond Max too.
	Named []string
	// Max bounds the assets a key vouches for (Vouch), and apart from them the assets
	// admitted for a payload alone (Open): junk names can never crowd out an asset a key
	// vouches for (default DefaultMaxAssets).
	Max int
	// Open admits any plausible name seen in a payload, up to Max: for topologies with no
	// keys to vouch for an asset (pub/sub only, as QuFLX v2), and for counting arrivals
	// before a key is found. Otherwise a name must be named or vouched for (Vouch).
	Open bool
	// MaxCandidates bounds the remembered names seen but not admitted (default 1000).
	MaxCandidates int
}

// Admission decides which asset names a monitor or a flusher tracks. Anyone who can
// PUBLISH chooses the names in payloads and channels; each tracked asset costs memory
// (candle builders) and Redis load (a buffer to poll), so a name is admitted only when
// the user named it, a key vouches for it (a tick buffer or a cache key exists), or, in
// pub/sub-only topologies, up to a maximum. What is refused is counted. Safe for
// concurrent use; Admit, called per tick, takes no lock for a name already admitted.
type Admission struct {
	opts     AdmissionOptions
	admitted atomic.Pointer[map[string]bool] // replaced whole on change: Admit reads it lock-free
	vouched  map[string]bool                 // guarded by mu; the rest of admitted is named or open

	mu          sync.Mutex
	candidates  []string // seen, not admitted, newest last
	refused     atomic.Int64
	lastRefused atomic.Pointer[string]
}

// NewAdmission returns an admission with the named assets admitted.
func NewAdmission(opts AdmissionOptions) *Admission {
	if opts.Max <= 0 {
		opts.Max = DefaultMaxAssets
	}
	if opts.MaxCandidates <= 0 {
		opts.MaxCandidates = 1000
	}
	a := &Admission{opts: opts, vouched: map[string]bool{}}
	admitted := make(map[string]bool, len(opts.Named))
	for _, n := range opts.Named {
		admitted[n] = true
	}
	a.admitted.Store(&admitted)
	return a
}

// Admit reports whether ticks of asset are tracked, admitting it when the policy allows;
// a refused name is counted and remembered as a candidate for Vouch.
func (a *Admission) Admit(asset string) bool {
	if (*a.admitted.Load())[asset] {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	admitted := *a.admitted.Load()
	if admitted[asset] {
		return true
	}
	if a.opts.Open && a.openLocked(admitted) < a.opts.Max && PlausibleAsset(asset) == "" {
		a.addLocked(asset)
		return true
	}
	a.refused.Add(1)
	if PlausibleAsset(asset) != "" {
		return false // no key could vouch for it: not remembered (it may be huge)
	}
	name := asset
	a.lastRefused.Store(&name)
	if !slices.Contains(a.candidates, asset) {
		if len(a.candidates) >= a.opts.MaxCandidates {
			a.candidates = a.candidates[1:]
		}
		a.candidates = append(a.candidates, asset)
	}
	return false
}

// Open reports whether names are admitted for a payload alone.
func (a *Admission) Open() bool { return a.opts.Open }

// Named reports whether asset was named (it is never refused nor forgotten).
func (a *Admission) Named(asset string) bool { return slices.Contains(a.opts.Named, asset) }

// Admitted reports whether asset is tracked, without admitting or counting anything.
func (a *Admission) Admitted(asset string) bool { return (*a.admitted.Load())[asset] }

// Vouch admits assets a key vouches for (a tick buffer or a cache key was found), up to
// Max; it returns those it admitted just now.
func (a *Admission) Vouch(assets ...string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var added []string
	for _, asset := range assets {
		if a.vouched[asset] || a.Named(asset) || PlausibleAsset(asset) != "" || len(a.vouched) >= a.opts.Max {
			continue
		}
		a.vouched[asset] = true
		if !(*a.admitted.Load())[asset] {
			a.addLocked(asset)
			added = append(added, asset)
		}
		if i := slices.Index(a.candidates, asset); i >= 0 {
			a.candidates = slices.Delete(a.candidates, i, i+1)
		}
	}
	return added
}

// Unvouch gives back the places of assets no key vouches for any more (their buffer and
// cache keys are gone); named ones stay.
func (a *Admission) Unvouch(assets ...string) {
	a.drop(assets, func(asset string) bool { return a.vouched[asset] })
}

// Forget stops tracking assets (idle ones), unless named.
func (a *Admission) Forget(assets ...string) {
	a.drop(assets, func(string) bool { return true })
}

// drop removes the assets that are not named and pass ok from the admitted set, which
// readers share lock-free: a new copy replaces it.
func (a *Admission) drop(assets []string, ok func(asset string) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	next := make(map[string]bool, len(*a.admitted.Load()))
	for k := range *a.admitted.Load() {
		next[k] = true
	}
	for _, asset := range assets {
		if ok(asset) && !slices.Contains(a.opts.Named, asset) {
			delete(a.vouched, asset)
			delete(next, asset)
		}
	}
	a.admitted.Store(&next)
}

// Candidates returns up to n names seen but not admitted, newest first, for a caller to
// check whether a key vouches for them.
func (a *Admission) Candidates(n int) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, min(n, len(a.candidates)))
	for i := len(a.candidates) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, a.candidates[i])
	}
	return out
}

// Drop forgets candidates that were checked and found without a key.
func (a *Admission) Drop(names ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.candidates = slices.DeleteFunc(a.candidates, func(c string) bool { return slices.Contains(names, c) })
}

// AdmissionStats says what an admission holds and refused.
type AdmissionStats struct {
	Admitted    int
	Max         int
	Refused     int64  // ticks of names not admitted
	LastRefused string // printable
	Candidates  int
}

// Stats returns the counters.
func (a *Admission) Stats() AdmissionStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AdmissionStats{Admitted: len(*a.admitted.Load()), Max: a.opts.Max, Refused: a.refused.Load(),
		Candidates: len(a.candidates)}
	if p := a.lastRefused.Load(); p != nil {
		st.LastRefused = Printable(*p)
	}
	return st
}

// openLocked counts the assets admitted for a payload alone.
func (a *Admission) openLocked(admitted map[string]bool) int {
	n := len(admitted) - len(a.vouched)
	for _, named := range a.opts.Named {
		if admitted[named] && !a.vouched[named] {
			n--
		}
	}
	return n
}

// addLocked admits one asset, copying the map so that Admit can read it without a lock.
func (a *Admission) addLocked(asset string) {
	old := *a.admitted.Load()
	next := make(map[string]bool, len(old)+1)
	for k := range old {
		next[k] = true
	}
	next[asset] = true
	a.admitted.Store(&next)
}
