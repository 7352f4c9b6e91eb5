package driver

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout makes the kernel abort a TCP connection whose data has waited unacknowledged
// for longer than d (TCP_USER_TIMEOUT; the keepalive probes of an idle connection count as
// such data), so a request written to a connection that died without a word fails within d
// instead of waiting on TCP's retransmissions for a quarter of an hour.
func setUserTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		})
		if err != nil {
			return err
		}
		return serr
	}
}
