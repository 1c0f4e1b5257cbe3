package ui

import (
	"fmt"
	"strconv"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
)

// cachePanel shows the candle cache: the application's hit rate, then every key with its
// candle count and a TTL that counts down between polls. Its keys scroll.
type cachePanel struct {
	scrollPane
	poll *Poll
}

func newCachePanel(ctx *frameContext) *cachePanel {
	// Not list rows: the borders and the hit-rate line.
	return &cachePanel{scrollPane: newScrollPane(ctx, true, 3)}
}

// SetPoll shows a poll's cache keys.
func (c *cachePanel) SetPoll(p *Poll) {
	c.poll = p
	n := 0
	if p != nil && p.Snapshot != nil {
		n = len(p.Snapshot.Caches)
	}
	c.scroll.SetTotal(n)
	c.invalidate()
}

func (c *cachePanel) render() string {
	t := c.ctx.theme
	title := t.Title.Render("Cache")
	switch n := c.scroll.total; {
	case n == 1:
		title += t.Muted.Render(" 1 key")
	case n > 1:
		title += t.Muted.Render(" " + strconv.Itoa(n) + " keys")
	}
	return c.box(title, c.body())
}

// body is the hit rate, then the keys in view.
func (c *cachePanel) body() []string {
	t, p, now, w := c.ctx.theme, c.poll, c.ctx.now, c.w-2
	if p == nil || p.Snapshot == nil {
		return []string{t.Muted.Render("no reading yet")}
	}
	st := p.Cache
	summary := "app hit "
	if rate, ok := st.HitRate(); ok {
		summary += fmt.Sprintf("%.0f%% (%d/%d)", 100*rate, st.Hits, st.Hits+st.Misses)
	} else {
		summary += t.Muted.Render("no lookups yet")
	}
	if st.HitLatency.Count > 0 {
		summary += t.Muted.Render("  hit " + format.Latency(st.HitLatency.P50))
	}
	lines := []string{summary}
	keys := p.Snapshot.Caches
	if len(keys) == 0 {
		return append(lines, t.Muted.Render("no cache keys found"))
	}
	elapsed := now.Sub(p.At)
	start, end := c.scroll.Window()
	for _, k := range keys[start:end] {
		count := "?"
		if k.Candles >= 0 {
			count = strconv.Itoa(k.Candles)
		}
		// The TTL is coloured by state: fresh above five minutes (QuFLX's own threshold),
		// then expiring; a key that is gone says so.
		var ttl string
		switch {
		case k.Err != nil:
			ttl = t.Bad.Render("error")
		case !k.Exists:
			ttl = t.Bad.Render("expired")
		case k.NoExpiry:
			ttl = t.Muted.Render("no ttl")
		default:
			left := max(0, k.TTL-elapsed)
			switch {
			case left <= 0:
				ttl = t.Bad.Render("expired")
			case left > model.FreshTTL:
				ttl = t.Good.Render(format.Countdown(left))
			default:
				ttl = t.Warn.Render(format.Countdown(left))
			}
		}
		figures := fmt.Sprintf(" %-3s %3s ", k.TimeframeText, count)
		assetW := max(6, w-len(figures)-7)
		lines = append(lines, fit(cut(k.Asset, assetW, t.G.Ellipsis), assetW)+figures+fitRight(ttl, 7))
	}
	return lines
}
