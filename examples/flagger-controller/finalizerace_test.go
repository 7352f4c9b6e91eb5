package main

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/tools/record"
)

// finalizeRace is a Controller without a cluster (a fake dynamic client holding objects, a
// driver never asked to start a Target) whose finalization of the Canary of uid "uid-1", the
// first of the name test/a, stops once its finalizer is removed until release is closed.
type finalizeRace struct {
	c       *Controller
	reached chan struct{} // closed when the finalization of uid-1 has removed its finalizer
	release chan struct{}
	forgot  []canary.Target
	mu      sync.Mutex
}

func newFinalizeRace(t *testing.T, objects ...runtime.Object) *finalizeRace {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{Canaries: "CanaryList"}, objects...)
	r := &finalizeRace{reached: make(chan struct{}), release: make(chan struct{})}
	r.c = &Controller{Driver: &driver.Driver{}, Dynamic: dyn, Recorder: record.NewFakeRecorder(100), Forget: func(t canary.Target) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.forgot = append(r.forgot, t)
	}}
	r.c.init()
	r.c.finalized = func(uid types.UID) {
		if uid == "uid-1" {
			close(r.reached)
			<-r.release
		}
	}
	t.Cleanup(func() {
		select {
		case <-r.release:
		default:
			close(r.release)
		}
		r.c.work.Wait()
	})
	return r
}

// deletedCanary is Canary test/a of that uid, with the finalizer, being deleted. Its spec does
// not load: the controller finalizes it with what it last drove of it, if anything.
func deletedCanary(uid types.UID) *canaryObject {
	now := metav1.Now()
	return &canaryObject{canaryMeta: canaryMeta{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "a", UID: uid,
		DeletionTimestamp: &now, Finalizers: []string{Finalizer}}}}
}

// storedCanary is Canary test/a of that uid as the API server holds it.
func storedCanary(uid types.UID, finalizers ...string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("flagger.app/v1beta1")
	u.SetKind("Canary")
	u.SetNamespace("test")
	u.SetName("a")
	u.SetUID(uid)
	u.SetFinalizers(finalizers)
	return u
}

// A Canary deleted and created again under the same name while the first one's finalization
// is still under way is finalized in its own right when it is deleted in turn: the first
// one's work, ending, does not take the second's deletion for its own (which left the second
// Canary's finalizer in place for ever).
func TestFinalizeOfACanaryCreatedAgainIsNotSkipped(t *testing.T) {
	now := metav1.Now()
	second := storedCanary("uid-2", Finalizer)
	second.SetDeletionTimestamp(&now)
	r := newFinalizeRace(t, second)
	ctx := context.Background()

	r.c.finalize(ctx, "test/a", deletedCanary("uid-1"))
	<-r.reached
	r.c.finalize(ctx, "test/a", deletedCanary("uid-2")) // the second Canary, deleted meanwhile
	close(r.release)
	r.c.work.Wait()

	cur, err := r.c.Dynamic.Resource(Canaries).Namespace("test").Get(ctx, "a", metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, slices.Contains(cur.GetFinalizers(), Finalizer), "the second Canary's finalizer was not removed")
}

// A Canary created again under the name of one whose finalization is still under way, and
// driven, is retired when it is deleted in turn: the first one's finalization, ending, does not
// forget what the second one drives.
func TestFinalizeKeepsWhatACanaryCreatedAgainDrives(t *testing.T) {
	r := newFinalizeRace(t, storedCanary("uid-3")) // created a third time by the end
	ctx := context.Background()

	r.c.finalize(ctx, "test/a", deletedCanary("uid-1"))
	<-r.reached
	second := deletedCanary("uid-2")
	second.DeletionTimestamp, second.Finalizers = nil, nil
	driven := &flagger.Canary{Target: canary.Target{Namespace: "test", Name: "podinfo", Canary: "a"}}
	r.c.driven("test/a", second, driven) // as sync records the second Canary driven
	close(r.release)
	r.c.work.Wait()

	r.c.deleted(ctx, second)
	r.c.work.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Contains(t, r.forgot, driven.Target, "the second Canary's target was not retired on its deletion")
}
