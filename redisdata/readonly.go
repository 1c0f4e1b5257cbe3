package redisdata

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrReadOnly is returned for a command refused by a read-only client.
var ErrReadOnly = errors.New("read-only connection")

// readAllowed lists what a read-only client may send. A command maps to nil when every
// form of it only reads, or to the set of read-only subcommands. Other monitors grew
// write leaks through views that forgot a check; here there is one list for all callers.
var readAllowed = map[string]map[string]bool{
	// EVAL_RO and EVALSHA_RO run scripts the server forbids from writing.
	"eval_ro": nil, "evalsha_ro": nil,
	"ping": nil, "echo": nil, "info": nil, "time": nil, "dbsize": nil, "role": nil,
	"auth": nil, "hello": nil, "select": nil, "quit": nil, "readonly": nil,
	"get": nil, "mget": nil, "strlen": nil, "getrange": nil, "exists": nil, "type": nil,
	"ttl": nil, "pttl": nil, "expiretime": nil, "scan": nil,
	"llen": nil, "lindex": nil, "lrange": nil,
	"hget": nil, "hlen": nil, "hgetall": nil, "scard": nil, "zcard": nil, "xlen": nil,
	"zrange": nil, "zrevrange": nil, "zrangebyscore": nil, "zscore": nil,
	"subscribe": nil, "psubscribe": nil, "unsubscribe": nil, "punsubscribe": nil,
	"pubsub": {"channels": true, "numsub": true, "numpat": true, "shardchannels": true, "shardnumsub": true},
	"client": {"setname": true, "getname": true, "id": true, "info": true, "no-touch": true, "setinfo": true},
	"memory": {"usage": true, "stats": true},
	"object": {"encoding": true, "freq": true, "idletime": true, "refcount": true},
	// Not CONFIG GET (it shows requirepass and masterauth) nor SLOWLOG GET (other
	// clients' arguments): nothing here needs them.
	"slowlog": {"len": true},
	"latency": {"latest": true, "history": true},
	"command": {"count": true, "info": true, "docs": true},
	// A cluster client learns the slot map and follows ASK redirects by itself.
	"asking":  nil,
	"cluster": {"slots": true, "shards": true, "nodes": true, "info": true, "keyslot": true, "myid": true},
}

// checkReadOnly returns an error wrapping ErrReadOnly when cmd may write.
func checkReadOnly(cmd redis.Cmder) error {
	args := cmd.Args()
	if len(args) == 0 {
		return fmt.Errorf("%w: empty command", ErrReadOnly)
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	subs, ok := readAllowed[name]
	if !ok {
		return fmt.Errorf("%w: %s refused (start with a writing mode to allow it)", ErrReadOnly, strings.ToUpper(name))
	}
	if subs == nil || (name == "command" && len(args) == 1) {
		// Bare COMMAND lists the commands; a cluster client asks it before routing.
		return nil
	}
	if len(args) < 2 || !subs[strings.ToLower(fmt.Sprint(args[1]))] {
		sub := ""
		if len(args) > 1 {
			sub = " " + strings.ToUpper(fmt.Sprint(args[1]))
		}
		return fmt.Errorf("%w: %s%s refused", ErrReadOnly, strings.ToUpper(name), sub)
	}
	return nil
}

// readOnlyHook enforces the allowlist on every command and pipeline of a client.
type readOnlyHook struct{}

func (readOnlyHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (readOnlyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := checkReadOnly(cmd); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (readOnlyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		// One refused command refuses the whole pipeline: half a batch is worse than none.
		for _, cmd := range cmds {
			if err := checkReadOnly(cmd); err != nil {
				for _, c := range cmds {
					c.SetErr(err)
				}
				return err
			}
		}
		return next(ctx, cmds)
	}
}
