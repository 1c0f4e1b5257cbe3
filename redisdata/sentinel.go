package redisdata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentinelAsker asks Redis Sentinels which server is the master now: for the subscriber's
// own connection (which go-redis's failover client does not make) and for display.
type sentinelAsker struct {
	opts Options

	mu      sync.Mutex
	clients map[string]*redis.SentinelClient // by Sentinel address, made on first use
}

func newSentinelAsker(o Options) *sentinelAsker {
	return &sentinelAsker{opts: o, clients: map[string]*redis.SentinelClient{}}
}

func (s *sentinelAsker) client(addr string) *redis.SentinelClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[addr]; c != nil {
		return c
	}
	c := redis.NewSentinelClient(&redis.Options{
		Addr: addr, Username: s.opts.SentinelUsername, Password: s.opts.SentinelPassword,
		TLSConfig: s.opts.TLS, Protocol: 2, DialTimeout: s.opts.DialTimeout, ReadTimeout: s.opts.ReadTimeout,
		WriteTimeout: s.opts.WriteTimeout, ContextTimeoutEnabled: true, PoolSize: 1, MaxRetries: -1, DialerRetries: 1,
		ClientName: s.opts.ClientName,
	})
	s.clients[addr] = c
	return c
}

// currentMaster asks each Sentinel in turn and returns the first answer: a Sentinel that
// is down is passed over, as go-redis does.
func (s *sentinelAsker) currentMaster(ctx context.Context) (string, error) {
	var errs []error
	for _, addr := range s.opts.Sentinels {
		hp, err := s.client(addr).GetMasterAddrByName(ctx, s.opts.MasterName).Result()
		if err == nil && len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1]), nil
		}
		if errors.Is(err, redis.Nil) {
			err = fmt.Errorf("does not know a master named %q", s.opts.MasterName)
		}
		if err == nil {
			err = fmt.Errorf("answered %q", hp)
		}
		errs = append(errs, fmt.Errorf("sentinel %s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("ask the Sentinels for master %s: %w", s.opts.MasterName, errors.Join(errs...))
}

// switchCheckEvery is how often watchSwitch asks the Sentinels, in case their
// +switch-master announcement was missed.
const switchCheckEvery = time.Second

// watchSwitch calls moved once the Sentinels name a master other than current, and
// returns then or when ctx ends. A failover is announced on the Sentinels' +switch-master
// channel; asking now and then covers an announcement lost with a Sentinel's connection.
func (s *sentinelAsker) watchSwitch(ctx context.Context, current string, moved func(master string)) {
	var announced <-chan *redis.Message
	if len(s.opts.Sentinels) > 0 {
		ps := s.client(s.opts.Sentinels[0]).Subscribe(ctx, "+switch-master")
		defer ps.Close()
		announced = ps.Channel()
	}
	ticker := time.NewTicker(switchCheckEvery)
	defer ticker.Stop()
	for {
		master := ""
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-announced:
			if !ok {
				announced = nil
				continue
			}
			// "<name> <old ip> <old port> <new ip> <new port>"
			f := strings.Fields(msg.Payload)
			if len(f) != 5 || f[0] != s.opts.MasterName {
				continue
			}
			master = net.JoinHostPort(f[3], f[4])
		case <-ticker.C:
			m, err := s.currentMaster(ctx)
			if err != nil {
				continue
			}
			master = m
		}
		if master != current {
			moved(master)
			return
		}
	}
}

func (s *sentinelAsker) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, c := range s.clients {
		_ = c.Close()
		delete(s.clients, addr)
	}
}

// IsSentinel reports whether the client reaches its master through Sentinel.
func (c *Client) IsSentinel() bool { return c.sentinel != nil }

// CurrentMaster asks the Sentinels which server is the master now ("" and no error when
// the client does not use Sentinel).
func (c *Client) CurrentMaster(ctx context.Context) (string, error) {
	if c.sentinel == nil {
		return "", nil
	}
	return c.sentinel.currentMaster(ctx)
}

// Close closes the client and its connections to the Sentinels.
func (c *Client) Close() error {
	if c.sentinel != nil {
		c.sentinel.close()
	}
	return c.UniversalClient.Close()
}
