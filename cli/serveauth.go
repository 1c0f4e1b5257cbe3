package cli

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/charmbracelet/ssh"

	"github.com/quflx/quflx-tui/model"
)

// Bounds before login (a var: tests shorten the wait).
const maxLogins = 16

var loginTimeout = 10 * time.Second

// loginKey holds a connection's loginConn in its ssh.Context.
var loginKey = &struct{ name string }{"quflx-login"}

// loginConn keeps a deadline on a connection until its first session begins: the SSH
// library clears deadlines on every read and write, so the login deadline caps them.
type loginConn struct {
	net.Conn
	mu      sync.Mutex
	loginBy time.Time // zero once logged in
	release sync.Once
	free    func()
}

func newLoginConn(c net.Conn, by time.Time, free func()) *loginConn {
	lc := &loginConn{Conn: c, loginBy: by, free: free}
	_ = c.SetDeadline(by)
	return lc
}

func (c *loginConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	by := c.loginBy
	c.mu.Unlock()
	if !by.IsZero() && (t.IsZero() || t.After(by)) {
		t = by
	}
	return c.Conn.SetDeadline(t)
}

// loggedIn lifts the login deadline and gives the login place back.
func (c *loginConn) loggedIn() {
	c.mu.Lock()
	c.loginBy = time.Time{}
	c.mu.Unlock()
	_ = c.Conn.SetDeadline(time.Time{})
	c.release.Do(c.free)
}

func (c *loginConn) Close() error {
	c.release.Do(c.free)
	return c.Conn.Close()
}

// authorizedKeys are the public keys that may log in, read from an authorized_keys file at
// every attempt: a key added or removed counts from the next login, without a restart.
type authorizedKeys struct{ path string }

// load reads the keys, and says which lines it could not use. A line with options
// (from=, command=, restrict...) is not used: this server could not honour them, and a
// key its owner restricted must not get in unrestricted.
func (a *authorizedKeys) load() (n int, problems []string, err error) {
	keys, problems, err := a.read()
	return len(keys), problems, err
}

func (a *authorizedKeys) read() (keys [][]byte, problems []string, err error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	// As sshd: a file others may write lets them in too.
	if info.Mode().Perm()&0o022 != 0 {
		return nil, nil, fmt.Errorf("%s: writable by others (mode %04o), who could let themselves in: chmod go-w %s",
			a.path, info.Mode().Perm(), a.path)
	}
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	sc.Buffer(make([]byte, 0, 16<<10), 64<<10)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		pk, _, options, _, err := gossh.ParseAuthorizedKey(text)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("line %d: not a public key, ignored", line))
		case len(options) > 0:
			problems = append(problems, fmt.Sprintf("line %d: options (%s) are not supported here; key ignored",
				line, model.Printable(strings.Join(options, ","))))
		default:
			keys = append(keys, pk.Marshal())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, problems, fmt.Errorf("%s: %w", a.path, err)
	}
	return keys, problems, nil
}

// allow is the public-key handler: the key is one of the file's.
func (a *authorizedKeys) allow(_ ssh.Context, key ssh.PublicKey) bool {
	keys, _, err := a.read()
	if err != nil {
		return false
	}
	offered := key.Marshal()
	found := 0
	for _, k := range keys {
		found |= subtle.ConstantTimeCompare(k, offered)
	}
	return found == 1
}

// ensureHostKey returns the PEM of the host key at path, generating an Ed25519 key there
// (with its .pub beside it) when there is none.
func ensureHostKey(path string) (pemBytes []byte, generated bool, err error) {
	info, err := os.Stat(path)
	switch {
	case err == nil:
		// As sshd: a private key others can read is no secret.
		if info.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("%s: readable by others (mode %04o): chmod 600 %s", path,
				info.Mode().Perm(), path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, false, err
		}
		return b, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "quflx-tui host key")
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	pemBytes = pem.EncodeToMemory(block)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err == nil {
		_ = os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(sshPub), 0o644)
	}
	return pemBytes, true, nil
}
