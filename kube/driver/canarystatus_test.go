package driver

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeCanaries is one Canary object behind dynamic.ResourceInterface's Get and UpdateStatus,
// with the API server's optimistic concurrency: an update at an old resourceVersion conflicts,
// and the status subresource changes only .status.
type fakeCanaries struct {
	dynamic.ResourceInterface
	mu      sync.Mutex
	obj     *unstructured.Unstructured
	rv      int
	gets    int
	updates int
}

func newFakeCanaries(ns string) *fakeCanaries {
	f := &fakeCanaries{obj: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "podinfo", "namespace": ns},
		"spec":     map[string]any{"analysis": map[string]any{"interval": "1m"}},
	}}}
	f.bump()
	return f
}

func (f *fakeCanaries) bump() {
	f.rv++
	f.obj.SetResourceVersion(strconv.Itoa(f.rv))
}

func (f *fakeCanaries) Get(_ context.Context, name string, _ metav1.GetOptions, _ ...string) (*unstructured.Unstructured, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.obj == nil {
		return nil, apierrors.NewNotFound(CanaryGVR.GroupResource(), name)
	}
	return f.obj.DeepCopy(), nil
}

func (f *fakeCanaries) UpdateStatus(_ context.Context, in *unstructured.Unstructured, _ metav1.UpdateOptions) (*unstructured.Unstructured, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates++
	if f.obj == nil {
		return nil, apierrors.NewNotFound(CanaryGVR.GroupResource(), in.GetName())
	}
	if in.GetResourceVersion() != f.obj.GetResourceVersion() {
		return nil, apierrors.NewConflict(CanaryGVR.GroupResource(), in.GetName(), nil)
	}
	f.obj.Object["status"] = in.DeepCopy().Object["status"]
	f.bump()
	return f.obj.DeepCopy(), nil
}

// edit changes the object as a user or another writer would.
func (f *fakeCanaries) edit(fn func(obj map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.obj.Object)
	f.bump()
}

type storeBed struct {
	canaries *fakeCanaries
	client   *fake.Clientset
	clock    *clocktesting.FakeClock
	target   canary.Target
}

func newStoreBed() *storeBed {
	return &storeBed{canaries: newFakeCanaries("ns"), client: fake.NewClientset(),
		clock:  clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		target: canary.Target{Namespace: "ns", Name: "podinfo"}}
}

// store returns a CanaryStore whose lease (identity id) is held.
func (b *storeBed) store(t *testing.T, id string) (*CanaryStore, *kube.Lease) {
	t.Helper()
	lease, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: id, Clock: b.clock})
	require.NoError(t, err)
	require.NoError(t, lease.Acquire(context.Background()))
	tracked := func(context.Context, canary.Target) (map[string]string, error) {
		return map[string]string{"configmap/podinfo-config": "0123"}, nil
	}
	return &CanaryStore{api: dynCanaries{res: b.canaries}, name: "podinfo", target: b.target, lease: lease, tracked: tracked, clock: b.clock}, lease
}

func (b *storeBed) leaseUpdates() int {
	n := 0
	for _, a := range b.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "leases" {
			n++
		}
	}
	return n
}

func TestPromotedConditionPerPhase(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		phase                canary.Phase
		status, message      string
		reconciling, stalled bool
	}{
		{canary.PhaseInitializing, "Unknown", "New Deployment detected, starting initialization.", true, false},
		{canary.PhaseInitialized, "True", "Deployment initialization completed.", false, false},
		{canary.PhaseWaiting, "Unknown", "Waiting for approval.", true, false},
		{canary.PhaseProgressing, "Unknown", "New revision detected, progressing canary analysis.", true, false},
		{canary.PhaseWaitingPromotion, "Unknown", "Waiting for approval.", true, false},
		{canary.PhasePromoting, "Unknown", "Canary analysis completed, starting primary rolling update.", true, false},
		{canary.PhaseFinalising, "Unknown", "Canary analysis completed, routing all traffic to primary.", true, false},
		{canary.PhaseSucceeded, "True", "Canary analysis completed successfully, promotion finished.", false, false},
		{canary.PhaseFailed, "False", "Canary analysis failed, Deployment scaled to zero.", false, true},
	}
	for _, c := range cases {
		t.Run(string(c.phase), func(t *testing.T) {
			obj := map[string]any{}
			require.NoError(t, setStatus(obj, canary.Status{Phase: c.phase, CanaryWeight: 10, LastTransitionTime: now}, nil, "", now))
			fs, err := decodeStatus(obj)
			require.NoError(t, err)
			assert.Equal(t, c.phase, fs.Phase)
			assert.Equal(t, 10, fs.CanaryWeight)
			types := map[string]flaggerCondition{}
			for _, cond := range fs.Conditions {
				types[cond.Type] = cond
			}
			ts := "2026-01-02T03:04:05Z"
			assert.Equal(t, flaggerCondition{Type: "Promoted", Status: c.status, Reason: string(c.phase), Message: c.message,
				LastUpdateTime: ts, LastTransitionTime: ts}, types["Promoted"])
			_, reconciling := types["Reconciling"]
			assert.Equal(t, c.reconciling, reconciling, "Reconciling")
			_, stalled := types["Stalled"]
			assert.Equal(t, c.stalled, stalled, "Stalled")
		})
	}
}

// As Flagger: a condition with the same status and reason is left as it is; one with the same
// status keeps its transition time; others are replaced. Conditions of other types stay.
func TestConditionTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	obj := map[string]any{"status": map[string]any{"someoneElses": "abc",
		"conditions": []any{map[string]any{"type": "Custom", "status": "True", "reason": "Mine"}}}}
	at := func(d time.Duration, st canary.Status) flaggerCondition {
		t.Helper()
		require.NoError(t, setStatus(obj, st, nil, "", t0.Add(d)))
		fs, err := decodeStatus(obj)
		require.NoError(t, err)
		for _, c := range fs.Conditions {
			if c.Type == "Promoted" {
				return c
			}
		}
		t.Fatal("no Promoted condition")
		return flaggerCondition{}
	}
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	c := at(0, canary.Status{Phase: canary.PhaseProgressing})
	assert.Equal(t, [2]string{ts(0), ts(0)}, [2]string{c.LastUpdateTime, c.LastTransitionTime})
	c = at(time.Minute, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 20})
	assert.Equal(t, [2]string{ts(0), ts(0)}, [2]string{c.LastUpdateTime, c.LastTransitionTime}, "unchanged")
	c = at(2*time.Minute, canary.Status{Phase: canary.PhasePromoting})
	assert.Equal(t, [2]string{ts(2 * time.Minute), ts(0)}, [2]string{c.LastUpdateTime, c.LastTransitionTime}, "same status")
	c = at(3*time.Minute, canary.Status{Phase: canary.PhaseSucceeded})
	assert.Equal(t, [2]string{ts(3 * time.Minute), ts(3 * time.Minute)}, [2]string{c.LastUpdateTime, c.LastTransitionTime})

	st := obj["status"].(map[string]any)
	assert.Equal(t, "abc", st["someoneElses"], "fields the store does not manage are kept")
	conds := st["conditions"].([]any)
	assert.Equal(t, "Custom", conds[0].(map[string]any)["type"], "other conditions are kept")
}

func TestDecodeStatusBounds(t *testing.T) {
	cases := map[string]struct {
		status map[string]any
		field  string
	}{
		"weight over 100":  {map[string]any{"canaryWeight": int64(101)}, ".status.canaryWeight"},
		"fractional":       {map[string]any{"iterations": 2.5}, ".status.iterations"},
		"negative":         {map[string]any{"failedChecks": int64(-1)}, ".status.failedChecks"},
		"phase not string": {map[string]any{"phase": int64(3)}, ".status.phase"},
		"long spec": {map[string]any{"lastAppliedSpec": string(make([]byte, maxStatusString+1))},
			".status.lastAppliedSpec"},
		"bad time":        {map[string]any{"lastTransitionTime": "yesterday"}, ".status.lastTransitionTime"},
		"tracked number":  {map[string]any{"trackedConfigs": map[string]any{"configmap/a": int64(1)}}, ".status.trackedConfigs"},
		"conditions obj":  {map[string]any{"conditions": map[string]any{}}, ".status.conditions"},
		"condition shape": {map[string]any{"conditions": []any{map[string]any{"type": int64(1)}}}, ".status.conditions[0]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeStatus(map[string]any{"status": c.status})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.field)
		})
	}
	fs, err := decodeStatus(map[string]any{"status": map[string]any{"phase": "Progressing", "canaryWeight": 30.0,
		"iterations": int64(2), "lastTransitionTime": "2026-01-02T03:04:05Z"}})
	require.NoError(t, err)
	assert.Equal(t, flaggerStatus{Phase: canary.PhaseProgressing, CanaryWeight: 30, Iterations: 2,
		LastTransitionTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, fs)
}

// A step is one status request, canarykit's own part (the analysis' start) in it; saves never
// write the lease.
func TestCanaryStoreWrites(t *testing.T) {
	b := newStoreBed()
	s, _ := b.store(t, "a")
	ctx := context.Background()
	st, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.Status{Version: "1"}, st)
	leases := b.leaseUpdates()

	st.Phase, st.LastAppliedSpec, st.LastTransitionTime = canary.PhaseProgressing, "rev-2", b.clock.Now()
	st, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)
	assert.Equal(t, "2", st.Version, "the Canary's resourceVersion")
	assert.Equal(t, 1, b.canaries.updates)

	started := b.clock.Now().Add(123456789 * time.Nanosecond)
	st.CanaryWeight, st.StartedAt = 20, started
	st, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)
	assert.Equal(t, 2, b.canaries.updates, "the analysis' start is saved with its step")
	fs, err := decodeStatus(b.canaries.obj.Object)
	require.NoError(t, err)
	var back canary.Status
	found, err := fs.analysis(&back)
	require.NoError(t, err)
	require.True(t, found, "the Analysis condition")
	assert.True(t, started.Equal(back.StartedAt), "to the nanosecond: %s", back.StartedAt)
	for w := 40; w <= 60; w += 20 {
		st.CanaryWeight = w
		st, err = s.Save(ctx, b.target, st)
		require.NoError(t, err)
	}
	assert.Equal(t, 4, b.canaries.updates, "one request per save")
	assert.Equal(t, 1, b.canaries.gets, "no read before a write")
	assert.Equal(t, leases, b.leaseUpdates(), "saves do not write the lease")

	fs, err = decodeStatus(b.canaries.obj.Object)
	require.NoError(t, err)
	assert.Equal(t, 60, fs.CanaryWeight)
	assert.Equal(t, "rev-2", fs.LastAppliedSpec)
	assert.Equal(t, map[string]string{"configmap/podinfo-config": "0123"}, fs.TrackedConfigs)

	_, err = s.Save(ctx, b.target, canary.Status{Phase: canary.PhaseProgressing, Version: "1"})
	require.ErrorIs(t, err, canary.ErrConflict, "a save at an old version")
}

// An edit of the Canary's spec between two saves costs one read and a second try; a status
// written by someone else is a conflict.
func TestCanaryStoreConflicts(t *testing.T) {
	b := newStoreBed()
	s, _ := b.store(t, "a")
	ctx := context.Background()
	st, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	st.Phase = canary.PhaseProgressing
	st, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)

	b.canaries.edit(func(obj map[string]any) { obj["spec"].(map[string]any)["analysis"] = map[string]any{"interval": "2m"} })
	gets, updates := b.canaries.gets, b.canaries.updates
	st.CanaryWeight = 20
	st, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)
	assert.Equal(t, gets+1, b.canaries.gets)
	assert.Equal(t, updates+2, b.canaries.updates)
	assert.Equal(t, b.canaries.obj.GetResourceVersion(), st.Version)
	assert.Equal(t, map[string]any{"interval": "2m"}, b.canaries.obj.Object["spec"].(map[string]any)["analysis"], "the edit is kept")

	b.canaries.edit(func(obj map[string]any) { obj["status"].(map[string]any)["canaryWeight"] = int64(80) })
	st.CanaryWeight = 40
	_, err = s.Save(ctx, b.target, st)
	require.ErrorIs(t, err, canary.ErrConflict)
	assert.False(t, canary.IsPermanent(err))

	b.canaries.edit(func(obj map[string]any) {})
	b.canaries.obj = nil // deleted
	_, err = s.Load(ctx, b.target)
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err), "a deleted Canary: %v", err)
	assert.Contains(t, err.Error(), "canary ns/podinfo")
	assert.Contains(t, err.Error(), "must exist")
}

// A new process resumes a rollback from the Canary's status alone (the lease holds none of
// it); a store whose lease is not held does not write.
func TestCanaryStoreResume(t *testing.T) {
	b := newStoreBed()
	ctx := context.Background()
	s, lease := b.store(t, "a")
	st, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	started := b.clock.Now()
	st = canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 40, Iterations: 2, FailedChecks: 1, LastAppliedSpec: "rev-2",
		LastPromotedSpec: "rev-1", StartedAt: started, RollingBack: true, Cause: canary.CauseThreshold,
		Message: "failed checks threshold reached 1", LastTransitionTime: started, Version: st.Version}
	_, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)
	require.NoError(t, lease.Release(ctx))
	_, err = s.Save(ctx, b.target, st)
	require.ErrorIs(t, err, canary.ErrConflict, "the lease is not held")

	s2, lease2 := b.store(t, "b")
	inLease, err := lease2.Load(ctx, b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.Status{}, canary.Status{Phase: inLease.Phase, StartedAt: inLease.StartedAt, RollingBack: inLease.RollingBack},
		"nothing of the release in the lease")
	got, err := s2.Load(ctx, b.target)
	require.NoError(t, err)
	st.Version = b.canaries.obj.GetResourceVersion()
	assert.Equal(t, st, got)
}

// A Canary without a status, whose lease holds a status the Lease store saved, continues from
// the lease's; the first save moves it to the Canary and clears it in the lease.
func TestCanaryStoreTakesOverLeaseStatus(t *testing.T) {
	b := newStoreBed()
	ctx := context.Background()
	lease, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "old", Clock: b.clock})
	require.NoError(t, err)
	require.NoError(t, lease.Acquire(ctx))
	old := canary.Status{Phase: canary.PhaseSucceeded, LastAppliedSpec: "rev-1", LastPromotedSpec: "rev-1",
		LastTransitionTime: b.clock.Now()}
	_, err = lease.Save(ctx, b.target, old)
	require.NoError(t, err)
	require.NoError(t, lease.Release(ctx))

	s, l := b.store(t, "new")
	got, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, got.Phase)
	assert.Equal(t, "rev-1", got.LastPromotedSpec)
	got.Phase, got.LastAppliedSpec = canary.PhaseProgressing, "rev-2"
	_, err = s.Save(ctx, b.target, got)
	require.NoError(t, err)
	inLease, err := l.Load(ctx, b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.Phase(""), inLease.Phase, "cleared in the lease")
	saves := b.leaseUpdates()
	_, err = s.Save(ctx, b.target, again0(t, s, b))
	require.NoError(t, err)
	assert.Equal(t, saves, b.leaseUpdates(), "cleared once")
	again, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseProgressing, again.Phase, "the Canary's status from now on")
	fs, err := decodeStatus(b.canaries.obj.Object)
	require.NoError(t, err)
	assert.Equal(t, "rev-1", fs.LastPromotedSpec)
	assert.Equal(t, canary.PhaseProgressing, fs.Phase)
}

// again0 is the status s last saved, to save again.
func again0(t *testing.T, s *CanaryStore, b *storeBed) canary.Status {
	t.Helper()
	st, err := s.peek(context.Background())
	require.NoError(t, err)
	return st
}

// oldExtras leaves in the target's lease what a driver that kept canarykit's part of a
// Canary's status there wrote: the analysis' start, a pause, a rollback.
func (b *storeBed) oldExtras(t *testing.T, extras canary.Status) {
	t.Helper()
	ctx := context.Background()
	lease, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "old", Clock: b.clock})
	require.NoError(t, err)
	require.NoError(t, lease.Acquire(ctx))
	_, err = lease.Save(ctx, b.target, extras)
	require.NoError(t, err)
	require.NoError(t, lease.Release(ctx))
}

// A Canary created again (its status empty) starts afresh even when the lease still holds the
// extras an earlier driver kept there for the previous object's release, a pause say.
func TestCanaryStoreIgnoresExtrasOfAnEmptyStatus(t *testing.T) {
	b := newStoreBed()
	b.oldExtras(t, canary.Status{Paused: true, StartedAt: b.clock.Now()})

	s2, _ := b.store(t, "b")
	got, err := s2.Load(context.Background(), b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.Status{Version: b.canaries.obj.GetResourceVersion()}, got)
}

// A status written by a driver that kept canarykit's part in the lease is read with the
// lease's (a paused release stays paused across the upgrade); the first save moves it to the
// Analysis condition, which is read from then on whatever the lease still says.
func TestCanaryStoreReadsExtrasAnEarlierDriverLeftInTheLease(t *testing.T) {
	b := newStoreBed()
	ctx := context.Background()
	started := b.clock.Now().Add(-time.Minute)
	b.oldExtras(t, canary.Status{Paused: true, StartedAt: started})
	b.canaries.edit(func(obj map[string]any) {
		obj["status"] = map[string]any{"phase": "Progressing", "canaryWeight": int64(20), "lastAppliedSpec": "rev-2"}
	})
	s, lease := b.store(t, "new")
	st, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	assert.True(t, st.Paused, "the pause kept in the lease")
	assert.True(t, started.Equal(st.StartedAt))
	assert.Equal(t, 20, st.CanaryWeight)

	st.Paused = false
	_, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)
	inLease, err := lease.Load(ctx, b.target)
	require.NoError(t, err)
	assert.False(t, inLease.Paused, "the lease's copy is cleared once the Canary holds it")
	require.NoError(t, lease.Release(ctx))
	s2, lease2 := b.store(t, "newer")
	got, err := s2.Load(ctx, b.target)
	require.NoError(t, err)
	assert.False(t, got.Paused, "the condition's, not the lease's stale pause")
	require.NoError(t, lease2.Release(ctx))
	assert.True(t, started.Equal(got.StartedAt))

	// Flagger's own status writes keep only its Promoted condition: the pause does not
	// come back from the lease
	b.canaries.edit(func(obj map[string]any) {
		obj["status"].(map[string]any)["conditions"] = []any{map[string]any{"type": ConditionPromoted, "status": "Unknown", "reason": "Progressing"}}
	})
	s3, _ := b.store(t, "after-flagger")
	got, err = s3.Load(ctx, b.target)
	require.NoError(t, err)
	assert.False(t, got.Paused)
}

// A change of canarykit's Analysis condition alone by another writer (a pause, a rollback) is
// a conflict over the status, not an edit to write over.
func TestCanaryStoreConflictOverTheAnalysisCondition(t *testing.T) {
	b := newStoreBed()
	ctx := context.Background()
	s, _ := b.store(t, "a")
	st, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	st.Phase, st.StartedAt = canary.PhaseProgressing, b.clock.Now()
	st, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)
	b.canaries.edit(func(obj map[string]any) {
		for _, c := range obj["status"].(map[string]any)["conditions"].([]any) {
			if m := c.(map[string]any); m["type"] == ConditionAnalysis {
				m["message"] = `{"startedAt":"2026-01-02T03:04:05Z","paused":true}`
			}
		}
	})
	st.CanaryWeight = 10
	_, err = s.Save(ctx, b.target, st)
	require.ErrorIs(t, err, canary.ErrConflict, "the pause another writer saved is not written over")
	paused, err := s.peek(ctx)
	require.NoError(t, err)
	assert.True(t, paused.Paused, "the store holds the other writer's status now")
}

// The Analysis condition is untrusted input: a message that is not its JSON, a cause that is
// not canarykit's or an overlong rollback reason fails the load with the field named.
func TestCanaryStoreRefusesABadAnalysisCondition(t *testing.T) {
	for name, msg := range map[string]string{
		"not JSON":      "paused",
		"wrong type":    `{"paused":"yes"}`,
		"unknown cause": `{"rollingBack":true,"cause":"rm -rf"}`,
		"key twice":     `{"paused":false,"paused":true}`,
		"year 0":        `{"startedAt":"0000-01-01T00:00:00+01:00"}`,
		"long reason":   `{"rollingBack":true,"cause":"threshold","message":"` + strings.Repeat("x", maxStatusString+1) + `"}`,
		"long message":  strings.Repeat(" ", maxAnalysisMessage+1) + "{}",
		"bad time":      `{"startedAt":"yesterday"}`,
	} {
		t.Run(name, func(t *testing.T) {
			b := newStoreBed()
			b.canaries.edit(func(obj map[string]any) {
				obj["status"] = map[string]any{"phase": "Progressing", "conditions": []any{
					map[string]any{"type": ConditionPromoted, "status": "Unknown"},
					map[string]any{"type": ConditionAnalysis, "status": "True", "reason": "Started", "message": msg}}}
			})
			s, _ := b.store(t, "a")
			_, err := s.Load(context.Background(), b.target)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "canary ns/podinfo: .status.conditions[1].message")
		})
	}
}

// The Analysis condition says the state in its status and reason, and keeps its
// lastTransitionTime while its status stands.
func TestAnalysisCondition(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, c := range []struct {
		st                      canary.Status
		status, reason, message string
	}{
		{canary.Status{}, "False", "Idle", `{}`},
		{canary.Status{Phase: canary.PhaseProgressing, StartedAt: started}, "True", "Started", `{"startedAt":"2026-01-02T03:04:05.000000006Z"}`},
		{canary.Status{Phase: canary.PhaseSucceeded, StartedAt: started}, "False", "Idle", `{"startedAt":"2026-01-02T03:04:05.000000006Z"}`},
		{canary.Status{Phase: canary.PhaseProgressing, StartedAt: started, Paused: true}, "True", "Paused",
			`{"startedAt":"2026-01-02T03:04:05.000000006Z","paused":true}`},
		{canary.Status{RollingBack: true, Paused: true, Cause: canary.CauseAborted, Message: "<aborted> & gone"}, "True", "RollingBack",
			`{"paused":true,"rollingBack":true,"cause":"abort","message":"<aborted> & gone"}`},
		{canary.Status{Phase: canary.PhaseFailed, Cause: canary.CauseThreshold, Message: "not kept once rolled back"}, "False", "Idle", `{"cause":"threshold"}`},
	} {
		status, reason, message := analysisCondition(c.st)
		assert.Equal(t, []string{c.status, c.reason, c.message}, []string{status, reason, message}, "%+v", c.st)
	}
	// a long rollback reason, of characters JSON escapes or of bytes that are not UTF-8, is
	// cut and cleaned to what is read back
	for _, reason := range []string{strings.Repeat("é", maxStatusString), strings.Repeat("\x01", 2*maxStatusString),
		"progress deadline exceeded: " + strings.Repeat("\xff", 400)} {
		long := canary.Status{RollingBack: true, Message: reason}
		_, _, message := analysisCondition(long)
		var back canary.Status
		found, err := flaggerStatus{Conditions: []flaggerCondition{{Type: ConditionAnalysis, Message: message}}}.analysis(&back)
		require.NoError(t, err, "%.40q", reason)
		assert.True(t, found)
		assert.LessOrEqual(t, len(back.Message), maxStatusString)
		assert.NotEmpty(t, back.Message)
	}
	var back canary.Status
	_, err := flaggerStatus{Conditions: []flaggerCondition{{Type: ConditionAnalysis, Message: "{}"}, {Type: ConditionAnalysis, Message: "{}"}}}.analysis(&back)
	require.ErrorContains(t, err, ".status.conditions[1]: a second canarykit.dev/Analysis condition (the first is [0])")

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := conditions(nil, canary.Status{Phase: canary.PhaseProgressing, StartedAt: started}, "Deployment", now)
	later := conditions(first, canary.Status{Phase: canary.PhaseProgressing, StartedAt: started, Paused: true}, "Deployment", now.Add(time.Minute))
	i := slices.IndexFunc(later, func(c flaggerCondition) bool { return c.Type == ConditionAnalysis })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "Paused", later[i].Reason)
	assert.Equal(t, "2026-01-02T03:04:05Z", later[i].LastTransitionTime, "the status stood (True)")
	assert.Equal(t, "2026-01-02T03:05:05Z", later[i].LastUpdateTime)
}

// The session affinity cookies are Flagger's status fields of the same names: written with
// the status, read back, removed when empty, bounded like every string read.
func TestCanaryStatusSessionAffinityCookies(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	obj := map[string]any{}
	st := canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 10, SessionAffinityCookie: "canary=ABC",
		PreviousSessionAffinityCookie: "canary=OLD", PrimarySessionAffinityCookie: "primary=DEF"}
	require.NoError(t, setStatus(obj, st, nil, "", t0))
	m := obj["status"].(map[string]any)
	assert.Equal(t, "canary=ABC", m["sessionAffinityCookie"])
	assert.Equal(t, "canary=OLD", m["previousSessionAffinityCookie"])
	assert.Equal(t, "primary=DEF", m["primarySessionAffinityCookie"])
	fs, err := decodeStatus(obj)
	require.NoError(t, err)
	got := fs.canaryStatus()
	assert.Equal(t, [3]string{"canary=ABC", "canary=OLD", "primary=DEF"},
		[3]string{got.SessionAffinityCookie, got.PreviousSessionAffinityCookie, got.PrimarySessionAffinityCookie})

	before := map[string]any{"status": maps.Clone(m)}
	st.PreviousSessionAffinityCookie, st.SessionAffinityCookie = st.SessionAffinityCookie, ""
	require.NoError(t, setStatus(obj, st, nil, "", t0))
	assert.NotContains(t, obj["status"], "sessionAffinityCookie", "an empty cookie is removed")
	was, err := decodeStatus(before)
	require.NoError(t, err)
	now, err := decodeStatus(obj)
	require.NoError(t, err)
	assert.True(t, sameFields(was, was))
	assert.False(t, sameFields(was, now), "a cookie moved is a change of status")

	_, err = decodeStatusValue(map[string]any{"sessionAffinityCookie": strings.Repeat("x", maxStatusString+1)})
	require.ErrorContains(t, err, ".status.sessionAffinityCookie: longer than")
	_, err = decodeStatusValue(map[string]any{"previousSessionAffinityCookie": 5})
	require.ErrorContains(t, err, ".status.previousSessionAffinityCookie: not a string")
}
