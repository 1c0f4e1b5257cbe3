package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelName is the master name the Sentinel of RealSentinel monitors.
const SentinelName = "quflxmaster"

// SentinelSet is a master, a replica of it and a Sentinel watching both, on loopback
// ports: enough for SENTINEL FAILOVER (a quorum of one).
type SentinelSet struct {
	Master, Replica *Server
	Sentinel        *Server
	Name            string
	// Password is the data nodes' password; SentinelPassword the Sentinel's own.
	Password, SentinelPassword string
}

// SentinelOptions are the passwords of RealSentinel ("" for none).
type SentinelOptions struct {
	Password         string // requirepass (and masterauth) of the master and the replica
	SentinelPassword string // requirepass of the Sentinel
}

// RealSentinel starts a master, a replica and a Sentinel, and returns once the replica is
// in sync and the Sentinel knows it as a good replica (SENTINEL FAILOVER would refuse
// before). Everything stops at cleanup.
func RealSentinel(t testing.TB, o SentinelOptions) *SentinelSet {
	t.Helper()
	began := time.Now()
	// No 5 s wait before the replica's first sync (the diskless default).
	auth := []string{"--repl-diskless-sync-delay", "0"}
	if o.Password != "" {
		auth = append(auth, "--requirepass", o.Password, "--masterauth", o.Password)
	}
	set := &SentinelSet{Name: SentinelName, Password: o.Password, SentinelPassword: o.SentinelPassword}
	// Both data nodes are started as equals: after a failover either may be the master.
	set.Master = Real(t, auth...)
	set.Replica = Real(t, append(auth, "--replicaof", "127.0.0.1", strconv.Itoa(set.Master.Port))...)
	set.Sentinel = startSentinel(t, set.Master, o)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc := set.SentinelClient()
	defer sc.Close()
	for {
		if why := set.notReady(ctx, sc); why == "" {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("sentinel not ready after 20s: %s\nsentinel log:\n%s", why, set.Sentinel.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("master %s, replica %s, sentinel %s up in %v", set.Master.Addr, set.Replica.Addr, set.Sentinel.Addr,
		time.Since(began).Round(time.Millisecond))
	return set
}

func startSentinel(t testing.TB, master *Server, o SentinelOptions) *Server {
	t.Helper()
	path := RedisServerPath(t)
	s := &Server{Dir: t.TempDir()}
	var lastErr error
	for range 5 {
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		conf := []string{
			"port " + strconv.Itoa(s.Port), "bind 127.0.0.1", "protected-mode no", "daemonize no",
			"dir " + s.Dir, "loglevel notice",
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1", SentinelName, master.Port),
			// Short, for tests: a master unanswered for 1 s is down, a failover may retry
			// after 3 s.
			"sentinel down-after-milliseconds " + SentinelName + " 1000",
			"sentinel failover-timeout " + SentinelName + " 3000",
		}
		if o.Password != "" {
			conf = append(conf, "sentinel auth-pass "+SentinelName+" "+o.Password)
		}
		if o.SentinelPassword != "" {
			conf = append(conf, "requirepass "+o.SentinelPassword)
		}
		file := filepath.Join(s.Dir, "sentinel.conf")
		if err := os.WriteFile(file, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(path, []string{file, "--sentinel"}); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("start redis sentinel: %v", lastErr)
	return nil
}

// SentinelClient is a client of the Sentinel (closed by the caller).
func (set *SentinelSet) SentinelClient() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: set.Sentinel.Addr, Password: set.SentinelPassword,
		Protocol: 2, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
}

// notReady says why a failover could not be done yet, or "".
func (set *SentinelSet) notReady(ctx context.Context, sc *redis.SentinelClient) string {
	rc := redis.NewClient(&redis.Options{Addr: set.Replica.Addr, Password: set.Password, Protocol: 2})
	defer rc.Close()
	info, err := rc.Info(ctx, "replication").Result()
	if err != nil {
		return err.Error()
	}
	if !strings.Contains(info, "master_link_status:up") {
		return "replica not in sync yet"
	}
	replicas, err := sc.Replicas(ctx, set.Name).Result()
	if err != nil {
		return err.Error()
	}
	for _, r := range replicas {
		if fmt.Sprint(r["name"]) == set.Replica.Addr && !strings.Contains(fmt.Sprint(r["flags"]), "disconnected") &&
			fmt.Sprint(r["master-link-status"]) == "ok" {
			return ""
		}
	}
	return fmt.Sprintf("sentinel does not know the replica as good yet: %v", replicas)
}

// MasterAddr is the master the Sentinel names now.
func (set *SentinelSet) MasterAddr(t testing.TB) string {
	t.Helper()
	sc := set.SentinelClient()
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(context.Background(), set.Name).Result()
	if err != nil || len(hp) != 2 {
		t.Fatalf("sentinel get-master-addr-by-name: %v %v", hp, err)
	}
	return net.JoinHostPort(hp[0], hp[1])
}

// Failover sends SENTINEL FAILOVER and waits (up to 15s) until the Sentinel names the
// other data node as master and the old master has become its replica: the Sentinel
// reconfigures it at its next INFO of it, up to 10 s later. It returns when the command
// was sent, for timing what follows, and the new master's address.
func (set *SentinelSet) Failover(t testing.TB) (issued time.Time, newMaster string) {
	t.Helper()
	return set.failover(t, true)
}

// Switch is Failover without waiting for the old master to become a replica: it returns
// once the Sentinel names the new master.
func (set *SentinelSet) Switch(t testing.TB) (issued time.Time, newMaster string) {
	t.Helper()
	return set.failover(t, false)
}

func (set *SentinelSet) failover(t testing.TB, demoted bool) (issued time.Time, newMaster string) {
	t.Helper()
	old := set.MasterAddr(t)
	newMaster = set.Replica.Addr
	if old == set.Replica.Addr {
		newMaster = set.Master.Addr
	}
	sc := set.SentinelClient()
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	issued = time.Now()
	if err := sc.Failover(ctx, set.Name).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	oc := redis.NewClient(&redis.Options{Addr: old, Password: set.Password, Protocol: 2})
	defer oc.Close()
	for {
		hp, _ := sc.GetMasterAddrByName(ctx, set.Name).Result()
		switched := len(hp) == 2 && net.JoinHostPort(hp[0], hp[1]) == newMaster
		if switched && !demoted {
			return issued, newMaster
		}
		if role, _ := oc.Info(ctx, "replication").Result(); switched && strings.Contains(role, "role:slave") {
			return issued, newMaster
		}
		if ctx.Err() != nil {
			t.Fatalf("failover from %s to %s not done after 15s (sentinel says %v)\nsentinel log:\n%s",
				old, newMaster, hp, set.Sentinel.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
