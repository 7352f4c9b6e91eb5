package main

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A Canary with spec.revertOnDeletion deleted, created again and deleted again while the
// first one's finalization has removed its finalizer but not ended is finalized in its own
// right: its target is handed back and its finalizer removed, and it is gone.
func TestControllerFinalizesACanaryCreatedAgainDuringTheFirstsFinalization(t *testing.T) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	reached, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	b.start("controller-1", Options{finalized: func(types.UID) {
		first.Do(func() { // the first finalization waits
			close(reached)
			<-release
		})
	}})
	var released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the replica's own cleanup, which waits for its work

	res := b.dyn.Resource(Canaries).Namespace(b.ns)
	slow := "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 90\n"
	manifest := canaryYAML("web", slow) + "  revertOnDeletion: true\n"
	hasFinalizer := func() bool {
		cur, err := res.Get(context.Background(), "web", metav1.GetOptions{})
		return err == nil && slices.Contains(cur.GetFinalizers(), Finalizer)
	}
	gone := func() bool {
		_, err := res.Get(context.Background(), "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	b.app("web")
	b.apply(manifest)
	b.poll("web initialized, with the finalizer", func() bool {
		return b.status("web").Phase == canary.PhaseInitialized && hasFinalizer()
	})
	require.NoError(t, res.Delete(context.Background(), "web", metav1.DeleteOptions{}))
	b.poll("the first web's finalizer removed by its finalization", func() bool {
		select {
		case <-reached:
			return true
		default:
			return false
		}
	})
	b.poll("the first web gone", gone)

	b.apply(manifest)
	b.poll("web created again, initialized, with the finalizer", func() bool {
		return b.status("web").Phase == canary.PhaseInitialized && hasFinalizer()
	})
	require.NoError(t, res.Delete(context.Background(), "web", metav1.DeleteOptions{}))
	b.poll("the second web finalized and gone while the first one's finalization has not ended", gone)
	unblock()
}
