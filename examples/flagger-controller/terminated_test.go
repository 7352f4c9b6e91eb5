package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/tools/record"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// The replica that finds a deleted Canary's finalization done by another (its finalizer
// removed, the Canary gone) records neither Terminating nor Terminated: those Events are the
// replica's that retires the target, once each, as Flagger (one leader) records them. Before,
// every replica that saw the deletion recorded Terminating.
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
	assert.Empty(t, got)
}
