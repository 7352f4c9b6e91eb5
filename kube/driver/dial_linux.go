package driver

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout makes the kernel abort a TCP connection whose data has waited unacknowledged
// for longer than d (TCP_USER_TIMEOUT; the keepalive probes of an idle connection count as
// such data), so a request written to a connection that died without a word fails within d
// instead of waiting on TCP's retransmissions for a quarter of an hour. It is best effort: a
// kernel or sandbox that refuses the option leaves the connection as TCP makes it, rather
// than failing every dial.
func setUserTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(network, _ string, c syscall.RawConn) error {
		if network != "tcp" && network != "tcp4" && network != "tcp6" {
			return nil
		}
		return c.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		})
	}
}
