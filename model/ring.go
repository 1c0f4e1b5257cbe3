package model

// Ring is a fixed-capacity FIFO that overwrites its oldest element when full: the
// per-asset history of recent prices, bounded however long the dashboard runs.
type Ring[T any] struct {
	buf   []T
	start int // index of the oldest element
	n     int
}

// NewRing returns an empty ring holding at most capacity elements (at least 1).
func NewRing[T any](capacity int) *Ring[T] {
	return &Ring[T]{buf: make([]T, max(capacity, 1))}
}

// Push appends v, dropping the oldest element when the ring is full.
func (r *Ring[T]) Push(v T) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = v
		r.n++
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
}

// Len returns the number of elements held.
func (r *Ring[T]) Len() int { return r.n }

// Cap returns the capacity.
func (r *Ring[T]) Cap() int { return len(r.buf) }

// At returns the i-th element, 0 being the oldest. It panics when i is out of range, like
// a slice index.
func (r *Ring[T]) At(i int) T {
	if i < 0 || i >= r.n {
		panic("model.Ring: index out of range")
	}
	return r.buf[(r.start+i)%len(r.buf)]
}

// Last returns the newest element.
func (r *Ring[T]) Last() (T, bool) {
	if r.n == 0 {
		var zero T
		return zero, false
	}
	return r.At(r.n - 1), true
}

// AppendTo appends the elements, oldest first, to dst.
func (r *Ring[T]) AppendTo(dst []T) []T {
	end := r.start + r.n
	if end <= len(r.buf) {
		return append(dst, r.buf[r.start:end]...)
	}
	dst = append(dst, r.buf[r.start:]...)
	return append(dst, r.buf[:end-len(r.buf)]...)
}

// Reset empties the ring, keeping its capacity.
func (r *Ring[T]) Reset() { r.start, r.n = 0, 0 }
