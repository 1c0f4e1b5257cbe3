package ui

import "testing"

func TestScroller(t *testing.T) {
	s := newScroller()
	s.SetVisible(3)
	s.SetTotal(10)
	check := func(what string, moved, wantMoved bool, want int) {
		t.Helper()
		if s.offset != want || moved != wantMoved {
			t.Fatalf("%s: offset %d moved %v, want %d %v", what, s.offset, moved, want, wantMoved)
		}
	}
	check("down", s.Move(1), true, 1)
	check("up past the top", s.Move(-5), true, 0)
	check("up at the top", s.Move(-1), false, 0)
	check("page down", s.Page(1), true, 2) // a page keeps one row in view
	check("bottom", s.Bottom(), true, 7)   // the last page, not past it
	check("down at the bottom", s.Move(1), false, 7)
	check("top", s.Top(), true, 0)
	check("into view below", s.EnsureVisible(5), true, 3)
	check("in view", s.EnsureVisible(4), false, 3)
	check("into view above", s.EnsureVisible(1), true, 1)
	check("no row", s.EnsureVisible(-1), false, 1)
	check("fewer rows", s.SetTotal(2), true, 0) // a list that fits does not scroll
	check("fits", s.Move(1), false, 0)
	if start, end := s.Window(); start != 0 || end != 2 || s.Overflows() {
		t.Fatalf("window %d-%d", start, end)
	}
	s.SetTotal(10)
	s.Bottom()
	check("taller", s.SetVisible(5), true, 5)
	check("no room", s.SetVisible(0), false, 5) // at least one row
	if s.visible != 1 {
		t.Fatalf("visible %d", s.visible)
	}
}
