//go:build !linux

package redisdata

import "os/exec"

// dieWithParent: only Linux has a parent-death signal; elsewhere Close (on every normal
// exit) is what stops the server.
func dieWithParent(*exec.Cmd) {}
