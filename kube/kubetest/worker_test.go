package kubetest

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// scriptedSync answers each call with the next of its answers and records the keys it saw.
type scriptedSync struct {
	answers []syncAnswer
	seen    []types.NamespacedName
}

type syncAnswer struct {
	after time.Duration
	err   error
}

func (s *scriptedSync) sync(_ context.Context, key types.NamespacedName) (time.Duration, error) {
	s.seen = append(s.seen, key)
	if len(s.seen) > len(s.answers) {
		return 0, nil
	}
	a := s.answers[len(s.seen)-1]
	return a.after, a.err
}

func TestWorkerRetriesFailuresAndRequeuesWhenAsked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, ctx := newWorker(t.Context())
		defer w.cancel()
		defer w.queue.ShutDown()
		boom := errors.New("boom")
		script := &scriptedSync{answers: []syncAnswer{{err: boom}, {after: time.Minute}, {}}}
		var failures []error
		w.sync = script.sync
		w.failed = func(_ types.NamespacedName, err error) { failures = append(failures, err) }
		key := types.NamespacedName{Namespace: "ns", Name: "a"}

		w.queue.Add(key)
		require.True(t, w.processNext(ctx))
		assert.Equal(t, []error{boom}, failures, "a failed sync is reported")
		assert.Equal(t, 1, w.queue.NumRequeues(key), "and retried with backoff")

		require.True(t, w.processNext(ctx)) // the retry, after the backoff
		assert.Equal(t, 0, w.queue.NumRequeues(key), "a sync that succeeds resets the backoff")
		assert.Equal(t, 0, w.queue.Len(), "a requeue waits for its delay")
		time.Sleep(time.Minute - time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 0, w.queue.Len(), "not before the delay")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 1, w.queue.Len(), "the key is back once the delay has passed")

		require.True(t, w.processNext(ctx))
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, 0, w.queue.Len(), "a sync that asks for nothing is not requeued")
		assert.Equal(t, []types.NamespacedName{key, key, key}, script.seen)
		assert.Len(t, failures, 1)
	})
}

func TestWorkerIgnoresFailuresOnceStopping(t *testing.T) {
	w, ctx := newWorker(t.Context())
	script := &scriptedSync{answers: []syncAnswer{{err: context.Canceled}}}
	failed := 0
	w.sync = script.sync
	w.failed = func(types.NamespacedName, error) { failed++ }
	key := types.NamespacedName{Namespace: "ns", Name: "a"}
	w.queue.Add(key)
	w.cancel()
	require.True(t, w.processNext(ctx))
	assert.Zero(t, failed, "an error of a stopping worker is not reported")
	assert.Zero(t, w.queue.NumRequeues(key), "nor retried")
	w.queue.ShutDown()
	assert.False(t, w.processNext(ctx), "the loop ends when the queue shuts down")
}

func TestWorkerRunsAfterTheCacheSyncsAndStops(t *testing.T) {
	client := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}})
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods()
	w, ctx := newWorker(t.Context())
	seen := make(chan types.NamespacedName, 1)
	w.sync = func(_ context.Context, key types.NamespacedName) (time.Duration, error) {
		// the cache has synced before the first key is handled
		_, err := pods.Lister().Pods(key.Namespace).Get(key.Name)
		assert.NoError(t, err)
		seen <- key
		return 0, nil
	}
	_, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		p := obj.(*corev1.Pod)
		w.queue.Add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	}})
	require.NoError(t, err)
	w.start(ctx, factory, pods.Informer().HasSynced)
	assert.Equal(t, types.NamespacedName{Namespace: "ns", Name: "p"}, <-seen)
	w.stop()
	assert.True(t, w.queue.ShuttingDown(), "stop shuts the queue down")
	assert.Error(t, ctx.Err(), "and ends the worker's context")
}
