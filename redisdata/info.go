package redisdata

import (
	"strconv"
	"strings"

	"github.com/quflx/quflx-tui/model"
)

// Int is a figure from INFO that the server may not report (miniredis answers only the
// clients and stats sections): the dashboard shows "not reported", never a false zero.
type Int struct {
	V     int64
	Known bool
}

func (i *Int) set(s string) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		i.V, i.Known = v, true
	}
}

// DBKeys is one line of INFO keyspace.
type DBKeys struct {
	Keys     int64 `json:"keys"`
	Expires  int64 `json:"expires"`
	AvgTTLms int64 `json:"avg_ttl_ms"`
}

// Info is the typed part of INFO that quflx-tui shows.
type Info struct {
	Version string // redis_version; "" when not reported
	Mode    string // standalone, cluster, sentinel
	Role    string // master, slave

	UptimeSeconds    Int
	ConnectedClients Int
	BlockedClients   Int

	UsedMemory     Int // bytes
	UsedMemoryPeak Int
	UsedMemoryRSS  Int
	MaxMemory      Int

	OpsPerSec      Int // instantaneous_ops_per_sec: the server's ~1.6 s moving mean
	TotalCommands  Int // total_commands_processed
	KeyspaceHits   Int
	KeyspaceMisses Int
	ExpiredKeys    Int
	EvictedKeys    Int
	PubSubChannels Int
	PubSubPatterns Int

	// Keyspace maps db number to its counts; nil when the section was not reported.
	Keyspace map[int]DBKeys
}

// HitRate is the lifetime keyspace hit rate, in [0, 1]. ok is false when the server does
// not report it or has served no reads.
func (i Info) HitRate() (rate float64, ok bool) {
	if !i.KeyspaceHits.Known || !i.KeyspaceMisses.Known {
		return 0, false
	}
	total := i.KeyspaceHits.V + i.KeyspaceMisses.V
	if total == 0 {
		return 0, false
	}
	return float64(i.KeyspaceHits.V) / float64(total), true
}

// ParseInfo folds the text of one or more INFO replies into info. Unknown fields are
// ignored, so newer servers parse fine.
func ParseInfo(text string, info *Info) {
	ints := infoInts(info)
	for len(text) > 0 {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			if strings.HasPrefix(line, "# Keyspace") && info.Keyspace == nil {
				info.Keyspace = map[int]DBKeys{}
			}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if f := ints[key]; f != nil {
			f.set(val)
			continue
		}
		switch key {
		// Shown on the operator's screen: a server (or a proxy posing as one) picks them.
		case "redis_version":
			info.Version = model.Printable(val)
		case "redis_mode":
			info.Mode = model.Printable(val)
		case "role":
			info.Role = model.Printable(val)
		default:
			if db, ok := strings.CutPrefix(key, "db"); ok {
				if n, err := strconv.Atoi(db); err == nil {
					if info.Keyspace == nil {
						info.Keyspace = map[int]DBKeys{}
					}
					info.Keyspace[n] = parseDBKeys(val)
				}
			}
		}
	}
}

func infoInts(i *Info) map[string]*Int {
	return map[string]*Int{
		"uptime_in_seconds":         &i.UptimeSeconds,
		"connected_clients":         &i.ConnectedClients,
		"blocked_clients":           &i.BlockedClients,
		"used_memory":               &i.UsedMemory,
		"used_memory_peak":          &i.UsedMemoryPeak,
		"used_memory_rss":           &i.UsedMemoryRSS,
		"maxmemory":                 &i.MaxMemory,
		"instantaneous_ops_per_sec": &i.OpsPerSec,
		"total_commands_processed":  &i.TotalCommands,
		"keyspace_hits":             &i.KeyspaceHits,
		"keyspace_misses":           &i.KeyspaceMisses,
		"expired_keys":              &i.ExpiredKeys,
		"evicted_keys":              &i.EvictedKeys,
		"pubsub_channels":           &i.PubSubChannels,
		"pubsub_patterns":           &i.PubSubPatterns,
	}
}

// parseDBKeys reads "keys=1,expires=0,avg_ttl=0".
func parseDBKeys(s string) DBKeys {
	var d DBKeys
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "keys":
			d.Keys = n
		case "expires":
			d.Expires = n
		case "avg_ttl":
			d.AvgTTLms = n
		}
	}
	return d
}
