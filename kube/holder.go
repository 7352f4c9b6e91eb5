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
// vouches for the claim; AnnotationHolderClaim, on both, is the holder lease's claim token:
// the vouch stands only while the holder lease still carries the same token (see Holders).
const (
	AnnotationHolder      = "canarykit.dev/holder-lease"
	AnnotationHolderClaim = "canarykit.dev/holder-claim"
)

// VouchedLeaseDuration is the duration a vouched target lease declares, and the lease is
// written again every half of it. Drivers of this version do not use it: a vouched claim
// lasts as long as its holder lease's (a lease declaring another duration is not vouched
// for: a driver that knows nothing of holder leases took it). It is what such a driver or
// canaryctl sees, so that one never takes a target a live process holds; it takes the target
// of a process that died without releasing it only after this long.
const VouchedLeaseDuration = time.Hour

// holderPrefix starts the name of every holder lease.
const holderPrefix = "canarykit-holder-"

// HoldersOptions configures Holders. Zero fields mean "default".
type HoldersOptions struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Identity names the process in its holder leases (HolderIdentity). Default: NewIdentity().
	Identity string
	// Duration of a holder lease's claim without renewal; it is renewed every half of it, and
	// counts as lost when no renewal succeeded within three quarters of it (its target leases
	// then write their own claims while it still stands). Whole seconds, at least one and less
	// than VouchedLeaseDuration. Default DefaultLeaseDuration.
	Duration time.Duration
	// Clock times the renewals. Default: the real clock.
	Clock clock.Clock
	// Logger receives structured logs. Default: discard.
	Logger logr.Logger
}

// Holders renews, for one process, the claims of all the target leases it holds: one holder
// lease per namespace, a coordination.k8s.io Lease named canarykit-holder-<random> and
// labelled LabelHolder, renewed every half of its duration while a target lease of the
// namespace that uses the Holders (LeaseOptions.Holders) is held. A target lease taken with
// Holders names the holder lease and its claim token (AnnotationHolder, AnnotationHolderClaim)
// and renews itself only every half of VouchedLeaseDuration (for older tools): its claim lasts
// while the holder lease carries the same token, is held, and has not expired. So a process holding a thousand targets in a namespace renews one
// lease every half duration, not a thousand, whether the targets are idle or releasing. The
// token is drawn anew each time a holder lease is claimed, so a process restarted under the
// same identity does not inherit the claims of its previous run. The Leases that share Holders
// hold a target one at a time: a second Lease of a target waits until the first releases it.
//
// A process that stops renewing (it died) loses all its targets when its holder lease expires.
// A holder lease that is not renewed within three quarters of its duration (while it still
// stands for the others), whose renewal reached the server only after it expired (others may
// have taken its targets meanwhile without touching it), that another process took or that
// was deleted, is lost: each target lease it vouched for renews itself at once, and if that
// write fails, or finds another driver's claim, the lease is lost (ErrLeaseLost); otherwise it
// goes on as a lease without Holders. A lost holder lease is not given up: it expires on its
// own, so it keeps vouching for its targets while they write their own claims. Deleting a
// holder lease frees, for the other drivers, every target it vouches for at once. Its process
// finds out from the namespace's Lease watch as soon as the watch delivers the change, while a
// lease of the namespace that uses the Holders is registered with Cluster.Controls (the
// driver registers every Target's and Release's), else at its next renewal, within half the
// duration; the same holds for a holder lease another process took.
//
// Holder leases are reused: a process takes a free or expired one before it creates one, so
// their number is the most processes that held targets in the namespace at once. A holder
// lease is given up when its last target lease is released, which frees at once whatever it
// still vouched for.
type Holders struct {
	opts HoldersOptions
	log  logr.Logger

	claims sync.Map // "<namespace>/<name>" of a target lease: the *Lease holding or taking it

	mu   sync.Mutex
	byNS map[string]*holder
}

// NewHolders returns Holders. It touches nothing.
func NewHolders(opts HoldersOptions) (*Holders, error) {
	if opts.Client == nil {
		return nil, errors.New("kube: HoldersOptions.Client is required")
	}
	log, err := claimDefaults("HoldersOptions", &opts.Identity, &opts.Duration, &opts.Clock, opts.Logger)
	if err != nil {
		return nil, err
	}
	return &Holders{opts: opts, log: log, byNS: map[string]*holder{}}, nil
}

// Identity returns the identity the holder leases are held under.
func (hs *Holders) Identity() string { return hs.opts.Identity }

// Namespaces returns the namespaces where a holder lease is held, with its name.
func (hs *Holders) Namespaces() map[string]string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := map[string]string{}
	for ns, h := range hs.byNS {
		if name, _, ok := h.vouch(); ok {
			out[ns] = name
		}
	}
	return out
}

// holder is one namespace's holder lease.
type holder struct {
	hs    *Holders
	ns    string
	log   logr.Logger
	ctx   context.Context    // ends the renewals
	stop  context.CancelFunc // cancels ctx
	ready chan struct{}      // closed once the claim is made (err nil) or failed (err set)
	err   error
	lost  context.Context // done when the claim is lost (a context: a parked lease waits on it without a goroutine)
	lose  context.CancelFunc
	wake  chan struct{} // the Lease watch saw the holder lease deleted or taken: renew at once
	done  chan struct{} // closed when the renewals have ended and the claim is given up

	mu        sync.Mutex
	obj       *coordinationv1.Lease
	token     string
	lastWrite time.Time
	members   int
	left      bool // the last member left: the claim is being given up
	lostErr   error
	halted    bool // tests: the renewals stop as in a process that died (kept, not given up)
}

func (h *holder) leases() interface {
	List(context.Context, metav1.ListOptions) (*coordinationv1.LeaseList, error)
	Get(context.Context, string, metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(context.Context, *coordinationv1.Lease, metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(context.Context, *coordinationv1.Lease, metav1.UpdateOptions) (*coordinationv1.Lease, error)
} {
	return h.hs.opts.Client.CoordinationV1().Leases(h.ns)
}

// attempt is the time one request of a holder lease may take: an eighth of its duration, at
// least a second, so a hung request never delays a renewal past the claim's expiry.
func (h *holder) attempt() time.Duration { return max(h.hs.opts.Duration/8, time.Second) }

// vouch returns the holder lease's name and claim token while the claim stands with a margin:
// a claim not renewed within its renewDeadline vouches for no new target lease.
func (h *holder) vouch() (name, token string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.obj == nil || h.lostErr != nil || h.left || h.hs.opts.Clock.Since(h.lastWrite) >= renewDeadline(h.hs.opts.Duration) {
		return "", "", false
	}
	return h.obj.Name, h.token, true
}

// join makes l a member of its namespace's holder lease, claiming one first if none is held.
// A holder lease that is being given up is waited for, so that it is reused rather than a
// new one created.
func (hs *Holders) join(ctx context.Context, ns string) (*holder, error) {
	for {
		hs.mu.Lock()
		h, ok := hs.byNS[ns]
		if ok {
			h.mu.Lock()
			switch {
			case h.left:
				h.mu.Unlock()
				hs.mu.Unlock()
				select { // the previous claim is being given up: wait, then claim again
				case <-h.done:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				continue
			case h.lostErr != nil:
				delete(hs.byNS, ns)
				ok = false
			default:
				h.members++
			}
			h.mu.Unlock()
		}
		if !ok {
			hctx, stop := context.WithCancel(context.Background())
			lost, lose := context.WithCancel(context.Background())
			h = &holder{hs: hs, ns: ns, log: hs.log.WithValues("namespace", ns), ctx: hctx, stop: stop, members: 1,
				ready: make(chan struct{}), lost: lost, lose: lose, wake: make(chan struct{}, 1), done: make(chan struct{})}
			hs.byNS[ns] = h
			go h.run()
		}
		hs.mu.Unlock()
		select {
		case <-h.ready:
		case <-ctx.Done():
			hs.leave(h)
			return nil, ctx.Err()
		}
		if h.err != nil {
			hs.leave(h)
			return nil, h.err
		}
		return h, nil
	}
}

// leave ends a membership; the last member to leave gives the claim up, and returns once it
// has (one request, bounded by attempt()).
func (hs *Holders) leave(h *holder) {
	hs.mu.Lock()
	h.mu.Lock()
	h.members--
	last := h.members == 0 && !h.left
	if last {
		h.left = true
		h.stop() // run gives the claim up, and joiners wait for that (h.done)
	}
	h.mu.Unlock()
	hs.mu.Unlock()
	if last {
		<-h.done
	}
}

// run claims the holder lease, renews it until the last member leaves or the claim is lost,
// then gives it up.
func (h *holder) run() {
	defer func() {
		h.hs.mu.Lock()
		if h.hs.byNS[h.ns] == h {
			delete(h.hs.byNS, h.ns)
		}
		h.hs.mu.Unlock()
		close(h.done)
	}()
	ctx, cancel := context.WithTimeout(h.ctx, 4*h.attempt())
	err := h.claim(ctx)
	cancel()
	if err != nil {
		h.err = fmt.Errorf("claim a holder lease in namespace %s: %w", h.ns, err)
		close(h.ready)
		return
	}
	close(h.ready)
	h.renewals()
	h.mu.Lock()
	keep := h.halted || h.lostErr != nil
	h.mu.Unlock()
	if !keep {
		h.release()
	}
}

// claim takes a free or expired holder lease of the namespace, else creates one.
func (h *holder) claim(ctx context.Context) error {
	list, err := h.leases().List(ctx, metav1.ListOptions{LabelSelector: LabelHolder + "=true"})
	if err != nil {
		return fmt.Errorf("list holder leases: %w", err)
	}
	now := h.hs.opts.Clock.Now()
	token := newToken()
	for i := range list.Items {
		obj := &list.Items[i]
		if !validHolderName(obj.Name) || (ptr.Deref(obj.Spec.HolderIdentity, "") != "" && now.Before(expiry(obj))) {
			continue
		}
		u := obj.DeepCopy()
		u.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(now))
		u.Spec.LeaseTransitions = ptr.To(ptr.Deref(u.Spec.LeaseTransitions, 0) + 1)
		h.stamp(u, token, now)
		updated, err := h.leases().Update(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			continue // taken or deleted meanwhile: the next one
		}
		if err != nil {
			return fmt.Errorf("take holder lease %s: %w", obj.Name, err)
		}
		h.took(updated, token, now)
		return nil
	}
	for attempt := 0; ; attempt++ {
		b := make([]byte, 5)
		_, _ = rand.Read(b)
		obj := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: holderPrefix + hex.EncodeToString(b), Namespace: h.ns,
			Labels: map[string]string{LabelHolder: "true", canary.LabelManagedBy: canary.ManagedBy}},
			Spec: coordinationv1.LeaseSpec{AcquireTime: ptr.To(metav1.NewMicroTime(now))}}
		h.stamp(obj, token, now)
		created, err := h.leases().Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && attempt < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("create holder lease: %w", err)
		}
		h.took(created, token, now)
		return nil
	}
}

// newToken is a claim token: 16 random hex digits.
func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stamp sets u's holder, claim token, duration and renewal time.
func (h *holder) stamp(u *coordinationv1.Lease, token string, now time.Time) {
	if u.Annotations == nil {
		u.Annotations = map[string]string{}
	}
	u.Annotations[AnnotationHolderClaim] = token
	if u.Labels == nil {
		u.Labels = map[string]string{}
	}
	u.Labels[LabelHolder] = "true"
	u.Labels[canary.LabelManagedBy] = canary.ManagedBy // in the Lease watch's selection
	u.Spec.HolderIdentity = ptr.To(h.hs.opts.Identity)
	u.Spec.LeaseDurationSeconds = ptr.To(int32(h.hs.opts.Duration.Seconds()))
	u.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
}

func (h *holder) took(obj *coordinationv1.Lease, token string, now time.Time) {
	h.mu.Lock()
	h.obj, h.token, h.lastWrite = obj, token, now
	h.mu.Unlock()
	h.log.Info("holder lease held", "lease", obj.Name, "identity", h.hs.opts.Identity)
}

// renewals renews the claim every half of its duration until the last member leaves, retrying
// a failed renewal every retryPeriod; a claim not renewed within its renewDeadline is lost
// while it still stands, so its members write their own claims before anyone may take them.
func (h *holder) renewals() {
	clk, d := h.hs.opts.Clock, h.hs.opts.Duration
	retry := time.Duration(0)
	var lastErr error
	for {
		h.mu.Lock()
		last := h.lastWrite
		h.mu.Unlock()
		deadline := last.Add(renewDeadline(d))
		wait := last.Add(d / 2).Sub(clk.Now())
		if retry > 0 {
			wait = min(retry, deadline.Sub(clk.Now()))
		}
		fired, stop := timerFor(clk, wait)
		select {
		case <-h.ctx.Done():
			stop()
			return
		case <-fired:
		case <-h.wake:
			stop()
		}
		err := h.renew(deadline, last.Add(d))
		if err == nil {
			retry, lastErr = 0, nil
			continue
		}
		if h.ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrLeaseLost) {
			if lastErr != nil {
				err = fmt.Errorf("%w (the last renewal failed: %v)", err, lastErr)
			}
			h.fail(err)
			return
		}
		retry, lastErr = retryPeriod(d), err
		h.log.Error(err, "holder lease renewal failed; retrying", "in", retry)
	}
}

// renew writes a new renewal time, each request bounded by attempt() and by deadline. A
// conflict is made again on the fresh lease while it still carries this claim's token; another
// claim, or a deleted lease, is ErrLeaseLost. So is a claim not renewed by deadline, and one
// whose write reached the server only after expired: other drivers may have taken its targets
// meanwhile without touching the holder lease, so it is not renewed but lost, and its members
// write their own leases (which finds any takeover). Only the renewals goroutine writes the
// lease, so h.mu is not held across the requests.
func (h *holder) renew(deadline, expired time.Time) error {
	h.mu.Lock()
	obj, token := h.obj, h.token
	h.mu.Unlock()
	for attempt := 0; ; attempt++ {
		now := h.hs.opts.Clock.Now()
		if !now.Before(deadline) {
			return fmt.Errorf("%w: holder lease %s was not renewed within %s of its last renewal", ErrLeaseLost, obj.Name,
				renewDeadline(h.hs.opts.Duration))
		}
		u := obj.DeepCopy()
		h.stamp(u, token, now)
		ctx, cancel := context.WithTimeout(h.ctx, min(h.attempt(), deadline.Sub(now)))
		updated, err := h.leases().Update(ctx, u, metav1.UpdateOptions{})
		cancel()
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: holder lease %s was deleted", ErrLeaseLost, obj.Name)
		}
		if apierrors.IsConflict(err) && attempt == 0 {
			ctx, cancel := context.WithTimeout(h.ctx, h.attempt())
			fresh, gerr := h.leases().Get(ctx, obj.Name, metav1.GetOptions{})
			cancel()
			if apierrors.IsNotFound(gerr) {
				return fmt.Errorf("%w: holder lease %s was deleted", ErrLeaseLost, obj.Name)
			}
			if gerr != nil {
				return fmt.Errorf("renew holder lease %s: %w", obj.Name, err)
			}
			if fresh.Annotations[AnnotationHolderClaim] != token || ptr.Deref(fresh.Spec.HolderIdentity, "") != h.hs.opts.Identity ||
				fresh.Labels[LabelHolder] != "true" {
				return fmt.Errorf("%w: holder lease %s is now held by %q", ErrLeaseLost, obj.Name, ptr.Deref(fresh.Spec.HolderIdentity, ""))
			}
			obj = fresh
			continue
		}
		if err != nil {
			return fmt.Errorf("renew holder lease %s: %w", obj.Name, err)
		}
		h.mu.Lock()
		h.obj = updated
		h.mu.Unlock()
		if done := h.hs.opts.Clock.Now(); done.After(expired) {
			return fmt.Errorf("%w: holder lease %s renewed at %s, after it expired at %s", ErrLeaseLost, obj.Name,
				done.Format(time.RFC3339Nano), expired.Format(time.RFC3339Nano))
		}
		h.mu.Lock()
		h.lastWrite = now
		h.mu.Unlock()
		return nil
	}
}

// observe takes the Lease watch's copy of a holder lease of the namespace (gone: deleted, or
// out of the watch's selection). When it is this claim's lease, deleted, held under another
// claim, or stripped of LabelHolder (which voids its vouch for the others), the renewals write
// at once, and their write finds the loss (a copy older than the claim renews it needlessly
// once).
func (hs *Holders) observe(obj *coordinationv1.Lease, gone bool) {
	hs.mu.Lock()
	h := hs.byNS[obj.Namespace]
	hs.mu.Unlock()
	if h == nil {
		return
	}
	h.mu.Lock()
	cur, token := h.obj, h.token
	h.mu.Unlock()
	if cur == nil || obj.Name != cur.Name || obj.UID != cur.UID {
		return
	}
	if gone || obj.Annotations[AnnotationHolderClaim] != token || ptr.Deref(obj.Spec.HolderIdentity, "") != hs.opts.Identity ||
		obj.Labels[LabelHolder] != "true" {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// fail marks the claim lost; the members' leases renew themselves (Lease.renewLoop).
func (h *holder) fail(err error) {
	h.mu.Lock()
	h.lostErr = err
	h.mu.Unlock()
	h.lose()
	h.log.Error(err, "holder lease lost; the target leases it vouched for renew themselves")
}

// release gives up the claim after the last member left, so that what it still vouches for
// is free at once and the next process reuses the lease. The write is conditional on the lease
// as this claim last wrote it: a lease taken or deleted meanwhile is left alone. A claim lost
// is not given up (run): it expires on its own while its members write their own claims.
func (h *holder) release() {
	h.mu.Lock()
	obj := h.obj
	h.mu.Unlock()
	if obj == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.attempt())
	defer cancel()
	u := obj.DeepCopy()
	u.Spec.HolderIdentity, u.Spec.RenewTime = nil, nil
	delete(u.Annotations, AnnotationHolderClaim)
	_, err := h.leases().Update(ctx, u, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) { // conflict: taken again meanwhile
		h.log.Error(err, "giving up the holder lease failed; it expires on its own", "lease", obj.Name)
	}
}

// claimUntil is when cur's claim lapses for anyone but its holder. A claim vouched for by a
// holder lease (AnnotationHolder, AnnotationHolderClaim) lasts while that holder lease carries
// the same claim token and has not expired: its own renewal time and duration are not used.
// Any other claim lasts its own renewal time plus duration. The annotations are untrusted: a
// name that cannot be a holder lease's is not read, and a claim that names one is valid only
// if that lease is labelled LabelHolder and carries the token.
func claimUntil(ctx context.Context, get func(context.Context, string, metav1.GetOptions) (*coordinationv1.Lease, error),
	cur *coordinationv1.Lease) (time.Time, error) {
	name, token := cur.Annotations[AnnotationHolder], cur.Annotations[AnnotationHolderClaim]
	if ptr.Deref(cur.Spec.HolderIdentity, "") == "" || !validHolderName(name) || !validToken(token) ||
		ptr.Deref(cur.Spec.LeaseDurationSeconds, 0) != int32(VouchedLeaseDuration.Seconds()) {
		// not vouched, or taken by a driver that knows nothing of holder leases (it keeps the
		// annotations but writes its own duration)
		return expiry(cur), nil
	}
	hl, err := get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("get holder lease %s of lease %s: %w", name, cur.Name, err)
	}
	if hl.Labels[LabelHolder] != "true" || ptr.Deref(hl.Spec.HolderIdentity, "") == "" || hl.Annotations[AnnotationHolderClaim] != token {
		return time.Time{}, nil
	}
	return expiry(hl), nil
}

// validHolderName reports whether name may be a holder lease's.
func validHolderName(name string) bool {
	return strings.HasPrefix(name, holderPrefix) && len(validation.IsDNS1123Subdomain(name)) == 0 &&
		len(name) <= validation.DNS1123LabelMaxLength && !slices.Contains([]byte(name), '.')
}

// validToken reports whether token may be a claim token (newToken).
func validToken(token string) bool {
	if len(token) != 16 {
		return false
	}
	_, err := hex.DecodeString(token)
	return err == nil
}
