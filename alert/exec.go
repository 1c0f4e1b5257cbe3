package alert

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// ExecOptions configures the operator's command.
type ExecOptions struct {
	Command string        // run with sh -c; "" runs nothing
	Timeout time.Duration // a run longer than this is killed (default 10 s)
	Queue   int           // transitions waiting for the command, at most (default 64)
	// Env is the command's environment (default: this process's, without the
	// credentials quflx-tui reads: NotifierEnv).
	Env []string
}

// DefaultExecTimeout bounds one run of the command.
const DefaultExecTimeout = 10 * time.Second

// Notification is the JSON object the command reads on stdin, one per run.
type Notification struct {
	State     string   `json:"state"` // firing or resolved
	Rule      string   `json:"rule"`
	Asset     *string  `json:"asset"`   // null when the rule is about no one asset
	Subject   string   `json:"subject"` // what it is about: the asset, a key, a flusher, a server, a price rule
	Value     *float64 `json:"value"`   // null when the rule has no figure (or, resolved, none now)
	Threshold *float64 `json:"threshold"`
	Reason    string   `json:"reason"`
	At        string   `json:"at"` // RFC 3339, UTC
}

// NotificationOf is tr as the command reads it.
func NotificationOf(tr model.AlertTransition) Notification {
	n := Notification{State: tr.State, Rule: tr.Rule, Subject: tr.Subject, Value: tr.Value, Threshold: tr.Threshold,
		Reason: tr.Reason, At: tr.At.UTC().Format(time.RFC3339Nano)}
	if tr.Asset != "" {
		a := tr.Asset
		n.Asset = &a
	}
	return n
}

// NotifierEnv is environ without the credentials quflx-tui reads to reach Redis:
// REDIS_PASSWORD, REDIS_USERNAME, REDIS_URL, REDISCLI_AUTH and any REDIS_*, SENTINEL_* or
// QUFLX_* variable whose name says PASS, AUTH, SECRET, TOKEN, KEY or URL. A notifier needs
// no Redis access, and a command that fails may print its environment; the notifier's
// own settings (a webhook URL, a token) pass through.
func NotifierEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !isQuflxSecret(name) {
			out = append(out, kv)
		}
	}
	return out
}

func isQuflxSecret(name string) bool {
	n := strings.ToUpper(name)
	switch n {
	case "REDISCLI_AUTH", "REDIS_USERNAME",
		// The store's, which pgx reads when --store serves chart history.
		"PGPASSWORD", "PGSSLPASSWORD", "PGPASSFILE", "DATABASE_URL":
		return true
	}
	if !strings.HasPrefix(n, "REDIS") && !strings.HasPrefix(n, "SENTINEL") && !strings.HasPrefix(n, "QUFLX_") {
		return false
	}
	for _, w := range []string{"PASS", "AUTH", "SECRET", "TOKEN", "KEY", "URL"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// execQueue runs the command for each transition, one at a time, from a queue that
// turns away what does not fit (counted) rather than make the engine wait.
type execQueue struct {
	opts   ExecOptions
	report func(at time.Time, text string)
	queue  chan model.AlertTransition

	dropped, failed atomic.Int64
	lastDropReport  atomic.Int64 // Unix ns

	ctx    context.Context // ends the run under way (close, past its grace)
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func newExecQueue(opts ExecOptions, report func(time.Time, string)) *execQueue {
	opts.Timeout = cmp.Or(opts.Timeout, DefaultExecTimeout)
	opts.Queue = cmp.Or(opts.Queue, 64)
	if opts.Env == nil {
		opts.Env = NotifierEnv(os.Environ())
	}
	q := &execQueue{opts: opts, report: report, queue: make(chan model.AlertTransition, opts.Queue),
		done: make(chan struct{})}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	return q
}

func (q *execQueue) start() { go q.work() }

// enqueue hands tr to the worker, or counts it dropped when the queue is full (the
// command is slower than the alerts come). It never waits.
func (q *execQueue) enqueue(tr model.AlertTransition) {
	select {
	case q.queue <- tr:
		return
	default:
	}
	n := q.dropped.Add(1)
	// One line for a burst, not one per notification.
	now := time.Now()
	if last := q.lastDropReport.Load(); now.UnixNano()-last >= int64(5*time.Second) &&
		q.lastDropReport.CompareAndSwap(last, now.UnixNano()) {
		q.report(now, fmt.Sprintf("queue full (%d waiting for the command): %s %s not sent, %d dropped so far",
			cap(q.queue), tr.State, tr.Rule, n))
	}
}

func (q *execQueue) work() {
	defer close(q.done)
	for tr := range q.queue {
		if q.ctx.Err() != nil {
			q.failed.Add(1)
			continue // closing past the grace: what is left is not sent
		}
		if err := q.run(tr); err != nil {
			q.failed.Add(1)
			q.report(time.Now(), fmt.Sprintf("%v (%s %s)", err, tr.State, tr.Rule))
		}
	}
}

// close lets the queue drain for up to grace, then ends the run under way.
func (q *execQueue) close(grace time.Duration) {
	q.once.Do(func() {
		close(q.queue)
		select {
		case <-q.done:
		case <-time.After(grace):
			q.cancel()
			<-q.done
		}
		q.cancel()
	})
}

// maxStderr is how much of the command's stderr is kept: its first line is shown.
const maxStderr = 4096

// run runs the command once with tr's JSON on stdin.
func (q *execQueue) run(tr model.AlertTransition) error {
	var payload bytes.Buffer
	enc := json.NewEncoder(&payload)
	enc.SetEscapeHTML(false) // "EURUSD_otc>1.09" as written: a shell script reads it, not a browser
	if err := enc.Encode(NotificationOf(tr)); err != nil {
		return fmt.Errorf("encoding the notification: %w", err)
	}
	ctx, cancel := context.WithTimeout(q.ctx, q.opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", q.opts.Command)
	cmd.Env = q.opts.Env
	cmd.Stdin = &payload // one line: the encoder ends it with a newline
	// Its output must never reach the dashboard's terminal; stderr says why it failed.
	cmd.Stdout = io.Discard
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	// Its own process group, killed whole at the timeout: `sh -c 'sleep 60'` leaves
	// sleep holding the pipes otherwise. And no signal of the terminal's reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %v%s", q.opts.Timeout, firstLine(stderr.String()))
	case q.ctx.Err() != nil:
		return fmt.Errorf("killed: quitting%s", firstLine(stderr.String()))
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("exit %d%s", exit.ExitCode(), firstLine(stderr.String()))
	}
	return err
}

// firstLine is ": " and the first non-empty line of s, or "".
func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			if len(line) > 200 {
				line = line[:200] + "…"
			}
			return ": " + model.Printable(line)
		}
	}
	return ""
}

// limitedBuffer keeps the first maxStderr bytes written to it.
type limitedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxStderr - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
