package redisdata

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// pubsubConn is a subscribed connection read without go-redis: messages are parsed in
// place in a 64 KiB read buffer, so those a read brought in cost no system call and no
// allocation, and a subscriber can wait a moment before a read at high rates so that one
// wake-up takes many messages. go-redis reads one message per call, from a buffer it does
// not show, with a deadline set each time; at 10,000 messages a second that was most of
// the dashboard's cost. It speaks RESP2 and sends only AUTH, CLIENT SETNAME, SUBSCRIBE,
// PSUBSCRIBE and PING, all read-only.
type pubsubConn struct {
	nc      net.Conn
	counter *countingReader // under rd: bytes taken from the socket
	rd      *bufio.Reader
	scratch []byte     // the channel of the message being read
	head    []byte     // the first bytes of an oversize payload
	writeMu sync.Mutex // the reader's PING and Sync's may be written at once
}

// pubsubEvent is one push from the server. Its byte slices are valid until the next read.
type pubsubEvent struct {
	kind    string // "message", "pmessage", "subscribe", "psubscribe", "pong", ...
	channel []byte
	payload []byte
	// oversize is the length of a payload larger than the limit, of which payload holds
	// only the first bytes (0: payload is whole); channelCut likewise for the channel.
	oversize   int
	channelCut int
}

// maxChannelName bounds the channel names read whole: a publisher chooses them, of any
// length; a longer one keeps its first bytes (it names no asset anyway).
const maxChannelName = 256

const pubsubReadBuffer = 64 << 10

// dialPubSub opens a connection to addr over network with the client's options,
// authenticates and names it.
func dialPubSub(ctx context.Context, o Options, network, addr string) (*pubsubConn, error) {
	d := net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	var nc net.Conn
	var err error
	if o.TLS != nil && network == "tcp" {
		td := tls.Dialer{NetDialer: &d, Config: o.TLS}
		nc, err = td.DialContext(ctx, network, addr)
	} else {
		nc, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	counter := &countingReader{r: nc}
	c := &pubsubConn{nc: nc, counter: counter, rd: bufio.NewReaderSize(counter, pubsubReadBuffer)}
	deadline := time.Now().Add(o.DialTimeout + o.ReadTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = nc.SetDeadline(deadline)
	if o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		if err := c.command(args...); err != nil {
			nc.Close()
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	if o.ClientName != "" {
		_ = c.command("CLIENT", "SETNAME", o.ClientName+"-sub") // a name is a courtesy
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// command sends a command and reads its simple reply (+OK, or an error).
func (c *pubsubConn) command(args ...string) error {
	if err := c.send(args...); err != nil {
		return err
	}
	line, err := c.line()
	if err != nil {
		return err
	}
	switch {
	case len(line) > 0 && line[0] == '-':
		return redisError(string(line[1:]))
	case len(line) > 0 && (line[0] == '+' || line[0] == ':'):
		return nil
	case len(line) > 0 && line[0] == '$':
		// A bulk reply (CLIENT SETNAME on some servers): read and drop it.
		n, _ := strconv.Atoi(string(line[1:]))
		if n > 0 {
			_, err = c.rd.Discard(n + 2)
		}
		return err
	}
	return fmt.Errorf("unexpected reply %q", line)
}

// redisError is an error reply of the server; it satisfies go-redis's redis.Error so
// that callers tell it from a network failure the same way.
type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}

// send writes a command as a RESP array.
func (c *pubsubConn) send(args ...string) error {
	var b []byte
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// subscribe sends SUBSCRIBE for channels and PSUBSCRIBE for patterns, on one connection;
// the confirmations arrive as events (one per channel or pattern).
func (c *pubsubConn) subscribe(channels []string, patterns ...string) error {
	cmd := []string{"PSUBSCRIBE"}
	for _, p := range patterns {
		if p != "" {
			cmd = append(cmd, p)
		}
	}
	if len(cmd) > 1 {
		if err := c.send(cmd...); err != nil {
			return err
		}
	}
	if len(channels) == 0 {
		return nil
	}
	return c.send(append([]string{"SUBSCRIBE"}, channels...)...)
}

func (c *pubsubConn) ping() error { return c.send("PING") }

func (c *pubsubConn) close() error { return c.nc.Close() }

// buffered reports whether a message may be read without waiting for the network.
func (c *pubsubConn) buffered() bool { return c.rd.Buffered() > 0 }

// consumed counts the bytes handled so far: taken from the socket and out of the buffer.
func (c *pubsubConn) consumed() int64 { return c.counter.n - int64(c.rd.Buffered()) }

// waiting returns the bytes the socket holds not yet read; false when it cannot tell.
func (c *pubsubConn) waiting() (int, bool) { return socketPending(c.nc) }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// setReadDeadline bounds the next wait for the network.
func (c *pubsubConn) setReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// line reads one RESP line, without its CRLF, valid until the next read.
func (c *pubsubConn) line() ([]byte, error) {
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("protocol error: a line longer than the read buffer")
		}
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'}), nil
}

// next reads one push. A payload over maxPayload is skipped past, its first bytes kept.
// A read deadline that expires once part of the push was read is no quiet feed: the
// stream's position is lost with the bytes read, so the error is not a timeout then.
func (c *pubsubConn) next(maxPayload int) (ev pubsubEvent, err error) {
	started := c.rd.Buffered() > 0
	line, err := c.line()
	if err != nil {
		if started {
			return ev, stalled(err)
		}
		return ev, err
	}
	defer func() { err = stalled(err) }()
	if len(line) == 0 {
		return ev, errors.New("protocol error: empty line")
	}
	switch line[0] {
	case '-':
		return ev, redisError(string(line[1:]))
	case '*':
	default:
		return ev, fmt.Errorf("protocol error: unexpected %q in pub/sub mode", line)
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 1 || n > 4 {
		return ev, fmt.Errorf("protocol error: array of %q elements", line[1:])
	}
	kind, err := c.bulkOrInt(16)
	if err != nil {
		return ev, err
	}
	ev.kind = kindName(kind)
	rest := n - 1
	// A push is [kind, channel, payload], [pmessage, pattern, channel, payload],
	// [subscribe, channel, count] or [pong, payload].
	if ev.kind == "pmessage" && rest == 3 {
		var pattern pubsubEvent // the pattern: the channel says it all
		if err := c.channelName(&pattern); err != nil {
			return ev, err
		}
		rest--
	}
	if rest >= 1 && ev.kind != "pong" {
		if err := c.channelName(&ev); err != nil {
			return ev, err
		}
		rest--
	}
	if rest >= 1 && (ev.kind == "message" || ev.kind == "pmessage") {
		return ev, c.payload(&ev, maxPayload)
	}
	if rest == 1 && ev.kind == "pong" {
		// PING's argument, which tells a Sync's PONG from the health check's.
		ev.payload, err = c.bulkOrInt(64)
		return ev, err
	}
	for ; rest > 0; rest-- {
		if _, err := c.bulkOrInt(1 << 10); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

// stalled turns a timeout in the middle of a push into an error that ends the connection.
func stalled(err error) error {
	if err != nil && isTimeout(err) {
		return fmt.Errorf("the server stalled in the middle of a message (%s)", err.Error())
	}
	return err
}

// kindName interns the few push kinds, so an event costs no allocation.
func kindName(b []byte) string {
	for _, k := range [...]string{"message", "pmessage", "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "pong"} {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// channelName reads a channel (or pattern) name into ev: whole, copied out of the read
// buffer, when it is at most maxChannelName bytes; its first bytes and its length when
// longer.
func (c *pubsubConn) channelName(ev *pubsubEvent) error {
	line, err := c.line()
	if err != nil {
		return err
	}
	if len(line) < 2 || line[0] != '$' {
		return fmt.Errorf("protocol error: %q where a channel name was due", line)
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 0 {
		return fmt.Errorf("protocol error: name length %q", line[1:])
	}
	keep := min(n, maxChannelName)
	b, err := c.rd.Peek(keep)
	if err != nil {
		return err
	}
	c.scratch = append(c.scratch[:0], b...) // the next read may move the buffer
	ev.channel = c.scratch
	if n > maxChannelName {
		ev.channelCut = n
	}
	return c.skip(n + 2)
}

// bulkOrInt reads a bulk string (or an integer, as the subscription count comes).
func (c *pubsubConn) bulkOrInt(max int) ([]byte, error) {
	line, err := c.line()
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, errors.New("protocol error: empty line")
	}
	switch line[0] {
	case ':':
		return line[1:], nil
	case '$':
	default:
		return nil, fmt.Errorf("protocol error: %q where a bulk string was due", line)
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < -1 {
		return nil, fmt.Errorf("protocol error: bulk length %q", line[1:])
	}
	if n < 0 {
		return nil, nil
	}
	if n > max {
		if err := c.skip(n + 2); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("protocol error: a %d-byte name", n)
	}
	b, err := c.rd.Peek(n + 2)
	if err != nil {
		return nil, err
	}
	_, _ = c.rd.Discard(n + 2)
	return b[:n], nil // still in the buffer until the next read fills it
}

// payload reads a message's payload into ev, in place when it fits the limit.
func (c *pubsubConn) payload(ev *pubsubEvent, maxPayload int) error {
	line, err := c.line()
	if err != nil {
		return err
	}
	if len(line) < 2 || line[0] != '$' {
		return fmt.Errorf("protocol error: %q where a payload was due", line)
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 0 {
		return fmt.Errorf("protocol error: payload length %q", line[1:])
	}
	if n <= maxPayload && n+2 <= pubsubReadBuffer {
		b, err := c.rd.Peek(n + 2)
		if err != nil {
			return err
		}
		// Peeked, not yet discarded: the caller is done with it before the next read.
		ev.payload = b[:n]
		_, _ = c.rd.Discard(n + 2)
		return nil
	}
	// Too large to decode anyway: keep its head to show, skip the rest without holding it.
	keep := min(n, 256)
	head, err := c.rd.Peek(keep)
	if err != nil {
		return err
	}
	c.head = append(c.head[:0], head...)
	ev.payload, ev.oversize = c.head, n
	return c.skip(n + 2)
}

// skip discards n bytes however large, a buffer at a time.
func (c *pubsubConn) skip(n int) error {
	for n > 0 {
		k, err := c.rd.Discard(min(n, pubsubReadBuffer))
		n -= k
		if err != nil && !(errors.Is(err, bufio.ErrBufferFull) && k > 0) {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
