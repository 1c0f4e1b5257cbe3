package cli

import (
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// backgroundPatience is how long --theme auto waits for the terminal to say its
// background colour before drawing in the dark theme: a local terminal answers in well
// under a millisecond, one over SSH within a round trip.
const backgroundPatience = 300 * time.Millisecond

// themeIsDark decides the palette for --theme: dark and light as said; auto asks the
// terminal through detect, then looks at COLORFGBG, and falls back to dark.
func themeIsDark(theme string, detect func() (dark, known bool), env Env) bool {
	switch theme {
	case "dark":
		return true
	case "light":
		return false
	}
	if detect != nil {
		if dark, known := detect(); known {
			return dark
		}
	}
	// rxvt and others: "15;0" is light text on colour 0 (a dark background).
	if v, ok := env("COLORFGBG"); ok {
		if i := strings.LastIndexByte(v, ';'); i >= 0 {
			if n, err := strconv.Atoi(v[i+1:]); err == nil {
				return n != 7 && n < 9 // 7 and 9-15 are the light colours
			}
		}
	}
	return true
}

// queryBackground asks the terminal for its background colour (OSC 11) and waits at most
// timeout for the answer, reading from in (which must be in raw mode, and polled by no
// one else: before the dashboard reads its keys). A device attributes request (DA1) goes
// with it: every terminal answers that, so one that ignores OSC 11 is known at once
// rather than after the timeout. in is the process's terminal; for a stream that cannot
// be polled (an SSH session), probeBackground.
func queryBackground(in *os.File, out io.Writer, timeout time.Duration) (dark, known bool) {
	if _, err := io.WriteString(out, backgroundQuery); err != nil {
		return false, false
	}
	fd := int(in.Fd())
	deadline := time.Now().Add(timeout)
	var got []byte
	buf := make([]byte, 256)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		r, err := in.Read(buf)
		if err != nil || r == 0 {
			break
		}
		got = append(got, buf[:r]...)
		if _, _, done := parseBackgroundReply(got); done {
			break
		}
	}
	dark, known, _ = parseBackgroundReply(got)
	return dark, known
}

// parseBackgroundReply reads the terminal's answers so far: an OSC 11 reply
// (ESC ] 11 ; rgb:RRRR/GGGG/BBBB, ended by BEL or ST) gives the colour. done once the DA1
// reply (ESC [ ? ... c) has come: terminals answer in order, so nothing of ours is left
// to read that the dashboard would take for keys.
func parseBackgroundReply(b []byte) (dark, known, done bool) {
	s := string(b)
	if i := strings.Index(s, "\x1b[?"); i >= 0 && strings.Contains(s[i:], "c") {
		done = true
	}
	i := strings.Index(s, "\x1b]11;")
	if i < 0 {
		return false, false, done
	}
	rest := s[i+5:]
	end := strings.IndexAny(rest, "\x07\x1b")
	if end < 0 {
		return false, false, done
	}
	if r, g, bl, ok := parseXColor(rest[:end]); ok {
		// Relative luminance, as termenv judges it: below half is dark.
		lum := 0.2126*r + 0.7152*g + 0.0722*bl
		return lum < 0.5, true, done
	}
	return false, false, done
}

// parseXColor reads rgb:R/G/B with 1 to 4 hex digits a channel, as fractions of 1.
func parseXColor(s string) (r, g, b float64, ok bool) {
	spec, found := strings.CutPrefix(s, "rgb:")
	if !found {
		spec, found = strings.CutPrefix(s, "rgba:")
	}
	parts := strings.Split(spec, "/")
	if !found || len(parts) < 3 {
		return 0, 0, 0, false
	}
	var ch [3]float64
	for i := range 3 {
		p := parts[i]
		v, err := strconv.ParseUint(p, 16, 16)
		if err != nil || len(p) == 0 || len(p) > 4 {
			return 0, 0, 0, false
		}
		ch[i] = float64(v) / float64(uint64(1)<<(4*len(p))-1)
	}
	return ch[0], ch[1], ch[2], true
}

// probeBackground is queryBackground for a stream that cannot be polled, such as an SSH
// session's channel: it asks, reads in a goroutine for at most timeout, and returns, with
// the answer, the stream to read the keys from from now on (what came with or after the
// answer first, then the rest), so that no key typed meanwhile is lost and no reply
// arriving late is lost into the keys. The goroutine ends when in does (EOF, an error).
func probeBackground(in io.Reader, out io.Writer, timeout time.Duration) (dark, known bool, rest io.Reader) {
	chunks := make(chan readChunk, 16)
	go func() {
		for {
			buf := make([]byte, 1024)
			n, err := in.Read(buf)
			chunks <- readChunk{buf[:n], err}
			if err != nil {
				close(chunks)
				return
			}
		}
	}()
	r := &chunkReader{chunks: chunks}
	if _, err := io.WriteString(out, backgroundQuery); err != nil {
		return false, false, r
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case c, ok := <-chunks:
			if !ok {
				return false, false, r
			}
			r.pending = append(r.pending, c.data...)
			if c.err != nil {
				r.err = c.err
				return false, false, r
			}
			if dark, known, done := parseBackgroundReply(r.pending); done {
				r.pending = stripBackgroundReplies(r.pending)
				return dark, known, r
			}
		case <-timer.C:
			// A terminal that answered OSC 11 but not DA1 has still said its colour.
			dark, known, _ := parseBackgroundReply(r.pending)
			if known {
				r.pending = stripBackgroundReplies(r.pending)
			}
			return dark, known, r
		}
	}
}

// backgroundQuery asks for the background colour (OSC 11) and the device attributes.
const backgroundQuery = "\x1b]11;?\x1b\\\x1b[c"

type readChunk struct {
	data []byte
	err  error
}

// chunkReader reads what probeBackground kept, then what its goroutine reads on.
type chunkReader struct {
	pending []byte
	err     error
	chunks  <-chan readChunk
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		c, ok := <-r.chunks
		if !ok {
			return 0, io.EOF
		}
		r.pending, r.err = c.data, c.err
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// stripBackgroundReplies removes the terminal's answers (OSC 11 and DA1) from what was
// read, leaving the keys typed around them.
func stripBackgroundReplies(b []byte) []byte {
	s := string(b)
	if i := strings.Index(s, "\x1b]11;"); i >= 0 {
		if end := strings.IndexAny(s[i+5:], "\x07\x1b"); end >= 0 {
			stop := i + 5 + end + 1
			if s[i+5+end] == '\x1b' && stop < len(s) && s[stop] == '\\' {
				stop++ // ST is ESC \
			}
			s = s[:i] + s[stop:]
		}
	}
	if i := strings.Index(s, "\x1b[?"); i >= 0 {
		if end := strings.IndexByte(s[i:], 'c'); end >= 0 {
			s = s[:i] + s[i+end+1:]
		}
	}
	return []byte(s)
}
