//go:build !linux

package redisdata

import "net"

// socketPending cannot tell on this system: the subscriber then never holds ticks.
func socketPending(net.Conn) (int, bool) { return 0, false }

func setLowWater(net.Conn, int) {}
