package main

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/tools/record"
)

// The replica that finds a deleted Canary's finalization done by another (its finalizer
// removed, the Canary gone) records Terminating, as every replica does when it sees the
// deletion, but not Terminated: that Event is the replica's that retired the target, once,
// as Flagger records it.
func TestFinalizeDoneElsewhereRecordsNoTerminated(t *testing.T) {
	r := newFinalizeRace(t) // the API server no longer has the Canary
	close(r.release)
	rec := record.NewFakeRecorder(10)
	r.c.Recorder = rec
	ctx := context.Background()
	u := deletedCanary("uid-1")
	alive := *u
	alive.DeletionTimestamp = nil
	r.c.driven("test/a", &alive, &flagger.Canary{Target: canary.Target{Namespace: "test", Name: "podinfo", Canary: "a"}})

	r.c.finalize(ctx, "test/a", u)
	r.c.work.Wait()
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	assert.Equal(t, []string{"Normal " + driver.CanaryEventReason + " Terminating canary a.test"}, got)
}
