package redisdata

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the child when this process dies, however it dies,
// and puts it in its own process group, so that Ctrl-C at the terminal reaches only
// quflx-tui, which then stops the pipeline before the server.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
