package redisdata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// NodeInfo is one server of a Redis Cluster as a poll read it.
type NodeInfo struct {
	Addr   string
	Role   string // master, slave (INFO replication)
	Slots  int    // hash slots this node serves (masters; 0 when CLUSTER SLOTS was not read)
	Info   Info
	Window ServerWindow
	Err    error // the node could not be read
}

// nodePrev is a node's previous sample, for its window rates.
type nodePrev struct {
	info Info
	at   time.Time
}

// readNodes reads INFO of every node of a cluster (masters and replicas, concurrently)
// and how many slots each master serves. The sum of the masters' figures is what the
// whole cluster holds and serves (replicas copy their master's keys and memory).
func (p *Poller) readNodes(ctx context.Context, at time.Time) (nodes []NodeInfo, sum Info, err error) {
	cc, ok := p.client.UniversalClient.(*redis.ClusterClient)
	if !ok {
		return nil, Info{}, errors.New("not a cluster client")
	}
	slots := map[string]int{}
	if ranges, err := cc.ClusterSlots(ctx).Result(); err == nil {
		for _, r := range ranges {
			if len(r.Nodes) > 0 {
				slots[r.Nodes[0].Addr] += int(r.End-r.Start) + 1
			}
		}
	}
	var mu sync.Mutex
	shardErr := cc.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
		n := NodeInfo{Addr: node.Options().Addr}
		pipe := node.Pipeline()
		var cmds []*redis.StringCmd
		for _, sec := range infoSections {
			cmds = append(cmds, pipe.Info(ctx, sec))
		}
		_, _ = pipe.Exec(ctx)
		read := false
		for _, cmd := range cmds {
			if text, err := cmd.Result(); err == nil {
				ParseInfo(text, &n.Info)
				read = true
			} else if n.Err == nil && !isRedisError(err) {
				n.Err = fmt.Errorf("INFO %s: %w", n.Addr, err)
			}
		}
		if read {
			n.Err = nil
		} else if n.Err == nil {
			n.Err = fmt.Errorf("INFO %s: no section answered", n.Addr)
		}
		n.Role, n.Slots = n.Info.Role, slots[n.Addr]
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
		return nil
	})
	if len(nodes) == 0 {
		return nil, Info{}, orErr(shardErr, errors.New("no cluster node known"))
	}
	slices.SortFunc(nodes, func(a, b NodeInfo) int {
		// Masters first, then by address: a stable order on screen.
		if (a.Role == "slave") != (b.Role == "slave") {
			if a.Role == "slave" {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	var masters []Info
	seen := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		seen[n.Addr] = true
		if prev, ok := p.prevNodes[n.Addr]; ok && n.Err == nil {
			n.Window = window(prev.info, n.Info, at.Sub(prev.at))
		}
		if n.Err == nil {
			p.prevNodes[n.Addr] = nodePrev{n.Info, at}
			if n.Role != "slave" {
				masters = append(masters, n.Info)
			}
		}
	}
	for addr := range p.prevNodes {
		if !seen[addr] {
			delete(p.prevNodes, addr)
		}
	}
	sum = SumInfo(masters)
	sum.Mode = "cluster"
	return nodes, sum, nil
}

// SumInfo adds up the servers' counters, memory and keys: what a cluster of them holds
// and serves. A figure is known when every server reports it; the uptime is the
// shortest, the version the one they share (else "mixed").
func SumInfo(infos []Info) Info {
	var sum Info
	if len(infos) == 0 {
		return sum
	}
	sumInts := infoInts(&sum)
	for key, dst := range sumInts {
		dst.Known = true
		for i := range infos {
			src := infoInts(&infos[i])[key]
			if !src.Known {
				dst.V, dst.Known = 0, false
				break
			}
			if key == "uptime_in_seconds" {
				if i == 0 || src.V < dst.V {
					dst.V = src.V
				}
				continue
			}
			dst.V += src.V
		}
	}
	sum.Version, sum.Role = infos[0].Version, infos[0].Role
	for _, in := range infos[1:] {
		if in.Version != sum.Version {
			sum.Version = "mixed"
		}
	}
	for _, in := range infos {
		if in.Keyspace == nil {
			continue
		}
		if sum.Keyspace == nil {
			sum.Keyspace = map[int]DBKeys{}
		}
		for db, k := range in.Keyspace {
			s := sum.Keyspace[db]
			s.Keys += k.Keys
			s.Expires += k.Expires
			sum.Keyspace[db] = s
		}
	}
	return sum
}

// window computes the rates between two samples of one server; Valid is false after a
// restart (a counter went back).
func window(prev, cur Info, d time.Duration) ServerWindow {
	w := ServerWindow{Seconds: d.Seconds()}
	dCmd := cur.TotalCommands.V - prev.TotalCommands.V
	dHits := cur.KeyspaceHits.V - prev.KeyspaceHits.V
	dMiss := cur.KeyspaceMisses.V - prev.KeyspaceMisses.V
	restarted := dCmd < 0 || dHits < 0 || dMiss < 0 ||
		(cur.UptimeSeconds.Known && prev.UptimeSeconds.Known && cur.UptimeSeconds.V < prev.UptimeSeconds.V)
	if w.Seconds <= 0 || restarted {
		return w
	}
	w.Valid = true
	if cur.TotalCommands.Known {
		w.OpsPerSec = float64(dCmd) / w.Seconds
	}
	if cur.KeyspaceHits.Known && dHits+dMiss > 0 {
		w.HitRate, w.HitRateKnown = float64(dHits)/float64(dHits+dMiss), true
	}
	return w
}
