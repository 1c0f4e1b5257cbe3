package ui

// scroller is a window of visible rows over total rows: offset is the first row shown.
// The offset stays within [0, total-visible], so a list never scrolls past its last row
// and a list that fits does not scroll at all. Every method that moves it reports
// whether the offset changed (the caller's cache is stale only then).
type scroller struct {
	offset, visible, total int
}

func newScroller() scroller { return scroller{visible: 1} }

// SetVisible sets how many rows fit (at least one).
func (s *scroller) SetVisible(n int) bool {
	s.visible = max(1, n)
	return s.Clamp()
}

// SetTotal sets how many rows there are.
func (s *scroller) SetTotal(n int) bool {
	s.total = max(0, n)
	return s.Clamp()
}

// Clamp brings the offset back within range.
func (s *scroller) Clamp() bool { return s.set(s.offset) }

// Move scrolls by delta rows.
func (s *scroller) Move(delta int) bool { return s.set(s.offset + delta) }

// PageSize is how far a page moves: one row less than fits, so one stays in view.
func (s *scroller) PageSize() int { return max(1, s.visible-1) }

// Page scrolls a page up (dir -1) or down (1).
func (s *scroller) Page(dir int) bool { return s.Move(dir * s.PageSize()) }

// Top scrolls to the first row.
func (s *scroller) Top() bool { return s.set(0) }

// Bottom scrolls to the last page.
func (s *scroller) Bottom() bool { return s.set(s.total) }

// EnsureVisible scrolls as little as needed to bring row i into view (i < 0: no row).
func (s *scroller) EnsureVisible(i int) bool {
	switch {
	case i < 0:
		return s.Clamp()
	case i < s.offset:
		return s.set(i)
	case i >= s.offset+s.visible:
		return s.set(i - s.visible + 1)
	}
	return s.Clamp()
}

// Window is the rows in view: [start, end).
func (s *scroller) Window() (start, end int) { return s.offset, min(s.total, s.offset+s.visible) }

// Overflows says whether some rows are out of view.
func (s *scroller) Overflows() bool { return s.total > s.visible }

func (s *scroller) set(offset int) bool {
	old := s.offset
	s.offset = max(0, min(offset, s.total-s.visible))
	return s.offset != old
}
