package model

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The states an alert moves between, as notifications name them.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// The kinds of price rules.
const (
	RulePriceAbove = "price_above"
	RulePriceBelow = "price_below"
)

// DefaultAlertHold is how long a rule's condition must hold before it fires, and be gone
// before it resolves, unless set otherwise.
const DefaultAlertHold = 5 * time.Second

// PriceRule is a price level on one asset: "EURUSD_otc>1.0900" is true while the asset's
// last price is above 1.0900.
type PriceRule struct {
	Asset string
	Above bool // >; false: <
	Level float64
	Text  string // as written, without spaces
}

// ParsePriceRule reads ASSET>LEVEL or ASSET<LEVEL.
func ParsePriceRule(s string) (PriceRule, error) {
	text := strings.Join(strings.Fields(s), "")
	i := strings.IndexAny(text, "<>")
	if i < 0 {
		return PriceRule{}, fmt.Errorf("%q: want ASSET>LEVEL or ASSET<LEVEL, e.g. EURUSD_otc>1.0900", s)
	}
	asset, op, level := text[:i], text[i], text[i+1:]
	if asset == "" {
		return PriceRule{}, fmt.Errorf("%q: no asset before %c", s, op)
	}
	if strings.ContainsAny(level, "<>=") {
		return PriceRule{}, fmt.Errorf("%q: one < or > only (no =): a rule is true strictly above or below its level", s)
	}
	if !utf8Printable(asset) {
		return PriceRule{}, fmt.Errorf("%q: the asset holds control characters", s)
	}
	v, err := strconv.ParseFloat(level, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return PriceRule{}, fmt.Errorf("%q: level %q is not a number", s, level)
	}
	return PriceRule{Asset: asset, Above: op == '>', Level: v, Text: text}, nil
}

func utf8Printable(s string) bool { return Printable(s) == s }

// Kind is the rule's name in notifications: price_above or price_below.
func (r PriceRule) Kind() string {
	if r.Above {
		return RulePriceAbove
	}
	return RulePriceBelow
}

func (r PriceRule) holds(price float64) bool {
	if r.Above {
		return price > r.Level
	}
	return price < r.Level
}

func (r PriceRule) side() string {
	if r.Above {
		return "above"
	}
	return "below"
}

// Alert is one rule's alert, as a notification tells it.
type Alert struct {
	Rule    string // a Finding's kind (feed_stale, ...) or price_above, price_below
	Subject string // what it is about (a key, an asset, a flusher, a server; a price rule's text)
	Asset   string // "" when it is about no one asset
	// Value is the figure judged (an age in seconds, a fill fraction, a price), Threshold
	// the limit crossed; nil when the rule has none.
	Value, Threshold *float64
	Reason           string
}

// AlertClearedPrefix starts the reason of a health alert that resolved: the reason it
// fired with follows.
const AlertClearedPrefix = "cleared: "

// AlertTransition is an alert firing or resolving at At.
type AlertTransition struct {
	State string // AlertFiring or AlertResolved
	At    time.Time
	Alert
}

// AlertInput is what the rules are judged from at one moment. A nil part is unchanged
// since the last input: a rule keeps its condition until told otherwise.
type AlertInput struct {
	// Health is a new judgement of the pipeline. Every finding in it is a rule, whatever
	// its kind (FindingsOf): a judgement model.JudgeHealth learns is an alert at once.
	// A down health (the server could not be read) says nothing of the other findings:
	// they keep their condition, neither firing nor resolving, until the server answers.
	Health *Health
	// Price returns an asset's last price, ok false when there is none (that price rule
	// keeps its condition).
	Price func(asset string) (price float64, ok bool)
}

// AlertOptions configures Alerts.
type AlertOptions struct {
	// Hold is how long a rule's condition must hold before it fires, and be gone before
	// it resolves: a condition that flaps within Hold changes nothing (0: at once).
	Hold   time.Duration
	Prices []PriceRule
}

// Alerts is the alert engine: each rule fires once when its condition has held for the
// hold time and resolves once when it has been gone as long, so that two transitions of
// one rule are never closer than the hold. It is a state machine fed with (now, input)
// that returns the transitions: no clock, no I/O, not safe for concurrent use (its
// driver, alert.Runner, serialises it).
type Alerts struct {
	hold  time.Duration
	rules map[string]*alertRule
	price []*alertRule // the price rules, in the order given
	seq   uint64
}

type ruleState int

const (
	ruleIdle     ruleState = iota
	rulePending            // true, not yet for the hold
	ruleFiring             // fired
	ruleClearing           // fired, false, not yet for the hold
)

type alertRule struct {
	key    string
	price  *PriceRule // nil: a health finding
	cond   bool
	now    Alert // as last observed true (or, for a price, last observed)
	fired  Alert // as sent when it fired
	state  ruleState
	since  time.Time // of the pending or clearing state; when it fired, while firing
	seq    uint64    // order of firing: the newest is shown
	firing time.Time
}

// NewAlerts returns an engine with the price rules of opts and a rule for every health
// finding it will be given.
func NewAlerts(opts AlertOptions) *Alerts {
	a := &Alerts{hold: max(0, opts.Hold), rules: map[string]*alertRule{}}
	for i := range opts.Prices {
		p := opts.Prices[i]
		key := "price|" + p.Text
		if _, dup := a.rules[key]; dup {
			continue
		}
		th := p.Level
		r := &alertRule{key: key, price: &p,
			now: Alert{Rule: p.Kind(), Subject: p.Text, Asset: p.Asset, Threshold: &th}}
		a.rules[key] = r
		a.price = append(a.price, r)
	}
	return a
}

// Hold is the engine's hold time.
func (a *Alerts) Hold() time.Duration { return a.hold }

// Observe takes the input at now and returns the transitions it causes, if any (also
// those of holds that ended since the last call: call it with an empty input at NextDue).
func (a *Alerts) Observe(now time.Time, in AlertInput) []AlertTransition {
	if h := in.Health; h != nil {
		a.observeHealth(*h)
	}
	if in.Price != nil {
		for _, r := range a.price {
			if p, ok := in.Price(r.price.Asset); ok {
				r.cond = r.price.holds(p)
				v := p
				r.now.Value = &v
				r.now.Reason = fmt.Sprintf("%s %s %s %s", r.price.Asset, formatPrice(p), r.price.side(),
					formatPrice(r.price.Level))
			}
		}
	}
	var out []AlertTransition
	keys := make([]string, 0, len(a.rules))
	for k := range a.rules {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same input, the same transitions in the same order
	for _, k := range keys {
		r := a.rules[k]
		if t, ok := a.step(r, now); ok {
			out = append(out, t)
		}
		if r.price == nil && r.state == ruleIdle && !r.cond {
			delete(a.rules, k) // a finding gone for good: assets come and go all day
		}
	}
	return out
}

func (a *Alerts) observeHealth(h Health) {
	down := h.Status == Down
	seen := map[string]bool{}
	for _, f := range FindingsOf(h) {
		key := "health|" + f.Kind + "|" + f.Subject
		if seen[key] {
			continue
		}
		seen[key] = true
		r := a.rules[key]
		if r == nil {
			r = &alertRule{key: key}
			a.rules[key] = r
		}
		r.cond = true
		r.now = Alert{Rule: f.Kind, Subject: f.Subject, Asset: f.Asset, Reason: f.Text}
		if f.HasValue {
			v, th := f.Value, f.Threshold
			r.now.Value, r.now.Threshold = &v, &th
		}
	}
	for key, r := range a.rules {
		if r.price != nil || seen[key] {
			continue
		}
		// A down server hides every finding but its own being down.
		if !down || r.now.Rule == FindingServerDown {
			r.cond = false
		}
	}
}

// step moves one rule's state machine to now.
func (a *Alerts) step(r *alertRule, now time.Time) (AlertTransition, bool) {
	switch r.state {
	case ruleIdle:
		if r.cond {
			r.state, r.since = rulePending, now
		}
	case ruleFiring:
		if !r.cond {
			r.state, r.since = ruleClearing, now
		}
	}
	switch r.state {
	case rulePending:
		if !r.cond {
			r.state = ruleIdle
		} else if now.Sub(r.since) >= a.hold {
			a.seq++
			r.state, r.firing, r.seq, r.fired = ruleFiring, now, a.seq, r.now
			return AlertTransition{State: AlertFiring, At: now, Alert: r.fired}, true
		}
	case ruleClearing:
		if r.cond {
			r.state = ruleFiring
		} else if now.Sub(r.since) >= a.hold {
			r.state = ruleIdle
			return AlertTransition{State: AlertResolved, At: now, Alert: r.resolved()}, true
		}
	}
	return AlertTransition{}, false
}

// resolved is what a resolution says: the rule as it fired, with the price now (a health
// finding that is gone has no figure now) and why it cleared.
func (r *alertRule) resolved() Alert {
	al := r.fired
	if r.price != nil {
		al.Value = r.now.Value
		if al.Value != nil {
			al.Reason = fmt.Sprintf("%s %s no longer %s %s", r.price.Asset, formatPrice(*al.Value), r.price.side(),
				formatPrice(r.price.Level))
		}
		return al
	}
	al.Value = nil
	al.Reason = AlertClearedPrefix + r.fired.Reason
	return al
}

// NextDue is when a hold under way ends (zero when none is): Observe then, even with no
// new input, to fire or resolve on time.
func (a *Alerts) NextDue() time.Time {
	var due time.Time
	for _, r := range a.rules {
		if r.state == rulePending || r.state == ruleClearing {
			if t := r.since.Add(a.hold); due.IsZero() || t.Before(due) {
				due = t
			}
		}
	}
	return due
}

// FiringAlert is an alert that is firing and since when.
type FiringAlert struct {
	Alert
	Since time.Time
}

// Firing returns the alerts firing, newest first.
func (a *Alerts) Firing() []FiringAlert {
	var rules []*alertRule
	for _, r := range a.rules {
		if r.state == ruleFiring || r.state == ruleClearing {
			rules = append(rules, r)
		}
	}
	slices.SortFunc(rules, func(x, y *alertRule) int { return cmp.Compare(y.seq, x.seq) })
	out := make([]FiringAlert, len(rules))
	for i, r := range rules {
		out[i] = FiringAlert{Alert: r.fired, Since: r.firing}
	}
	return out
}

// formatPrice writes a price as short as it reads back.
func formatPrice(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }
