package redisdata

import (
	"net"
	"syscall"
	"unsafe"
)

// socketPending returns how many bytes the kernel holds unread for conn; false when it
// cannot tell (a TLS connection's bytes are not yet messages).
func socketPending(conn net.Conn) (int, bool) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	}); err != nil || errno != 0 {
		return 0, false
	}
	return int(n), true
}

// setLowWater sets the socket's SO_RCVLOWAT. While a reader holds ticks it sets it high:
// Linux then acknowledges what arrives at once rather than with a delayed ACK (the unread
// bytes are below the mark), so the server keeps sending into the socket instead of
// waiting, cwnd-bound, for acknowledgements the held socket would otherwise not send.
func setLowWater(conn net.Conn, n int) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
		})
	}
}
