package canary

import (
	"fmt"
	"time"
)

// Target identifies the workload a Rollout releases and the names derived from it, following
// Flagger's conventions: the target Deployment is the canary, "<name>-primary" is the primary,
// and the apex service (default: the target's name) fronts both through "<apex>-primary" and
// "<apex>-canary".
type Target struct {
	// Namespace of the target. Required.
	Namespace string
	// Name of the target workload (the canary). Required.
	Name string
	// Service is the apex service name; empty means Name.
	Service string
	// Canary is the name the release goes by (a Flagger Canary's metadata.name): the
	// {{ name }} of queries, the "name" of webhook payloads (and so of flagger-loadtester's
	// gates), and the name in event messages. Empty means Name.
	Canary string
	// CanaryUID is the metadata.uid of the Flagger Canary object named Canary (kube/flagger
	// sets it for a Canary read from a cluster); empty when unknown. It only serves to
	// recognise the objects Flagger generated for that Canary, which the adapters adopt (see
	// FlaggerOwned): with it, objects Flagger made for an earlier Canary of the same name are
	// not theirs.
	CanaryUID string
	// Ingress is the name of the Ingress in front of the target (a Flagger Canary's
	// spec.ingressRef): the NGINX ingress router copies it, and queries render it as
	// {{ ingress }}. Empty means Name, as in Flagger.
	Ingress string
	// Match holds the A/B match conditions routers shape their route objects with. The Rollout
	// fills it from Spec.Match before calling a MeshRouter; leave it empty in Config.Target.
	Match []Match
	// Mirror is the share of requests, in percent (1..100), that a mirrored route
	// (Weights.Mirrored) copies to the canary; 0: the release never mirrors. A router that
	// cannot mirror refuses a target with it (ErrMirrorUnsupported). The Rollout fills it from
	// Spec.Mirror and Spec.MirrorWeight (100 when MirrorWeight is 0: every request, as in
	// Flagger); leave it 0 in Config.Target.
	Mirror int
	// Affinity is the session affinity routers write (Spec.SessionAffinity, with the release's
	// cookies from the Status); nil: none. A router that cannot keep sessions on the canary
	// refuses a target with it (ErrSessionAffinityUnsupported). The Rollout fills it before
	// every call of a MeshRouter; leave it nil in Config.Target.
	Affinity *Affinity
}

// String returns "<canary name>.<namespace>", the form Flagger's events use.
func (t Target) String() string { return t.CanaryName() + "." + t.Namespace }

// workload returns "<target name>.<namespace>": the form Flagger's events use where they name
// the target workload (spec.targetRef.name) rather than the Canary: the start of a release or
// of its analysis, the copy to the primary, the promotion's end and a metric without data.
func (t Target) workload() string { return t.Name + "." + t.Namespace }

// CanaryName returns the release's name: Canary, or Name.
func (t Target) CanaryName() string {
	if t.Canary != "" {
		return t.Canary
	}
	return t.Name
}

// ApexService returns the apex service name.
func (t Target) ApexService() string {
	if t.Service != "" {
		return t.Service
	}
	return t.Name
}

// IngressName returns the Ingress in front of the target: Ingress, or Name.
func (t Target) IngressName() string {
	if t.Ingress != "" {
		return t.Ingress
	}
	return t.Name
}

// PrimaryName returns the primary workload's name: "<name>-primary".
func (t Target) PrimaryName() string { return t.Name + "-primary" }

// PrimaryService returns the service that selects the primary's pods: "<apex>-primary".
func (t Target) PrimaryService() string { return t.ApexService() + "-primary" }

// CanaryService returns the service that selects the canary's pods: "<apex>-canary".
func (t Target) CanaryService() string { return t.ApexService() + "-canary" }

// Weights is how a route divides traffic between primary and canary, in percent. Valid weights
// are each 0..100 and sum to 100. With Target.Match set, the weights apply to requests that
// match; other requests go to the primary.
type Weights struct {
	Primary int `json:"primary"`
	Canary  int `json:"canary"`
	// Mirrored: the route also copies requests (Target.Mirror percent of them) to the canary,
	// whose responses are dropped (Flagger's traffic mirroring). Only with all traffic on the
	// primary.
	Mirrored bool `json:"mirrored,omitempty"`
}

// AllPrimary returns the weights that route every request to the primary.
func AllPrimary() Weights { return Weights{Primary: 100} }

// AllCanary returns the weights that route every (matching) request to the canary.
func AllCanary() Weights { return Weights{Canary: 100} }

// CanaryWeight returns weights that send c percent to the canary and the rest to the primary.
func CanaryWeight(c int) Weights { return Weights{Primary: 100 - c, Canary: c} }

// MirrorToCanary returns the weights that route every request to the primary and copy them
// (Target.Mirror percent of them) to the canary.
func MirrorToCanary() Weights { return Weights{Primary: 100, Mirrored: true} }

// Validate reports whether w is routable: both in 0..100 and summing to 100, and mirrored only
// with all traffic on the primary.
func (w Weights) Validate() error {
	if w.Primary < 0 || w.Primary > 100 || w.Canary < 0 || w.Canary > 100 || w.Primary+w.Canary != 100 {
		return fmt.Errorf("%w: primary %d + canary %d must be 0..100 each and sum to 100", ErrInvalidWeights, w.Primary, w.Canary)
	}
	if w.Mirrored && w.Primary != 100 {
		return fmt.Errorf("%w: a mirrored route sends every request to the primary, got primary %d + canary %d", ErrInvalidWeights, w.Primary, w.Canary)
	}
	return nil
}

// ValidateFor is Validate for t's route: mirrored weights also need a target that mirrors
// (Target.Mirror 1..100) and has no match conditions.
func (w Weights) ValidateFor(t Target) error {
	if err := w.Validate(); err != nil {
		return err
	}
	switch {
	case !w.Mirrored:
	case t.Mirror < 1 || t.Mirror > 100:
		return fmt.Errorf("%w: mirrored weights for target %s, whose Mirror is %d (want 1..100)", ErrInvalidWeights, t, t.Mirror)
	case len(t.Match) > 0:
		return fmt.Errorf("%w: mirrored weights for target %s, which has match conditions (A/B testing mirrors nothing)", ErrInvalidWeights, t)
	}
	return nil
}

func (w Weights) String() string {
	if w.Mirrored {
		return fmt.Sprintf("primary=%d canary=%d mirrored", w.Primary, w.Canary)
	}
	return fmt.Sprintf("primary=%d canary=%d", w.Primary, w.Canary)
}

// Phase is a rollout phase, named as Flagger names it.
type Phase string

// The phases of a release (Flagger's CanaryPhase values).
const (
	PhaseInitializing     Phase = "Initializing"
	PhaseInitialized      Phase = "Initialized"
	PhaseWaiting          Phase = "Waiting"
	PhaseProgressing      Phase = "Progressing"
	PhaseWaitingPromotion Phase = "WaitingPromotion"
	PhasePromoting        Phase = "Promoting"
	PhaseFinalising       Phase = "Finalising"
	PhaseSucceeded        Phase = "Succeeded"
	PhaseFailed           Phase = "Failed"
)

// InRelease reports whether p is a phase in which a release is under way: a Rollout started
// over a status in such a phase resumes the release.
func (p Phase) InRelease() bool {
	switch p {
	case PhaseWaiting, PhaseProgressing, PhaseWaitingPromotion, PhasePromoting, PhaseFinalising:
		return true
	}
	return false
}

// Terminal reports whether p ends a release.
func (p Phase) Terminal() bool { return p == PhaseSucceeded || p == PhaseFailed }

// Status is the persisted state of a target's rollout (Flagger's CanaryStatus). The Rollout
// saves it through the StatusStore at every transition, so a new Rollout resumes from it.
type Status struct {
	Phase        Phase `json:"phase,omitempty"`
	CanaryWeight int   `json:"canaryWeight"`
	Iterations   int   `json:"iterations"`
	FailedChecks int   `json:"failedChecks"`
	// LastAppliedSpec is the revision under release (or last released).
	LastAppliedSpec string `json:"lastAppliedSpec,omitempty"`
	// LastPromotedSpec is the revision the primary runs.
	LastPromotedSpec string `json:"lastPromotedSpec,omitempty"`
	// StartedAt is when the release's analysis began: its first step. Before that step a new
	// release's status still holds the last release's.
	StartedAt time.Time `json:"startedAt,omitempty"`
	// Paused is set while the analysis is paused (Rollout.Pause), so a restarted driver stays
	// paused until Resume.
	Paused bool `json:"paused,omitempty"`
	// RollingBack is set while a rollback is in flight, so a resumed Rollout finishes it.
	RollingBack bool `json:"rollingBack,omitempty"`
	// Cause is why the last rollback started: saved with RollingBack, so a resumed Rollout
	// reports it, and kept with the Failed phase that follows. A new release clears it.
	Cause              Cause     `json:"cause,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitempty"`
	// Message says why the last transition happened.
	Message string `json:"message,omitempty"`
	// SessionAffinityCookie is the release's canary cookie ("<name>=<value>") while the
	// canary has weight (Spec.SessionAffinity); PrimarySessionAffinityCookie the primary's;
	// PreviousSessionAffinityCookie the last release's, which the route expires at weight 0.
	// Flagger's status fields of the same names.
	SessionAffinityCookie         string `json:"sessionAffinityCookie,omitempty"`
	PreviousSessionAffinityCookie string `json:"previousSessionAffinityCookie,omitempty"`
	PrimarySessionAffinityCookie  string `json:"primarySessionAffinityCookie,omitempty"`
	// Version is the StatusStore's optimistic-concurrency token; it is not part of the state.
	Version string `json:"-"`
}

// Result is what Run returns: the outcome of one release, or a note that nothing was released.
type Result struct {
	Target Target
	// Phase is the phase Run ended in: Succeeded or Failed after a release; Initialized (or the
	// previous terminal phase) when there was nothing to release; the current phase on error.
	Phase Phase
	// Released is true when this Run drove (or resumed) a release.
	Released bool
	// Revision is the revision released, or the current one when nothing was released.
	Revision string
	// Weights lists every canary weight this Run set on the route, in order (a mirrored step
	// is a 0).
	Weights      []int
	Iterations   int
	FailedChecks int
	// Reason explains the outcome ("promotion completed", "failed checks threshold reached 5", ...).
	Reason string
	// Cause is the outcome's typed cause, set whenever Run returns without error:
	// CausePromoted or CauseAnalysisSkipped with PhaseSucceeded; CauseThreshold,
	// CauseRollbackHook, CauseAborted, CauseProgressDeadline, CauseReverted or
	// CausePromotionFailed or CauseSplitNotFollowed with PhaseFailed (the cause of the Failed event); and
	// CauseNothingToRelease when there was nothing to release (CauseReverted if the target went
	// back to the promoted revision while the release waited for approval). It is empty when Run
	// returns an error: the error says why.
	Cause    Cause
	Started  time.Time
	Finished time.Time
}

// Duration is how long Run took, in the Rollout's clock.
func (r Result) Duration() time.Duration { return r.Finished.Sub(r.Started) }
