package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
)

// CanaryGVR is the resource of Flagger's Canary objects, whose status subresource a Driver
// with Options.CanaryStatus writes.
var CanaryGVR = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}

// conflictRetries bounds the status writes retried after a conflict caused by a change to the
// Canary that left its status alone (an edit of its spec or metadata).
const conflictRetries = 5

// CanaryStore is the canary.StatusStore of a target driven from a Flagger Canary object: the
// status Flagger keeps (phase, canaryWeight, failedChecks, iterations, lastAppliedSpec,
// lastPromotedSpec, trackedConfigs, lastTransitionTime, the session affinity cookies
// sessionAffinityCookie, previousSessionAffinityCookie and primarySessionAffinityCookie, and
// the Promoted condition) is written
// to the Canary's status subresource, one request per step. Flagger's schema prunes what it does
// not declare, so the little canarykit keeps besides (when the analysis started, a pause, a
// rollback under way and its cause) is a condition of its own, ConditionAnalysis, written in
// the same request: a process that resumes finds the step and its intent together. The Lease
// remains the lock: Save requires holding it. (A status written by a driver that kept
// canarykit's part in the Lease annotation is read with the lease's; the next save moves it to
// the condition and clears the lease's, one more write, once. A driver of that earlier
// version, run again afterwards, no longer finds a pause or a rollback under way there.)
//
// Besides the Promoted condition, the store sets the two conditions kstatus reads (and so Flux's
// health checks): Reconciling=True while a release is under way and Stalled=True after a
// rollback; neither is present otherwise.
//
// Between requests the store keeps only what a status update carries: the Canary's name,
// namespace, uid and resourceVersion, and its status as the API server sent it (with the
// fields the store does not manage, sent back as they were). The API server takes nothing
// else from an update of the status subresource: the spec and the rest of the metadata stay
// as stored.
//
// Status.Version is the Canary's resourceVersion. A write that conflicts because the Canary was
// edited (its spec, labels...) is made again on the fresh object; a conflict over the status
// itself (another writer) is canary.ErrConflict.
type CanaryStore struct {
	api     canaryAPI
	name    string
	target  canary.Target
	lease   *kube.Lease
	tracked func(context.Context, canary.Target) (map[string]string, error)
	clock   clock.Clock
	kind    string // the target's kind (spec.targetRef.kind), which condition messages name; "" is Deployment

	mu  sync.Mutex
	obj *canaryState // the Canary as last read or written; nil before
	// leaseStatus is set when the status was read with what an earlier driver left in the
	// lease: the next save clears it there once the Canary holds it
	leaseStatus bool
}

var _ canary.StatusStore = (*CanaryStore)(nil)

// newCanaryStore keeps t's status on the Canary name of api's namespace.
func newCanaryStore(api canaryAPI, name string, t canary.Target, lease *kube.Lease,
	tracked func(context.Context, canary.Target) (map[string]string, error), clk clock.Clock) *CanaryStore {
	return &CanaryStore{api: api, name: name, target: t, lease: lease, tracked: tracked, clock: clk}
}

// LoadCanaryStatus reads the status a Driver with Options.CanaryStatus keeps for t, as its
// CanaryStore loads it: the status of the Canary t.Namespace/t.CanaryName(), one request, and
// t's lease (which need not be held) when the Canary has no status, or one written before
// canarykit kept its own part in ConditionAnalysis. It is how a reader such as a status
// command sees a release whose Lease holds no phase. A Canary without a status gives the
// lease's whole status when one is there (saved without Options.CanaryStatus), else the zero
// Status. A missing Canary (or Canary resource) and a read the caller may not make are
// permanent errors for which apierrors.IsNotFound and apierrors.IsForbidden hold.
func LoadCanaryStatus(ctx context.Context, dyn dynamic.Interface, lease *kube.Lease, t canary.Target) (canary.Status, error) {
	if dyn == nil || lease == nil {
		return canary.Status{}, errors.New("driver: LoadCanaryStatus needs a dynamic client and the target's lease")
	}
	api := dynCanaries{res: dyn.Resource(CanaryGVR).Namespace(t.Namespace)}
	return newCanaryStore(api, t.CanaryName(), t, lease, nil, clock.RealClock{}).Load(ctx, t)
}

// Name returns the Canary object's "namespace/name".
func (s *CanaryStore) Name() string { return s.target.Namespace + "/" + s.name }

// Load reads the Canary (one request) and returns its status; the zero Status when the
// Canary has none. A Canary without a status whose lease holds a whole status saved by the
// Lease store (an earlier driver without Options.CanaryStatus) continues from the lease's.
func (s *CanaryStore) Load(ctx context.Context, t canary.Target) (canary.Status, error) {
	if err := s.check(t); err != nil {
		return canary.Status{}, err
	}
	obj, err := s.get(ctx)
	if err != nil {
		return canary.Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obj = obj
	return s.status(ctx)
}

// peek returns the status from what the store last read or wrote (no request while the lease
// is held); it loads the Canary when the store has not seen it yet.
func (s *CanaryStore) peek(ctx context.Context) (canary.Status, error) {
	s.mu.Lock()
	if s.obj != nil {
		defer s.mu.Unlock()
		return s.status(ctx)
	}
	s.mu.Unlock()
	return s.Load(ctx, s.target)
}

// status is s.obj's status, with canarykit's own part from its ConditionAnalysis; s.mu is
// held. The lease is read (no request while it is held) for a Canary without a status, which
// may continue a release the Lease store kept, and for one written by a driver that kept
// canarykit's part in the lease.
func (s *CanaryStore) status(ctx context.Context) (canary.Status, error) {
	fs, err := s.obj.decoded()
	if err != nil {
		return canary.Status{}, fmt.Errorf("canary %s: %w", s.Name(), err)
	}
	var st canary.Status
	if fs.Phase == "" {
		ls, err := s.lease.Load(ctx, s.target)
		if err != nil {
			return canary.Status{}, err
		}
		s.leaseStatus = s.leaseStatus || inLease(ls)
		if ls.Phase != "" {
			st = ls // saved by the Lease store: continued from there
		}
		// else a Canary never driven, or created again: what the lease holds belongs to
		// another object's release
		st.Version = s.obj.version()
		return st, nil
	}
	st = fs.canaryStatus()
	found, err := fs.analysis(&st)
	if err != nil {
		return canary.Status{}, fmt.Errorf("canary %s: %w", s.Name(), err)
	}
	if !found {
		ls, err := s.lease.Load(ctx, s.target)
		if err != nil {
			return canary.Status{}, err
		}
		s.leaseStatus = s.leaseStatus || inLease(ls)
		st.StartedAt, st.Paused, st.RollingBack, st.Cause = ls.StartedAt, ls.Paused, ls.RollingBack, ls.Cause
		if ls.RollingBack {
			st.Message = ls.Message
		}
	}
	st.Version = s.obj.version()
	return st, nil
}

// inLease reports whether ls, read from the lease, holds a status or canarykit's part of one.
func inLease(ls canary.Status) bool {
	return ls.Phase != "" || !ls.StartedAt.IsZero() || ls.Paused || ls.RollingBack || ls.Cause != ""
}

// Save writes st to the Canary's status subresource if st.Version is the resourceVersion the
// store last saw: one request, canarykit's own part (ConditionAnalysis) with the rest. It
// requires holding the lease.
func (s *CanaryStore) Save(ctx context.Context, t canary.Target, st canary.Status) (canary.Status, error) {
	if err := s.check(t); err != nil {
		return canary.Status{}, err
	}
	if !s.lease.Held() {
		return canary.Status{}, fmt.Errorf("%w: lease %s is not held by %q; acquire it before saving", canary.ErrConflict, s.lease.Name(), s.lease.Identity())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obj == nil {
		return canary.Status{}, fmt.Errorf("%w: status of canary %s saved before it was loaded", canary.ErrConflict, s.Name())
	}
	if cur := s.obj.version(); st.Version != cur {
		return canary.Status{}, fmt.Errorf("%w: status of canary %s saved at version %q, stored version is %q",
			canary.ErrConflict, s.Name(), st.Version, cur)
	}
	first, ferr := s.obj.edit() // the status to change on the first attempt
	old, err := s.obj.decoded()
	if err != nil {
		old = flaggerStatus{} // written over with a valid status
	}
	var tracked map[string]string
	if s.tracked != nil && (st.LastAppliedSpec != old.LastAppliedSpec || old.TrackedConfigs == nil) {
		// the configuration of the revision now applied, from the caches
		if tracked, err = s.tracked(ctx, t); err != nil {
			tracked = nil // kept as it was; the next revision records them
		}
	}
	now := s.clock.Now()
	for attempt := 0; ; attempt++ {
		value, err := first, ferr
		if attempt > 0 {
			value, err = s.obj.edit()
		}
		if err != nil {
			value = nil // written over with a valid status, as an unreadable one is
		}
		u := map[string]any{"status": value}
		if err := setStatus(u, st, tracked, s.kind, now); err != nil {
			return canary.Status{}, fmt.Errorf("canary %s: %w", s.Name(), err)
		}
		body, err := s.obj.body(u["status"])
		if err != nil {
			return canary.Status{}, fmt.Errorf("canary %s: %w", s.Name(), err)
		}
		raw, err := s.api.putStatus(ctx, s.name, body)
		if err == nil {
			updated, perr := parseCanary(raw)
			if perr != nil {
				s.obj = nil // written, but unreadable: the next save loads it again
				return canary.Status{}, fmt.Errorf("update status of canary %s: the answer: %w", s.Name(), perr)
			}
			s.obj = updated
			st.Version = updated.version()
			if s.leaseStatus && s.lease.ClearStatus(ctx, t) == nil {
				// what the lease held is on the Canary now: cleared there, it cannot come
				// back should the Analysis condition be dropped (Flagger's own status
				// writes keep only Promoted). A failure is tried again at the next save.
				s.leaseStatus = false
			}
			return st, nil
		}
		if !apierrors.IsConflict(err) || attempt >= conflictRetries {
			return canary.Status{}, s.wrap("update status of", err)
		}
		fresh, gerr := s.get(ctx)
		if gerr != nil {
			return canary.Status{}, gerr
		}
		if !sameState(fresh, s.obj) {
			s.obj = fresh
			return canary.Status{}, fmt.Errorf("%w: the status of canary %s was changed by another writer", canary.ErrConflict, s.Name())
		}
		s.obj = fresh // the spec or metadata changed: written again on the fresh object
	}
}

// PhaseTerminating is the phase a CanaryStore writes on a Canary deleted with
// spec.revertOnDeletion while its target is handed back, as Flagger does.
const PhaseTerminating canary.Phase = "Terminating"

// terminating writes PhaseTerminating on the Canary (one read, one write; none when it is
// Terminating already) as Flagger's finalizer does: canaryWeight and iterations 0, the rest
// kept, the Promoted condition Unknown with reason Terminating. A Canary already gone is left
// alone. It requires holding the lease.
func (s *CanaryStore) terminating(ctx context.Context) error {
	st, err := s.Load(ctx, s.target)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Phase == PhaseTerminating {
		return nil
	}
	st.Phase, st.CanaryWeight, st.Iterations = PhaseTerminating, 0, 0
	st.Paused, st.RollingBack = false, false
	st.LastTransitionTime = s.clock.Now()
	if _, err := s.Save(ctx, s.target, st); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// get reads the Canary.
func (s *CanaryStore) get(ctx context.Context) (*canaryState, error) {
	raw, err := s.api.get(ctx, s.name)
	if err != nil {
		return nil, s.wrap("get", err)
	}
	obj, err := parseCanary(raw)
	if err != nil {
		return nil, fmt.Errorf("get canary %s: %w", s.Name(), err)
	}
	return obj, nil
}

// wrap names the Canary in an API error; a deleted Canary, or a request the driver may not
// make, is permanent.
func (s *CanaryStore) wrap(verb string, err error) error {
	if apierrors.IsNotFound(err) {
		err = fmt.Errorf("%s canary %s: %w (Options.CanaryStatus keeps the status on the Canary object: it must exist)", verb, s.Name(), err)
	} else {
		err = fmt.Errorf("%s canary %s: %w", verb, s.Name(), err)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && (apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsInvalid(err)) {
		return canary.Permanent(err)
	}
	return err
}

func (s *CanaryStore) check(t canary.Target) error {
	if t.Namespace != s.target.Namespace || t.Name != s.target.Name {
		return fmt.Errorf("driver: status store of canary %s used for %s", s.Name(), t)
	}
	return nil
}
