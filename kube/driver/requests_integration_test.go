package driver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

// releaseBed is a Target with its status on the Canary, initialised, with the identity it
// runs as.
type releaseBed struct {
	*statusBed
	user string
	tg   *Target

	mu     sync.Mutex
	events []canary.Event
}

func newReleaseBed(ctx context.Context, t *testing.T) *releaseBed {
	b := &releaseBed{statusBed: newStatusBed(ctx, t)}
	c := applyCanary(ctx, t, b.env, canaryYAML(b.ns, "1s", b.ltURL))
	var cfg *rest.Config
	b.user, cfg = driverUser(t, b.env, b.ns)
	d, err := New(Options{Config: cfg, Identity: "driver-a", CanaryStatus: true, Logger: testr.New(t)})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	b.tg, err = d.Target(c, func(e canary.Event) {
		b.mu.Lock()
		b.events = append(b.events, e)
		b.mu.Unlock()
	})
	require.NoError(t, err)
	tctx, stop := context.WithCancel(ctx)
	started := make(chan error, 1)
	go func() { started <- b.tg.Start(tctx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-started)
	})
	b.poll(ctx, t, "initialized", func() bool { return b.tg.Last().Phase == canary.PhaseInitialized })
	b.poll(ctx, t, "the Initialized event written", b.written(ctx, canary.ReasonInitialized))
	return b
}

func (b *releaseBed) poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.NoError(t, wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true,
		func(context.Context) (bool, error) { return cond(), nil }), what)
}

// written reports whether an Event of the engine's reason (its action; the Event's reason is
// Flagger's Synced) is stored (the recorder writes asynchronously).
func (b *releaseBed) written(ctx context.Context, reason canary.Reason) func() bool {
	return func() bool {
		evs, err := b.env.Client().CoreV1().Events(b.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Action == string(reason) {
				return true
			}
		}
		return false
	}
}

// release sets a new image, kicks the Target and waits for the release's end and its last
// Event; it returns the release's API requests by kind and the events it emitted.
func (b *releaseBed) release(ctx context.Context, t *testing.T, image string) (testenv.AuditEvents, []canary.Event) {
	t.Helper()
	from := b.env.AuditMark(t)
	b.mu.Lock()
	b.events = nil
	b.mu.Unlock()
	setImage(ctx, t, b.env, b.ns, "podinfo", image)
	prev := b.tg.Last()
	b.tg.Kick()
	b.poll(ctx, t, "released", func() bool {
		l := b.tg.Last()
		return l.Released && l.Phase == canary.PhaseSucceeded && l.Revision != prev.Revision
	})
	b.poll(ctx, t, "the Succeeded event written", b.written(ctx, canary.ReasonSucceeded))
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.env.AuditSince(t, from).ForUser(b.user).Calls(), append([]canary.Event(nil), b.events...)
}

func (b *releaseBed) key(verb, res string) testenv.AuditKey {
	return testenv.AuditKey{User: b.user, Verb: verb, Resource: res}
}

// The API requests of one release by a Target with its status on the Canary object (as
// examples/flagger-controller runs), counted by kind on the real API server. The release has
// three weight steps and the promotion: four route writes. Each tick writes its status once,
// each event once (Flagger's set of events for such a release), the Deployments are written
// three times (canary scale-up, primary copy, canary scale-down); the analysis' start is saved
// with its step's status, and the lease is not written. Neither the status nor the route is read: the Target holds the lease since
// the release before, so the status it last wrote is the stored one, and the route is at the
// generation of its last write (each write is conditional on it). Two releases in a row cost
// the same.
func TestTargetReleaseRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b := newReleaseBed(ctx, t)
	// the second release costs the same: nothing of the first is cleared up at its start
	for _, image := range []string{"podinfo:2", "podinfo:3"} {
		calls, events := b.release(ctx, t, image)
		res := b.tg.Last()
		assert.Equal(t, []int{20, 40, 60, 0}, res.Weights, image)

		var reasons []canary.Reason
		for _, e := range events {
			if e.Reason != canary.ReasonNotReady { // the canary may not be ready at the first look
				reasons = append(reasons, e.Reason)
			}
		}
		// Flagger's events for this release: New revision detected, Starting canary analysis,
		// Advance canary weight (each step), Copying template spec, Routing all traffic to
		// primary, Promotion completed
		assert.Equal(t, []canary.Reason{canary.ReasonNewRevision, canary.ReasonStarted, canary.ReasonAdvanced,
			canary.ReasonAdvanced, canary.ReasonAdvanced, canary.ReasonPromoting, canary.ReasonShifted, canary.ReasonSucceeded}, reasons, image)

		counts := calls.Counts()
		t.Logf("release of %s, %d route writes, %d requests:\n%s", image, len(res.Weights), counts.Total(), counts)
		// an Event repeating one of the last release's is a patch of its count, as with Flagger
		assert.Equal(t, len(events), counts[b.key("create", "events")]+counts[b.key("patch", "events")], "%s: one request per event", image)
		delete(counts, b.key("create", "events"))
		delete(counts, b.key("patch", "events"))
		assert.Equal(t, testenv.AuditCounts{
			b.key("patch", "trafficsplits"):    4, // 20, 40, 60, then all traffic to the primary
			b.key("update", "canaries/status"): 6, // new revision, three steps, Promoting, Succeeded
			b.key("patch", "deployments"):      2, // canary scaled up, then down
			b.key("update", "deployments"):     1, // the canary's spec copied to the primary
		}, counts, image)
		for _, e := range calls {
			assert.Less(t, e.Code, 300, "%s %s/%s answered %d", e.Verb, e.Resource, e.Subresource, e.Code)
		}
	}
}

// A Canary edited between two releases (here its labels, as a GitOps tool or kubectl label
// does) has a newer resourceVersion than the status the Target last wrote: the next release's
// first status write conflicts, reads the Canary once and is made again on the fresh object;
// the edit is kept and the release goes on as usual.
func TestTargetReleaseAfterCanaryEdit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b := newReleaseBed(ctx, t)
	admin, err := dynamic.NewForConfig(b.env.Config())
	require.NoError(t, err)
	canaries := admin.Resource(CanaryGVR).Namespace(b.ns)
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := canaries.Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["team"] = "checkout"
		obj.SetLabels(labels)
		_, err = canaries.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	}))

	calls, _ := b.release(ctx, t, "podinfo:2")
	assert.Equal(t, []int{20, 40, 60, 0}, b.tg.Last().Weights)
	counts := calls.Counts()
	t.Logf("release after an edit: %d requests:\n%s", counts.Total(), counts)
	assert.Equal(t, 1, counts[b.key("get", "canaries")], "the Canary read once, after the conflict")
	assert.Equal(t, 6+1, counts[b.key("update", "canaries/status")], "the conflicting write made again")
	conflicts := 0
	for _, e := range calls {
		if e.Code == 409 {
			conflicts++
			assert.Equal(t, "canaries", e.Resource)
		}
	}
	assert.Equal(t, 1, conflicts)
	final, err := canaries.Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "checkout", final.GetLabels()["team"])
	assert.Equal(t, "Succeeded", phaseOf(final))
}

// A TrafficSplit edited between two releases (kubectl edit: a backend added and the traffic
// shifted by hand) is not written over blindly: the next release's first route write, made
// conditional on the generation the Target last wrote, is refused; the route is then read
// and adopted as at a hold's first release (put back in shape, weights kept) and the write made
// on it. The release goes on as usual, and the one after, with the route unedited, reads it no
// more.
func TestTargetReleaseAfterRouteEdit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b := newReleaseBed(ctx, t)
	admin, err := dynamic.NewForConfig(b.env.Config())
	require.NoError(t, err)
	splits := admin.Resource(schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}).Namespace(b.ns)
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := splits.Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		require.NoError(t, unstructured.SetNestedSlice(obj.Object, []any{
			map[string]any{"service": "podinfo-canary", "weight": int64(10)},
			map[string]any{"service": "podinfo-primary", "weight": int64(80)},
			map[string]any{"service": "podinfo-mirror", "weight": int64(10)},
		}, "spec", "backends"))
		_, err = splits.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	}))

	calls, _ := b.release(ctx, t, "podinfo:2")
	assert.Equal(t, []int{20, 40, 60, 0}, b.tg.Last().Weights)
	counts := calls.Counts()
	t.Logf("release after a route edit: %d requests:\n%s", counts.Total(), counts)
	assert.Equal(t, 1, counts[b.key("get", "trafficsplits")], "the route read once, after the refused write")
	assert.Equal(t, 1, counts[b.key("update", "trafficsplits")], "put back in shape")
	assert.Equal(t, 4+1, counts[b.key("patch", "trafficsplits")], "the refused write made again")
	refused := 0
	for _, e := range calls {
		if e.Code >= 300 {
			refused++
			assert.Equal(t, "trafficsplits", e.Resource)
			assert.Equal(t, "patch", e.Verb)
			assert.Equal(t, http.StatusUnprocessableEntity, e.Code)
		}
	}
	assert.Equal(t, 1, refused)
	obj, err := splits.Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	backends, _, err := unstructured.NestedSlice(obj.Object, "spec", "backends")
	require.NoError(t, err)
	assert.ElementsMatch(t, []any{
		map[string]any{"service": "podinfo-canary", "weight": int64(0)},
		map[string]any{"service": "podinfo-primary", "weight": int64(100)},
	}, backends, "in shape, all traffic on the primary")

	calls, _ = b.release(ctx, t, "podinfo:3")
	counts = calls.Counts()
	assert.Zero(t, counts[b.key("get", "trafficsplits")], "unedited since: not read")
	assert.Equal(t, 4, counts[b.key("patch", "trafficsplits")])
}

// transportLog records which of client-go's transports (a *http.Transport: its own
// connections) carried each request, "watch" or the resource written, and the protocols of
// their answers.
type transportLog struct {
	mu     sync.Mutex
	uses   map[string]map[string]int  // transport → what → requests
	protos map[string]map[string]bool // what → the protocols of its answers
}

func (l *transportLog) wrap(base http.RoundTripper) http.RoundTripper {
	id := fmt.Sprintf("%p", base)
	return roundTrip(func(r *http.Request) (*http.Response, error) {
		what := ""
		switch {
		case r.URL.Query().Get("watch") == "true":
			what = "watch"
		case r.Method != http.MethodGet:
			what = writtenResource(r.URL.Path)
		}
		resp, err := base.RoundTrip(r)
		if what != "" {
			l.mu.Lock()
			if l.uses[id] == nil {
				l.uses[id] = map[string]int{}
			}
			l.uses[id][what]++
			if err == nil {
				if l.protos[what] == nil {
					l.protos[what] = map[string]bool{}
				}
				l.protos[what][resp.Proto] = true
			}
			l.mu.Unlock()
		}
		return resp, err
	})
}

// writtenResource is the resource (and subresource) of a write's path: .../namespaces/<ns>/
// <resource>[/<name>[/<subresource>]].
func writtenResource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	return path
}

// on returns the transports that carried what.
func (l *transportLog) on(what string) []string {
	var out []string
	for id, uses := range l.uses {
		if uses[what] > 0 {
			out = append(out, id)
		}
	}
	return out
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The driver's watches (the informer caches, the Lease watch), its route writes and its Canary
// status writes each go over connections of their own: no transport that carries one of them
// carries anything else of a target's start. With Options.HTTP1Requests the writes speak
// HTTP/1.1 with the API server and the watches HTTP/2.
func TestStepWritesAndWatchesHaveConnectionsOfTheirOwn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound)
	defer cancel()
	b := newStatusBed(ctx, t)
	c := applyCanary(ctx, t, b.env, canaryYAML(b.ns, "1s", b.ltURL))
	_, cfg := driverUser(t, b.env, b.ns)
	log := &transportLog{uses: map[string]map[string]int{}, protos: map[string]map[string]bool{}}
	cfg.WrapTransport = log.wrap
	d, err := New(Options{Config: cfg, Identity: "driver-a", CanaryStatus: true, HTTP1Requests: true, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	rel, err := d.Release(ctx, c, nil)
	require.NoError(t, err)
	res, err := rel.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, res.Phase, res.Reason)

	log.mu.Lock()
	defer log.mu.Unlock()
	t.Logf("requests by transport: %v", log.uses)
	require.NotEmpty(t, log.on("deployments"), "the primary was created")
	for _, what := range []string{"watch", "trafficsplits", "canaries/status"} {
		ids := log.on(what)
		require.NotEmpty(t, ids, what)
		for _, id := range ids {
			assert.Len(t, log.uses[id], 1, "the transport of %s carried %v", what, log.uses[id])
		}
	}
	t.Logf("protocols: %v", log.protos)
	assert.Equal(t, map[string]bool{"HTTP/2.0": true}, log.protos["watch"], "the watches' protocol")
	for _, what := range []string{"deployments", "services", "trafficsplits", "canaries/status"} {
		assert.Equal(t, map[string]bool{"HTTP/1.1": true}, log.protos[what], "the protocol of the writes of %s", what)
	}
}
