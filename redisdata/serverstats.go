package redisdata

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// ServerWindow holds rates computed from two consecutive INFO samples: exact for the poll
// window, unlike instantaneous_ops_per_sec, and current, unlike the lifetime hit rate.
type ServerWindow struct {
	Seconds      float64
	OpsPerSec    float64 // Δ total_commands_processed / Δt (includes our own poll)
	HitRate      float64 // Δ hits / (Δ hits + Δ misses)
	HitRateKnown bool
	Valid        bool // false on the first poll and after a server restart
}

// infoSections are what the poller asks INFO for (miniredis answers only clients and
// stats).
var infoSections = []string{"server", "clients", "memory", "stats", "replication", "keyspace"}

// serverCmds are the INFO sections and the flusher status of a poll.
type serverCmds struct {
	sections  []string
	infos     []*redis.StringCmd
	status    *redis.StringCmd
	instances *redis.StringSliceCmd // the flushers' index
	statuses  []*redis.StringCmd    // the statuses of the instances the last poll listed
}

// maxFlusherInstances bounds the flushers a poll reads.
const maxFlusherInstances = 64

// queueServer adds INFO, one section a command (old servers take one section per INFO,
// and a section a server refuses then fails alone), and the flusher status to pipe.
// listFlushers reads the flushers' index once before the first poll, so that a single
// poll (status) sees every flusher; later polls read it in their own pipeline.
func (p *Poller) listFlushers(ctx context.Context, snap *Snapshot) {
	if p.opts.FlusherStatusKey == "" || p.flushersListed {
		return
	}
	p.flushersListed = true
	snap.RoundTrips++
	if instances, err := p.client.ZRevRange(ctx, FlushersIndexKey(p.opts.FlusherNamespace), 0, maxFlusherInstances-1).Result(); err == nil {
		p.flusherInstances = slices.DeleteFunc(instances, func(s string) bool { return !plausibleInstance(s) })
	}
}

func (p *Poller) queueServer(ctx context.Context, pipe redis.Pipeliner) serverCmds {
	var sc serverCmds
	for _, sec := range infoSections {
		if !p.unsupported[sec] && !p.client.IsCluster() { // a cluster's nodes: startSide
			sc.sections = append(sc.sections, sec)
			sc.infos = append(sc.infos, pipe.Info(ctx, sec))
		}
	}
	if p.opts.FlusherStatusKey != "" {
		// Bounded: anyone who may write to Redis may write a huge value there.
		sc.status = pipe.GetRange(ctx, p.opts.FlusherStatusKey, 0, maxFlusherStatusBytes-1)
		// Every flusher instance: the index now, and the statuses of the instances the
		// previous poll found (one round trip; a new flusher shows from the next poll).
		sc.instances = pipe.ZRevRange(ctx, FlushersIndexKey(p.opts.FlusherNamespace), 0, maxFlusherInstances-1)
		for _, inst := range p.flusherInstances {
			sc.statuses = append(sc.statuses,
				pipe.GetRange(ctx, FlusherStatusKey(p.opts.FlusherNamespace, inst), 0, maxFlusherStatusBytes-1))
		}
	}
	return sc
}

func (p *Poller) readServer(snap *Snapshot, sc serverCmds) {
	if len(sc.infos) > 0 {
		p.readInfo(snap, sc.sections, sc.infos)
	}
	if sc.status != nil {
		snap.Flusher, snap.FlusherErr = parseFlusherStatus(sc.status)
	}
	for _, cmd := range sc.statuses {
		st, err := parseFlusherStatus(cmd)
		if err != nil {
			snap.FlusherErr = orErr(snap.FlusherErr, err)
		}
		if st != nil {
			snap.Flushers = append(snap.Flushers, *st)
		}
	}
	slices.SortFunc(snap.Flushers, func(a, b FlusherStatus) int { return strings.Compare(a.Instance, b.Instance) })
	if sc.instances != nil {
		if instances, err := sc.instances.Result(); err == nil {
			// Ids are anyone's to write: only those that can be a flusher's are read.
			p.flusherInstances = slices.DeleteFunc(instances, func(s string) bool { return !plausibleInstance(s) })
		}
	}
	if len(snap.Flushers) == 0 && snap.Flusher != nil {
		// A flusher of the first version publishes only the single key.
		snap.Flushers = []FlusherStatus{*snap.Flusher}
	}
}

// plausibleInstance: flusher instance ids are short and printable.
func plausibleInstance(s string) bool {
	return s != "" && len(s) <= 64 && model.Printable(s) == s && !strings.ContainsAny(s, " ")
}

func (p *Poller) readInfo(snap *Snapshot, sections []string, infos []*redis.StringCmd) {
	readAny := false
	var firstErr error
	for i, cmd := range infos {
		text, err := cmd.Result()
		if err != nil {
			if isRedisError(err) {
				p.unsupported[sections[i]] = true
			}
			firstErr = orErr(firstErr, err)
			continue
		}
		ParseInfo(text, &snap.Info)
		readAny = true
	}
	if !readAny {
		snap.InfoErr = orErr(firstErr, errors.New("no INFO section answered"))
		return
	}
	if p.opts.FillInfo != nil {
		p.opts.FillInfo(&snap.Info)
	}
	p.updateWindow(snap)
}

// updateWindow computes the rates since the previous poll's INFO (summed over a cluster's
// masters) and keeps this one for the next.
func (p *Poller) updateWindow(snap *Snapshot) {
	cur := snap.Info
	if prev := p.prevInfo; prev != nil {
		snap.Window = window(*prev, cur, snap.At.Sub(p.prevAt))
	}
	p.prevInfo, p.prevAt = &cur, snap.At
}

// startSide reads, alongside the main pipeline, what lives elsewhere than the keys: the
// INFO of every node of a cluster (the pipeline's INFO would reach one node), and the
// master the Sentinels name now. The returned function waits for it and fills snap.
func (p *Poller) startSide(ctx context.Context, snap *Snapshot) (wait func()) {
	cluster, sentinel := p.client.IsCluster(), p.client.IsSentinel()
	if !cluster && !sentinel {
		return func() {}
	}
	done := make(chan struct{})
	var nodes []NodeInfo
	var sum Info
	var nodesErr, masterErr error
	var master string
	go func() {
		defer close(done)
		if cluster {
			nodes, sum, nodesErr = p.readNodes(ctx, snap.At)
		}
		if sentinel {
			master, masterErr = p.client.CurrentMaster(ctx)
		}
	}()
	return sync.OnceFunc(func() {
		<-done
		snap.Master, snap.MasterErr = master, masterErr
		if !cluster {
			return
		}
		snap.Nodes = nodes
		if nodesErr != nil {
			snap.InfoErr = nodesErr
			return
		}
		snap.Info = sum
		p.updateWindow(snap)
	})
}

func orErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
