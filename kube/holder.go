package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// LabelHolder ("true") marks a holder lease (see Holders).
const LabelHolder = "canarykit.dev/holder"

// AnnotationHolder on a target's lease names the holder lease, in the same namespace, that
// vouches for the claim while it rests (see Holders).
const AnnotationHolder = "canarykit.dev/holder-lease"

// holderPrefix starts the name of every holder lease.
const holderPrefix = "canarykit-holder-"

// HoldersOptions configures Holders. Zero fields mean "default".
type HoldersOptions struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Identity names the process; the leases that use the Holders hold their targets under it.
	// Required.
	Identity string
	// Duration of a holder lease's claim without renewal; it is renewed every half of it.
	// Default DefaultLeaseDuration.
	Duration time.Duration
	// Clock times the renewals. Default: the real clock.
	Clock clock.Clock
	// Logger receives structured logs. Default: discard.
	Logger logr.Logger
}

// Holders keeps, for one process identity, one holder lease per namespace: a
// coordination.k8s.io Lease labelled LabelHolder, renewed every half of its duration for as
// long as a target lease of the namespace that uses the Holders (LeaseOptions.Holders) is held
// or awaited. A held target lease names its holder lease (AnnotationHolder) and, while it rests
// (Lease.Rest: its holder has no release running), it is not renewed itself: its claim lasts
// while the holder lease it names is held, under the same identity, and not expired. So a
// process holding a thousand idle targets in one namespace renews one lease, not a thousand,
// and a process that stops renewing (it died) loses them all when the holder lease expires.
//
// A driver contending for a target reads the holder lease only when the target lease's own
// claim has expired. A target lease wakes (Lease.Wake) with one write of its own before its
// next release, which fails with ErrLeaseLost if another driver took it meanwhile; while awake
// it renews itself as any lease does, so a driver that knows nothing of holder leases never
// takes a target during a release.
//
// The holder leases of a namespace are reused: a process takes a free or expired one (or its
// own, after a restart with the same identity) before it creates one, so their number is the
// most processes that ever ran in the namespace at once, not the number of restarts. Its
// claim is given up when its last target lease is released.
//
// A holder lease that cannot be renewed within its duration, or that another identity took
// or someone deleted, is lost: every resting lease it vouched for renews itself at once, and
// stops with ErrLeaseLost if that fails.
type Holders struct {
	opts HoldersOptions
	log  logr.Logger

	mu   sync.Mutex
	byNS map[string]*holder
}

// NewHolders returns the Holders of opts.Identity. It touches nothing.
func NewHolders(opts HoldersOptions) (*Holders, error) {
	if opts.Client == nil || opts.Identity == "" {
		return nil, errors.New("kube: HoldersOptions.Client and Identity are required")
	}
	if opts.Duration <= 0 {
		opts.Duration = DefaultLeaseDuration
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Holders{opts: opts, log: log, byNS: map[string]*holder{}}, nil
}

// Identity returns the process identity the holder leases are held under.
func (hs *Holders) Identity() string { return hs.opts.Identity }

// Namespaces returns the namespaces where a holder lease is held, with its name.
func (hs *Holders) Namespaces() map[string]string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := map[string]string{}
	for ns, h := range hs.byNS {
		if name := h.leaseName(); name != "" {
			out[ns] = name
		}
	}
	return out
}

// holder is one namespace's holder lease and the target leases that use it.
type holder struct {
	hs   *Holders
	ns   string
	log  logr.Logger
	stop context.CancelFunc // ends the renewals (ctx)
	ctx  context.Context
	// ready is closed once the lease is claimed (err nil) or could not be (err set).
	ready chan struct{}
	err   error
	done  chan struct{} // closed when the renewals end

	mu        sync.Mutex
	obj       *coordinationv1.Lease
	lastWrite time.Time
	members   map[*Lease]struct{}
	lost      error // set once the claim is lost
	left      bool  // the last member left: the claim is given up
}

func (h *holder) leaseName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.obj == nil || h.lost != nil {
		return ""
	}
	return h.obj.Name
}

func (h *holder) leases() interface {
	List(context.Context, metav1.ListOptions) (*coordinationv1.LeaseList, error)
	Get(context.Context, string, metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(context.Context, *coordinationv1.Lease, metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(context.Context, *coordinationv1.Lease, metav1.UpdateOptions) (*coordinationv1.Lease, error)
} {
	return h.hs.opts.Client.CoordinationV1().Leases(h.ns)
}

// join adds l to the holder lease of its namespace, claiming one first if none is held, and
// returns it.
func (hs *Holders) join(ctx context.Context, l *Lease) (*holder, error) {
	ns := l.opts.Target.Namespace
	hs.mu.Lock()
	h, ok := hs.byNS[ns]
	if ok {
		h.mu.Lock()
		ok = h.lost == nil && !h.left
		h.mu.Unlock()
	}
	first := !ok
	if first {
		hctx, stop := context.WithCancel(context.Background())
		h = &holder{hs: hs, ns: ns, log: hs.log.WithValues("namespace", ns), ctx: hctx, stop: stop,
			ready: make(chan struct{}), done: make(chan struct{}), members: map[*Lease]struct{}{}}
		hs.byNS[ns] = h
	}
	h.mu.Lock()
	h.members[l] = struct{}{}
	h.mu.Unlock()
	hs.mu.Unlock()
	if first {
		err := h.claim(ctx)
		if err != nil {
			h.err = fmt.Errorf("claim a holder lease in namespace %s: %w", ns, err)
			hs.mu.Lock()
			if hs.byNS[ns] == h {
				delete(hs.byNS, ns)
			}
			hs.mu.Unlock()
			h.stop()
			close(h.done)
		} else {
			go h.renewals()
		}
		close(h.ready)
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		hs.leave(h, l)
		return nil, ctx.Err()
	}
	if h.err != nil {
		return nil, h.err
	}
	return h, nil
}

// leave removes l from h; the last member to leave gives the claim up.
func (hs *Holders) leave(h *holder, l *Lease) {
	hs.mu.Lock()
	h.mu.Lock()
	delete(h.members, l)
	last := len(h.members) == 0 && !h.left
	if last {
		h.left = true
		if hs.byNS[h.ns] == h {
			delete(hs.byNS, h.ns)
		}
	}
	h.mu.Unlock()
	hs.mu.Unlock()
	if !last {
		return
	}
	go func() {
		<-h.ready
		h.stop()
		<-h.done
		h.release()
	}()
}

// claim takes a holder lease of the namespace: this identity's own, else a free or expired
// one, else a new one.
func (h *holder) claim(ctx context.Context) error {
	list, err := h.leases().List(ctx, metav1.ListOptions{LabelSelector: LabelHolder + "=true"})
	if err != nil {
		return fmt.Errorf("list holder leases: %w", err)
	}
	now := h.hs.opts.Clock.Now()
	var free []*coordinationv1.Lease
	for i := range list.Items {
		obj := &list.Items[i]
		if !strings.HasPrefix(obj.Name, holderPrefix) {
			continue
		}
		holder := ptr.Deref(obj.Spec.HolderIdentity, "")
		switch {
		case holder == h.hs.opts.Identity:
			free = append([]*coordinationv1.Lease{obj}, free...) // our own first
		case holder == "" || now.After(expiry(obj)):
			free = append(free, obj)
		}
	}
	for _, obj := range free {
		u := obj.DeepCopy()
		if ptr.Deref(u.Spec.HolderIdentity, "") != h.hs.opts.Identity {
			u.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(now))
			u.Spec.LeaseTransitions = ptr.To(ptr.Deref(u.Spec.LeaseTransitions, 0) + 1)
		}
		h.stamp(u, now)
		updated, err := h.leases().Update(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			continue // taken or deleted meanwhile: the next one
		}
		if err != nil {
			return fmt.Errorf("take holder lease %s: %w", obj.Name, err)
		}
		h.took(updated, now)
		return nil
	}
	for attempt := 0; ; attempt++ {
		b := make([]byte, 5)
		_, _ = rand.Read(b)
		obj := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: holderPrefix + hex.EncodeToString(b), Namespace: h.ns,
			Labels: map[string]string{LabelHolder: "true", canary.LabelManagedBy: canary.ManagedBy}},
			Spec: coordinationv1.LeaseSpec{AcquireTime: ptr.To(metav1.NewMicroTime(now))}}
		h.stamp(obj, now)
		created, err := h.leases().Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && attempt < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("create holder lease: %w", err)
		}
		h.took(created, now)
		return nil
	}
}

// stamp sets u's holder, duration and renewal time.
func (h *holder) stamp(u *coordinationv1.Lease, now time.Time) {
	u.Spec.HolderIdentity = ptr.To(h.hs.opts.Identity)
	u.Spec.LeaseDurationSeconds = ptr.To(int32(h.hs.opts.Duration.Seconds()))
	u.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
}

func (h *holder) took(obj *coordinationv1.Lease, now time.Time) {
	h.mu.Lock()
	h.obj, h.lastWrite = obj, now
	h.mu.Unlock()
	h.log.Info("holder lease held", "lease", obj.Name, "identity", h.hs.opts.Identity)
}

// renewals renews the claim every half of its duration until the last member leaves, retrying
// a failed renewal every eighth of it; a claim that expires without one is lost.
func (h *holder) renewals() {
	defer close(h.done)
	clk, d := h.hs.opts.Clock, h.hs.opts.Duration
	retry := time.Duration(0)
	for {
		h.mu.Lock()
		due, expired := h.lastWrite.Add(d/2), h.lastWrite.Add(d)
		h.mu.Unlock()
		t := clk.NewTimer(max(due.Sub(clk.Now()), retry))
		select {
		case <-h.ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		err := h.renew()
		if err == nil {
			retry = 0
			continue
		}
		if h.ctx.Err() != nil {
			return
		}
		if !errors.Is(err, ErrLeaseLost) && clk.Now().After(expired) {
			err = fmt.Errorf("%w: no renewal of the holder lease succeeded within %s: %v", ErrLeaseLost, d, err)
		}
		if errors.Is(err, ErrLeaseLost) {
			h.fail(err)
			return
		}
		retry = d / 8
		h.log.Error(err, "holder lease renewal failed; retrying", "in", retry)
	}
}

// renew writes a new renewal time. A conflict is made again on the fresh lease while this
// identity holds it; another holder, or a deleted lease, is ErrLeaseLost.
func (h *holder) renew() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for attempt := 0; ; attempt++ {
		now := h.hs.opts.Clock.Now()
		u := h.obj.DeepCopy()
		h.stamp(u, now)
		updated, err := h.leases().Update(h.ctx, u, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: holder lease %s was deleted", ErrLeaseLost, h.obj.Name)
		}
		if apierrors.IsConflict(err) && attempt == 0 {
			fresh, gerr := h.leases().Get(h.ctx, h.obj.Name, metav1.GetOptions{})
			if gerr != nil {
				return fmt.Errorf("renew holder lease %s: %w", h.obj.Name, err)
			}
			if holder := ptr.Deref(fresh.Spec.HolderIdentity, ""); holder != h.hs.opts.Identity {
				return fmt.Errorf("%w: holder lease %s is now held by %q", ErrLeaseLost, h.obj.Name, holder)
			}
			h.obj = fresh
			continue
		}
		if err != nil {
			return fmt.Errorf("renew holder lease %s: %w", h.obj.Name, err)
		}
		h.obj, h.lastWrite = updated, now
		return nil
	}
}

// fail marks the claim lost and tells the members.
func (h *holder) fail(err error) {
	h.hs.mu.Lock()
	if h.hs.byNS[h.ns] == h {
		delete(h.hs.byNS, h.ns)
	}
	h.hs.mu.Unlock()
	h.mu.Lock()
	h.lost = err
	members := make([]*Lease, 0, len(h.members))
	for l := range h.members {
		members = append(members, l)
	}
	h.mu.Unlock()
	h.log.Error(err, "holder lease lost; the resting target leases renew themselves")
	for _, l := range members {
		l.unvouched(h)
	}
}

// vouching reports whether h still vouches for its members.
func (h *holder) vouching() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost == nil && !h.left
}

// release gives up the claim after the last member left, so the next process takes the lease
// at once.
func (h *holder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost != nil || h.obj == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := h.obj.DeepCopy()
	u.Spec.HolderIdentity, u.Spec.RenewTime = nil, nil
	_, err := h.leases().Update(ctx, u, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) { // conflict: taken again meanwhile
		h.log.Error(err, "giving up the holder lease failed; it expires on its own", "lease", h.obj.Name)
	}
}

// claimUntil is when cur's claim lapses for anyone but its holder: its own renewal time plus
// duration, or, when later, that of the holder lease named by its AnnotationHolder while that
// one is held by the same identity (a holder lease is read only once the claim's own time has
// passed). The annotation is untrusted: a name that is not a holder lease's vouches for nothing.
func claimUntil(ctx context.Context, get func(context.Context, string, metav1.GetOptions) (*coordinationv1.Lease, error),
	cur *coordinationv1.Lease, now time.Time) (time.Time, error) {
	until := expiry(cur)
	holder := ptr.Deref(cur.Spec.HolderIdentity, "")
	name := cur.Annotations[AnnotationHolder]
	if holder == "" || now.Before(until) || !validHolderName(name) {
		return until, nil
	}
	hl, err := get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return until, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("get holder lease %s of lease %s: %w", name, cur.Name, err)
	}
	if hl.Labels[LabelHolder] != "true" || ptr.Deref(hl.Spec.HolderIdentity, "") != holder {
		return until, nil
	}
	if hu := expiry(hl); hu.After(until) {
		return hu, nil
	}
	return until, nil
}

// validHolderName reports whether name may be a holder lease's.
func validHolderName(name string) bool {
	return strings.HasPrefix(name, holderPrefix) && len(validation.IsDNS1123Subdomain(name)) == 0 &&
		len(name) <= validation.DNS1123LabelMaxLength && !slices.Contains([]byte(name), '.')
}
