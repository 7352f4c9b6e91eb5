//go:build !linux

package driver

import (
	"syscall"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not known: a connection that died
// without a word is found by TCP's keepalive probes alone.
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
