package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/canarykit/canarykit/canary"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	"k8s.io/client-go/tools/cache"
)

// controlWatch is one namespace's watch of canarykit's leases (canary.LabelManagedBy), shared
// by every lease of the namespace registered with Cluster.Controls: it delivers their Control
// requests and finds a held one taken or deleted.
type controlWatch struct {
	inf    cache.SharedIndexInformer
	stop   chan struct{} // closed when the namespace is released, or by Close
	errs   *nsCache      // records the watch's list/watch failures, for the sync error
	mu     sync.Mutex
	leases map[string][]*Lease // lease name → the leases registered for its requests
	// seen is, per lease name, the resourceVersion of the last object the handler was given:
	// a registration delivers the stored object itself only when the handler has nothing newer
	// queued for it, so requests are applied in the order they were made.
	seen map[string]string
	// holders counts the registered leases by their Holders: the holder leases of the
	// namespace are handed to each, which finds its own deleted or taken
	holders map[*Holders]int
	// retired is set when the namespace's last Retain is released and no lease is registered:
	// the watch is stopping, and a registration must start another
	retired bool
}

// Controls registers l for the Control requests made on its target (RequestControl): apply is
// called once for each new request while the registration lasts: from a goroutine that
// applies the watch's copies of the lease in order (a lease busy writing never holds up the
// watch's delivery to the others), or after the write of the lease that found the request.
// Call it while holding the lease; the request is cleared by the lease's next write (during
// Hold, one made at once for that), so it is applied once even across drivers. A request already pending
// (left while no driver applied it) is applied at once.
//
// Every lease of a namespace shares one watch, label-selected on canary.LabelManagedBy, so the
// watches number one per namespace whatever the number of targets. It also guards the claim:
// while the registered lease is held, a change of its holder or acquire time, or its deletion,
// wakes the lease's renewals at once, and their write finds the loss (ErrLeaseLost) – a lease
// vouched for by a holder lease writes only every half hour otherwise. Likewise the holder
// lease of the registered lease's Holders: deleted or taken, its renewals write at once and
// its target leases write their own claims (see Holders). Each write of a
// canarykit lease of the namespace reaches the watch: with Holders those are the holder
// lease's renewals and the rare writes of the target leases (a request cleared, a status save
// when the lease keeps the status). A request without LabelControlRequested (written by
// a canaryctl older than the label) reaches the watch as well, and the holder's next write,
// which its change makes conflict, finds it too.
//
// The first registration of a namespace starts the watch and waits for its first sync, within
// Options.SyncTimeout (an identity that may not list or watch leases gets an error saying so).
// The returned stop ends the registration, once a request being applied is done: nothing is
// applied after it returns. Requests are applied one at a time; apply must not call stop, nor
// write the lease (Save) itself. The watch itself runs until Close, or until the last Retain
// of the namespace is released while no lease is registered.
func (c *Cluster) Controls(ctx context.Context, l *Lease, apply func(Control)) (stop func(), err error) {
	if apply == nil {
		return nil, fmt.Errorf("kube: Controls of lease %s: apply is nil", l.name)
	}
	l.mu.Lock()
	if l.apply != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("kube: lease %s is already registered for control requests", l.name)
	}
	l.apply = apply
	pending := l.obj // as read when acquired
	l.mu.Unlock()
	unset := func() { // waits for a request being applied
		l.applyMu.Lock()
		l.mu.Lock()
		l.apply, l.queued = nil, nil
		l.mu.Unlock()
		l.applyMu.Unlock()
	}
	ns := l.opts.Target.Namespace
	var cw *controlWatch
	for {
		cw, err = c.controlWatch(ctx, ns)
		if err != nil {
			unset()
			return nil, err
		}
		cw.mu.Lock()
		if !cw.retired {
			break
		}
		cw.mu.Unlock() // released since controlWatch returned it: the next call starts another
	}
	cw.leases[l.name] = append(cw.leases[l.name], l)
	if hs := l.opts.Holders; hs != nil {
		cw.holders[hs]++
	}
	if obj, ok, _ := cw.inf.GetStore().GetByKey(ns + "/" + l.name); ok {
		if lease, ok := obj.(*coordinationv1.Lease); ok && cw.seen[l.name] == lease.ResourceVersion {
			l.fromWatch(watched{obj: lease, notice: true}) // the handler is done with it: nothing newer is on its way
		}
	}
	cw.mu.Unlock()
	if req, labelled := requested(pending); req != "" && !labelled {
		l.notice(pending)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cw.mu.Lock()
			cw.leases[l.name] = slices.DeleteFunc(cw.leases[l.name], func(x *Lease) bool { return x == l })
			if len(cw.leases[l.name]) == 0 {
				delete(cw.leases, l.name)
			}
			if hs := l.opts.Holders; hs != nil {
				if cw.holders[hs]--; cw.holders[hs] <= 0 {
					delete(cw.holders, hs)
				}
			}
			cw.mu.Unlock()
			unset()
		})
	}, nil
}

// controlWatch returns ns's watch of requested leases, started and synced.
func (c *Cluster) controlWatch(ctx context.Context, ns string) (*controlWatch, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("kube: cluster closed")
	}
	cw, ok := c.controls[ns]
	if !ok {
		inf := coordinationinformers.NewFilteredLeaseInformer(c.watch, ns, c.resync, cache.Indexers{},
			func(o *metav1.ListOptions) { o.LabelSelector = canary.LabelManagedBy + "=" + canary.ManagedBy })
		cw = &controlWatch{inf: inf, stop: make(chan struct{}), errs: &nsCache{watchErrs: map[string]string{}},
			leases: map[string][]*Lease{}, seen: map[string]string{}, holders: map[*Holders]int{}}
		cw.errs.watch("leases", inf)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    cw.handle,
			UpdateFunc: func(_, obj any) { cw.handle(obj) },
			DeleteFunc: cw.forget,
		})
		c.controls[ns] = cw
		c.running.Go(func() { inf.Run(cw.stop) })
	}
	c.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, c.syncTimeout)
	defer cancel()
	if !waitSynced(sctx, cw.stop, cw.inf.HasSynced) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if isClosed(cw.stop) {
			return nil, fmt.Errorf("kube: the watch of control requests in namespace %s stopped before it synced (namespace released, or cluster closed)", ns)
		}
		return nil, fmt.Errorf("kube: the watch of control requests in namespace %s did not sync within %s%s", ns, c.syncTimeout, cw.errs.errors())
	}
	return cw, nil
}

// handle gives a lease to the leases registered for it: its request, and a check of the claim.
func (cw *controlWatch) handle(obj any) {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.seen[lease.Name] = lease.ResourceVersion
	for _, l := range cw.leases[lease.Name] {
		l.fromWatch(watched{obj: lease, notice: true, observe: true})
	}
	cw.toHolders(lease, false)
}

// toHolders hands a holder lease to the registered leases' Holders; cw.mu is held.
func (cw *controlWatch) toHolders(lease *coordinationv1.Lease, gone bool) {
	if !strings.HasPrefix(lease.Name, holderPrefix) {
		return
	}
	for hs := range cw.holders {
		hs.observe(lease, gone)
	}
}

// forget drops a lease that left the selection (deleted, or its label removed); a registered
// lease holding it checks its claim.
func (cw *controlWatch) forget(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	delete(cw.seen, lease.Name)
	for _, l := range cw.leases[lease.Name] {
		l.fromWatch(watched{obj: lease, observe: true, gone: true})
	}
	cw.toHolders(lease, true)
}
