package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

// A namespace's caches and watch of control requests stop when its last retention is
// released, and start again at the next use; a lease still registered keeps the watch.
func TestRetainReleasesANamespaceWithItsLastRetention(t *testing.T) {
	ctx := context.Background()
	c, err := New(Options{Client: fake.NewClientset(), ReleaseDelay: -1}) // at once
	require.NoError(t, err)
	defer c.Close()

	first, second := c.Retain("ns"), c.Retain("ns")
	nc, err := c.namespace(ctx, "ns", hpaScalers)
	require.NoError(t, err)
	cw, err := c.controlWatch(ctx, "ns")
	require.NoError(t, err)
	_, err = c.namespace(ctx, "other", noExtras) // used without Retain: kept until Close
	require.NoError(t, err)
	assert.Equal(t, []string{"ns", "other"}, c.Namespaces())

	first()
	first() // once only
	assert.Equal(t, []string{"ns", "other"}, c.Namespaces(), "retained still")
	assert.False(t, isClosed(nc.stop))
	second()
	assert.Equal(t, []string{"other"}, c.Namespaces())
	assert.True(t, isClosed(nc.stop), "the caches' informers stopped")
	assert.True(t, isClosed(cw.stop), "the watch of control requests stopped")
	assert.True(t, cw.retired)

	// the next use starts them again
	again, err := c.namespace(ctx, "ns", noExtras)
	require.NoError(t, err)
	assert.NotSame(t, nc, again)
	cw2, err := c.controlWatch(ctx, "ns")
	require.NoError(t, err)
	assert.NotSame(t, cw, cw2)

	// a lease registered outside any retention keeps the watch; the caches go
	release := c.Retain("ns")
	cw2.mu.Lock()
	cw2.leases["podinfo-canarykit"] = []*Lease{{}}
	cw2.mu.Unlock()
	release()
	assert.True(t, isClosed(again.stop))
	assert.False(t, isClosed(cw2.stop), "a registered lease keeps its watch")
	assert.Equal(t, []string{"ns", "other"}, c.Namespaces())

	c.Close()
	assert.True(t, isClosed(cw2.stop))
}

// With a release delay, a namespace retained again before it is due keeps its caches (no new
// list of its objects), and one that is not stops once it is due.
func TestReleaseDelayKeepsANamespaceRetainedAgain(t *testing.T) {
	ctx := context.Background()
	c, err := New(Options{Client: fake.NewClientset(), ReleaseDelay: 50 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	release := c.Retain("ns")
	nc, err := c.namespace(ctx, "ns", noExtras)
	require.NoError(t, err)
	release()
	release = c.Retain("ns") // before the delay has passed
	time.Sleep(100 * time.Millisecond)
	again, err := c.namespace(ctx, "ns", noExtras)
	require.NoError(t, err)
	assert.Same(t, nc, again, "kept: retained again before its release was due")
	assert.False(t, isClosed(nc.stop))
	release()
	require.Eventually(t, func() bool { return isClosed(nc.stop) }, time.Minute, 10*time.Millisecond, "stopped once due")
	assert.Empty(t, c.Namespaces())
}
