package kubetest

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// worker is the loop both stand-ins run: one goroutine takes keys off a rate-limited queue and
// hands them to sync, retrying failures with backoff and looking again when sync asks to. It
// starts once the informers have synced and stops when its context ends.
type worker struct {
	queue  workqueue.TypedRateLimitingInterface[types.NamespacedName]
	cancel context.CancelFunc
	done   sync.WaitGroup

	// sync handles one key and says when to look at it again (0: not by itself).
	sync func(context.Context, types.NamespacedName) (time.Duration, error)
	// failed, if set, hears of every sync error while the worker runs.
	failed func(types.NamespacedName, error)
}

// newWorker returns a worker whose loop runs under a context derived from parent, and that
// context; the caller registers its event handlers on the queue, then calls start.
func newWorker(parent context.Context) (*worker, context.Context) {
	ctx, cancel := context.WithCancel(parent)
	return &worker{
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](
			10*time.Millisecond, time.Second)),
		cancel: cancel,
	}, ctx
}

// start starts factory's informers and the loop, which waits for synced first; when ctx ends
// the queue shuts down, the loop returns and the informers stop.
func (w *worker) start(ctx context.Context, factory informers.SharedInformerFactory, synced ...cache.InformerSynced) {
	factory.Start(ctx.Done())
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		defer factory.Shutdown()
		if !cache.WaitForCacheSync(ctx.Done(), synced...) {
			return
		}
		for w.processNext(ctx) {
		}
	}()
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
}

// stop ends the loop and waits for it and the informers.
func (w *worker) stop() {
	w.cancel()
	w.done.Wait()
}

func (w *worker) processNext(ctx context.Context) bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	requeue, err := w.sync(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		if w.failed != nil {
			w.failed(key, err)
		}
		w.queue.AddRateLimited(key)
	case err == nil:
		w.queue.Forget(key)
		if requeue > 0 {
			w.queue.AddAfter(key, requeue)
		}
	}
	return true
}
