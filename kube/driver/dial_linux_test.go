package driver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The connections of the driver's own dialer give up on data left unacknowledged after
// userTimeout (TCP_USER_TIMEOUT), so a request on a connection that died without a word fails
// instead of waiting on TCP's retransmissions (HTTP/1.1 has no health check of its own).
func TestPoolConnectionsHaveAUserTimeout(t *testing.T) {
	cfg, _, _ := tlsServer(t)
	conns := &connections{http1: true} // a connection of HTTP/1.1 is the request's alone
	defer conns.closeIdle()
	hc, err := conns.open(cfg, requestPool)
	require.NoError(t, err)
	_, conn := protocolOf(t, cfg, hc)
	require.NotNil(t, conn, "the request's connection")
	raw, err := tcpConn(t, conn).SyscallConn()
	require.NoError(t, err)
	got, serr := 0, error(nil)
	require.NoError(t, raw.Control(func(fd uintptr) {
		got, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}))
	require.NoError(t, serr)
	assert.Equal(t, int(userTimeout.Milliseconds()), got)
}
