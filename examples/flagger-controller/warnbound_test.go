package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/record"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
)

// The Warning Event and the log line of a Canary not driven carry at most MaxWarning bytes of
// its problem, naming the field first: a value of any length in a Canary quoted in the problem
// does not make Events (or log lines) of that length, once per edit.
func TestWarningOfACanaryNotDrivenIsBounded(t *testing.T) {
	var logged []string
	rec := record.NewFakeRecorder(10)
	c := &Controller{Driver: &driver.Driver{}, Recorder: rec,
		Log: funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{})}
	c.init()
	huge := strings.Repeat("9", 100_000)
	u := &canaryObject{Spec: json.RawMessage(`{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},` +
		`"service":{"port":80},"analysis":{"interval":"` + huge + `","threshold":1,"stepWeight":10,"maxWeight":50}}`)}
	u.Namespace, u.Name, u.UID = "test", "a", "uid-a"

	c.sync(context.Background(), u)
	require.Len(t, rec.Events, 1)
	ev := <-rec.Events
	assert.Contains(t, ev, "spec.analysis.interval")
	assert.LessOrEqual(t, len(ev), MaxWarning+len("Warning "+driver.CanaryEventReason+" "), "the Event's message")
	require.Len(t, logged, 1)
	assert.Contains(t, logged[0], "spec.analysis.interval")
	assert.Less(t, len(logged[0]), 2*MaxWarning, "the log line")

	cut := canary.CutText(strings.Repeat("é", MaxWarning), MaxWarning)
	assert.True(t, utf8.ValidString(cut) && strings.HasSuffix(cut, "…") && len(cut) <= MaxWarning, "cut on a rune boundary: %q", cut[len(cut)-8:])
}
