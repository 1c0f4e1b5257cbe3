package redisdata

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ClusterMode says how a client treats its address.
type ClusterMode int

const (
	// ClusterAuto asks the server (INFO cluster) when dialling: a single node's address
	// is enough to reach a whole cluster.
	ClusterAuto ClusterMode = iota
	// ClusterOff always talks to the one node.
	ClusterOff
	// ClusterOn treats the address as a cluster node without asking.
	ClusterOn
)

// ParseClusterMode reads "auto", "on"/"yes"/"true" or "off"/"no"/"false".
func ParseClusterMode(s string) (ClusterMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return ClusterAuto, nil
	case "on", "yes", "true":
		return ClusterOn, nil
	case "off", "no", "false":
		return ClusterOff, nil
	}
	return 0, fmt.Errorf("cluster mode %q: want auto, on or off", s)
}

func (m ClusterMode) String() string {
	return [...]string{"auto", "off", "on"}[m]
}

// Dial builds a client and checks that the server answers. In ClusterAuto mode it first
// asks the node whether it belongs to a Redis Cluster and, if so, returns a cluster client
// that finds the other nodes by itself and routes every key to its slot's master.
func Dial(ctx context.Context, o Options) (*Client, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	cluster := o.Cluster == ClusterOn
	probe, err := newClient(o, cluster)
	if err != nil {
		return nil, err
	}
	if err := probe.Ping(ctx).Err(); err != nil {
		probe.Close()
		return nil, hintTLS(err, o.TLS != nil)
	}
	if o.Cluster != ClusterAuto || o.Network == "unix" || len(o.Sentinels) > 0 || !nodeIsClustered(ctx, probe) {
		return probe, nil
	}
	probe.Close()
	c, err := newClient(o, true)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// nodeIsClustered reports whether a node says cluster_enabled:1. Servers that refuse or do
// not know INFO cluster (miniredis, restricted ACL users) are single nodes.
func nodeIsClustered(ctx context.Context, c *Client) bool {
	info, err := c.Info(ctx, "cluster").Result()
	return err == nil && strings.Contains(info, "cluster_enabled:1")
}

// IsCluster reports whether the client talks to a Redis Cluster.
func (c *Client) IsCluster() bool { return c.cluster }

// ForEachNode calls fn once per node that holds keys: every master of a cluster, or the
// one server. Nodes of a cluster are visited concurrently.
func (c *Client) ForEachNode(ctx context.Context, fn func(ctx context.Context, node redis.Cmdable) error) error {
	if cc, ok := c.UniversalClient.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return fn(ctx, node)
		})
	}
	return fn(ctx, c.UniversalClient)
}

// ForEachNodeAddr is ForEachNode with each node's address ("" for a single server, which
// is the client's own endpoint).
func (c *Client) ForEachNodeAddr(ctx context.Context, fn func(ctx context.Context, addr string, node redis.Cmdable) error) error {
	if cc, ok := c.UniversalClient.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return fn(ctx, node.Options().Addr, node)
		})
	}
	return fn(ctx, "", c.UniversalClient)
}

// ScanEach walks the whole keyspace with SCAN MATCH match COUNT count (on every master of
// a cluster; SCAN on a cluster client alone would see one node) and calls fn with each
// page of keys. fn may be called concurrently for different nodes.
func (c *Client) ScanEach(ctx context.Context, match string, count int64, fn func(keys []string)) error {
	return c.ForEachNode(ctx, func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, match, count).Result()
			if err != nil {
				return fmt.Errorf("scan %s: %w", match, err)
			}
			if len(keys) > 0 {
				fn(keys)
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
}

// pubsubTarget returns where a subscriber's connection goes: the one server; the master
// the Sentinels name now (after a failover, the new one); or a master of a cluster
// (PUBLISH reaches every node, so any one serves), a different one on each attempt so
// that a node that is down is passed over.
func (c *Client) pubsubTarget(ctx context.Context, attempt int) (network, addr string, err error) {
	if c.sentinel != nil {
		master, err := c.sentinel.currentMaster(ctx)
		if err != nil {
			return "", "", err
		}
		return "tcp", master, nil
	}
	cc, ok := c.UniversalClient.(*redis.ClusterClient)
	if !ok {
		return c.opts.Network, c.opts.Addr, nil
	}
	var mu sync.Mutex
	var masters []string
	err = cc.ForEachMaster(ctx, func(_ context.Context, node *redis.Client) error {
		mu.Lock()
		masters = append(masters, node.Options().Addr)
		mu.Unlock()
		return nil
	})
	if len(masters) == 0 {
		if err == nil {
			err = fmt.Errorf("cluster at %s: no master known", c.opts.Addr)
		}
		return "", "", err
	}
	slices.Sort(masters)
	return "tcp", masters[attempt%len(masters)], nil
}
