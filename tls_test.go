package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// TLS as operators meet it: a private CA, the certificate checked against the host
// dialled (a rediss:// URL from the environment with -h on the command line), and the two
// mistakes explained: plain TCP at the TLS port, TLS at the plain port.
func TestTLSConnectionsAndMistakes(t *testing.T) {
	srv := redistest.RealTLS(t)
	tlsPort := strings.TrimPrefix(srv.TLSAddr, "127.0.0.1:")
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		says string
	}{
		{"rediss with the CA", nil, []string{"--redis", "rediss://localhost:" + tlsPort, "--cacert", srv.CAFile}, 1, ""},
		{"env URL, host on the command line", []string{"REDIS_URL=rediss://wrong.invalid:" + tlsPort},
			[]string{"-h", "127.0.0.1", "--cacert", srv.CAFile}, 1, ""},
		{"plain TCP at the TLS port", nil, []string{"--redis", "redis://127.0.0.1:" + tlsPort}, 2, "is it a TLS port? then use rediss://"},
		{"TLS at the plain port", nil, []string{"--redis", "rediss://127.0.0.1:" + strconv.Itoa(srv.Port), "--cacert", srv.CAFile},
			2, "no TLS handshake"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// --no-flusher: no flusher runs here, so a reachable server is healthy (0) or
			// degraded by nothing but an empty keyspace.
			out, errOut, code := run(t, c.env, append([]string{"status", "--no-flusher"}, c.args...)...)
			if c.code == 1 && code == 0 {
				code = 1 // healthy is as good as degraded here: the point is it was reached
			}
			if code != c.code || !strings.Contains(out+errOut, c.says) {
				t.Fatalf("exit %d, want %d, saying %q:\n%s%s", code, c.code, c.says, out, errOut)
			}
		})
	}
}
