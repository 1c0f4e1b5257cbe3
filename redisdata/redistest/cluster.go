package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of real redis-servers, masters only, on loopback ports.
type Cluster struct {
	Nodes []*Server
	Addrs []string // host:port of each master, in the order of Nodes
}

// RedisCLIPath finds redis-cli, failing or skipping the test when it is missing.
func RedisCLIPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-cli")
	if err != nil {
		if RequireReal() {
			t.Fatalf("QUFLX_REQUIRE_REAL=1 but redis-cli is not installed: %v", err)
		}
		t.Skip("redis-cli not installed (set QUFLX_REQUIRE_REAL=1 to make this a failure)")
	}
	return path
}

// RealCluster starts a cluster of masters (at least 3: redis-cli will not create fewer)
// holding all 16384 slots between them, and returns once every node says the cluster is
// ok and they all agree who holds which slot. The nodes stop at cleanup. extraArgs are
// given to every node, and kept by Server.Restart, which also keeps the node's nodes.conf
// so it comes back as the same node with the same slots.
func RealCluster(t testing.TB, masters int, extraArgs ...string) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("RealCluster(%d): redis-cli --cluster create needs at least 3 masters", masters)
	}
	cli := RedisCLIPath(t)
	began := time.Now()
	c := &Cluster{}
	for range masters {
		s := startReal(t, func(port int, dir string) []string {
			// An explicit bus port: the default, port+10000, does not exist above 55535,
			// where free ports are often found.
			bus := FreePort(t)
			for bus == port {
				bus = FreePort(t)
			}
			return append([]string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
				"--cluster-node-timeout", "2000",
				"--cluster-port", strconv.Itoa(bus),
			}, extraArgs...)
		})
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}

	started := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s%s", strings.Join(args, " "), err, out, c.logs())
	}
	created := time.Now()
	c.WaitOK(t)
	// The parts, since the total is mostly waiting: redis-cli sleeps a second while the nodes
	// meet, and a master stays failed for 2s after it starts (CLUSTER_WRITABLE_DELAY).
	t.Logf("redis cluster of %d masters up in %v (servers %v, redis-cli %v, converging %v): %s",
		masters, time.Since(began).Round(time.Millisecond), started.Sub(began).Round(time.Millisecond),
		created.Sub(started).Round(time.Millisecond), time.Since(created).Round(time.Millisecond),
		strings.Join(c.Addrs, " "))
	return c
}

// WaitOK waits (up to 15s) until every node reports cluster_state:ok with all 16384 slots
// assigned, knows every other node, and all nodes agree on who holds which slot: after
// RealCluster, or after restarting a node.
func (c *Cluster) WaitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		why := c.notOK()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis cluster not ok after 15s: %s\n%s", why, c.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notOK says why the cluster is not ready yet, or "" when it is.
func (c *Cluster) notOK() string {
	var first string // the first node's view of the slots, which every other must share
	for _, s := range c.Nodes {
		info, err := command(s.Addr, "CLUSTER", "INFO")
		if err != nil {
			return err.Error()
		}
		fields := map[string]string{}
		for line := range strings.Lines(info) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				fields[k] = v
			}
		}
		if fields["cluster_state"] != "ok" || fields["cluster_slots_assigned"] != "16384" ||
			fields["cluster_known_nodes"] != strconv.Itoa(len(c.Nodes)) {
			return fmt.Sprintf("%s: cluster_state:%s cluster_slots_assigned:%s cluster_known_nodes:%s",
				s.Addr, fields["cluster_state"], fields["cluster_slots_assigned"], fields["cluster_known_nodes"])
		}
		nodes, err := command(s.Addr, "CLUSTER", "NODES")
		if err != nil {
			return err.Error()
		}
		view := slotView(nodes)
		if first == "" {
			first = view
		} else if view != first {
			return fmt.Sprintf("%s sees slots %q, %s sees %q", c.Nodes[0].Addr, first, s.Addr, view)
		}
	}
	return ""
}

// slotView reduces CLUSTER NODES to "id slots..." per node, sorted: what redis-cli compares
// to decide that nodes agree, without the flags and timestamps that differ between views.
func slotView(clusterNodes string) string {
	var lines []string
	for line := range strings.Lines(clusterNodes) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		lines = append(lines, f[0]+" "+strings.Join(f[8:], " "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "; ")
}

func (c *Cluster) logs() string {
	var b strings.Builder
	for _, s := range c.Nodes {
		if out := s.logs(); out != "" {
			fmt.Fprintf(&b, "--- %s:\n%s", s.Addr, out)
		}
	}
	return b.String()
}

// command sends one command on a fresh connection and returns a simple, integer or bulk
// string reply: enough to watch a cluster form without a client library's handshake and
// retries in the way.
func command(addr string, args ...string) (string, error) {
	name := strings.Join(args, " ")
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", name, addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	req := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		req = fmt.Appendf(req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(req); err != nil {
		return "", fmt.Errorf("%s on %s: %w", name, addr, err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", name, addr, err)
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
	case line[0] == '+' || line[0] == ':':
		return line[1:], nil
	case line[0] == '-':
		return "", fmt.Errorf("%s on %s: %s", name, addr, line[1:])
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s on %s: bulk reply %q", name, addr, line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("%s on %s: %w", name, addr, err)
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("%s on %s: unexpected reply %q", name, addr, line)
}
