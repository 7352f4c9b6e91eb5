package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

// The tests below run whole releases through a real canary.Rollout: simulated workload,
// router and metrics in virtual time (canarytest), and every hook a real HTTP call from the
// webhook Client to a loopback receiver.

// Seed hooks, verbatim from users' manifests but for the loadtester's address.
const (
	acceptanceCmd = "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token"
	loadCmd       = "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"
)

func acceptanceTest(url string) canary.Webhook {
	return canary.Webhook{Name: "acceptance-test", Type: canary.HookPreRollout, URL: url + "/", Timeout: 30 * time.Second,
		Metadata: map[string]string{"type": "bash", "cmd": acceptanceCmd}}
}

func loadTest(url string) canary.Webhook {
	return canary.Webhook{Name: "load-test", Type: canary.HookRollout, URL: url + "/",
		Metadata: map[string]string{"cmd": loadCmd}}
}

// seedSpec is the podinfo demo Canary's analysis (kube/flagger/testdata): 30s interval, threshold 5, steps of 10 up to 50, Linkerd's
// built-in checks.
func seedSpec(hooks ...canary.Webhook) canary.Spec {
	return canary.Spec{
		Interval: 30 * time.Second, Threshold: 5, MaxWeight: 50, StepWeight: 10,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: time.Minute},
		},
		Webhooks: hooks,
	}
}

// world is one simulated target whose hooks are served over loopback HTTP.
type world struct {
	env *canarytest.Env
	lt  *webhooktest.LoadTester
}

func newWorld() *world {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Set("request-success-rate", canarytest.Constant(100))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	return &world{env: env, lt: &webhooktest.LoadTester{}}
}

// serve starts h on loopback for the test.
func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// release bootstraps the target at v0, then releases v1 and returns the outcome.
func (w *world) release(t *testing.T, spec canary.Spec) canary.Result {
	t.Helper()
	cfg := w.env.Config(spec)
	cfg.Webhooks = newClient(t, fastRetries)
	r, err := canary.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	w.env.Workload.SetRevision("v1")
	res, err = r.Run(ctx)
	require.NoError(t, err)
	return res
}

// approveAfter serves the LoadTester and opens podinfo.test's gate once /gate/check has
// answered "closed" n times: an operator approving while the release waits.
func (w *world) approveAfter(n int32) http.Handler {
	var checks atomic.Int32
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gate/check" && checks.Add(1) == n+1 {
			w.lt.OpenGate("podinfo", "test")
		}
		w.lt.ServeHTTP(rw, r)
	})
}

// analysisTicks counts the ticks that ran the seed spec's two metric checks.
func (w *world) analysisTicks() int { return w.env.Metrics.Calls.Count("Query") / 2 }

func (w *world) eventsWith(reason canary.Reason) []canary.Event {
	var out []canary.Event
	for _, e := range w.env.Events.Events() {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestSeedHooksDriveARelease(t *testing.T) {
	w := newWorld()
	url := w.lt.Start(t)
	rollback := canary.Webhook{Name: "rollback", Type: canary.HookRollback, URL: url + "/rollback/check"}
	res := w.release(t, seedSpec(acceptanceTest(url), loadTest(url), rollback))

	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Equal(t, []int{10, 20, 30, 40, 50, 0}, res.Weights)

	cmds := w.lt.Commands()
	require.NotEmpty(t, cmds)
	assert.Equal(t, webhooktest.Command{
		Payload: webhook.Payload{Name: "podinfo", Namespace: "test", Phase: canary.PhaseProgressing, Checksum: "v1",
			Metadata: map[string]string{"type": "bash", "cmd": acceptanceCmd}},
		Type: "bash", Cmd: acceptanceCmd, Blocking: true,
	}, cmds[0], "the acceptance test runs first, blocking, once")
	require.Len(t, cmds, 1+w.analysisTicks(), "the load test is submitted at every analysis tick")
	for _, c := range cmds[1:] {
		assert.Equal(t, "cmd", c.Type)
		assert.Equal(t, loadCmd, c.Cmd)
		assert.False(t, c.Blocking)
		assert.Equal(t, canary.PhaseProgressing, c.Payload.Phase)
	}
	// The loadtester answers 403 at /rollback/check: not a rollback.
	rb := w.lt.RequestsTo("/rollback/check")
	require.NotEmpty(t, rb)
	for _, r := range rb {
		assert.Equal(t, http.StatusForbidden, r.Status)
	}
}

func TestPreRolloutFailureCountsFailedChecks(t *testing.T) {
	w := newWorld()
	w.lt.Run = func(c webhooktest.Command) (string, error) {
		return "", errors.New("command curl failed: exit status 1: token not found")
	}
	url := w.lt.Start(t)
	res := w.release(t, seedSpec(acceptanceTest(url), loadTest(url)))

	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, "failed checks threshold reached 5", res.Reason)
	assert.Empty(t, res.Weights, "no traffic ever reached the canary")
	assert.Len(t, w.lt.Commands(), 5, "the acceptance test ran at each of the five failing ticks, the load test never")
	halts := w.eventsWith(canary.ReasonHalted)
	require.Len(t, halts, 5)
	assert.Contains(t, halts[0].Message, "Halt podinfo.test advancement pre-rollout check acceptance-test failed")
	assert.Contains(t, halts[0].Message, "status 500 Internal Server Error")
	assert.Contains(t, halts[0].Message, "exit status 1: token not found", "the receiver's answer reaches the event")
}

func TestRolloutHookFailureCountsFailedChecks(t *testing.T) {
	w := newWorld()
	rc := &webhooktest.Receiver{Respond: func(call int, _ webhooktest.Request) (int, string) {
		if call >= 3 {
			return http.StatusServiceUnavailable, "hey: connection refused"
		}
		return http.StatusAccepted, ""
	}}
	spec := seedSpec(canary.Webhook{Name: "load-test", Type: canary.HookRollout, URL: rc.Start(t), Retries: 1})
	spec.Threshold = 2
	res := w.release(t, spec)

	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, "failed checks threshold reached 2", res.Reason)
	assert.Equal(t, []int{10, 20, 30, 0}, res.Weights)
	halts := w.eventsWith(canary.ReasonHalted)
	require.Len(t, halts, 2)
	assert.Contains(t, halts[0].Message, "external check load-test failed")
	assert.Contains(t, halts[0].Message, "status 503 Service Unavailable (after 2 attempts)")
	assert.Len(t, rc.Requests(), 2+2*2, "two passing calls, then two failing ticks of two attempts each")
}

func TestConfirmRolloutWaitsForApproval(t *testing.T) {
	w := newWorld()
	url := serve(t, w.approveAfter(3))
	gate := canary.Webhook{Name: "approval", Type: canary.HookConfirmRollout, URL: url + "/gate/check"}
	res := w.release(t, seedSpec(gate))

	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	waits := w.eventsWith(canary.ReasonWaiting)
	require.Len(t, waits, 1)
	assert.Equal(t, "Halt podinfo.test advancement waiting for approval approval", waits[0].Message)
	checks := w.lt.RequestsTo("/gate/check")
	require.Len(t, checks, 4, "three closed answers, then open")
	assert.Equal(t, canary.PhaseInitialized, checks[0].Payload.Phase, "Flagger sends the status phase to confirm-rollout")
	assert.Equal(t, canary.PhaseWaiting, checks[1].Payload.Phase)
	assert.Equal(t, []int{403, 403, 403, 200}, []int{checks[0].Status, checks[1].Status, checks[2].Status, checks[3].Status})
	assert.Equal(t, 1, w.env.Workload.Calls.Count("ScaleUp"), "the canary scales up only once approved")
}

func TestConfirmTrafficIncreaseHoldsTheWeight(t *testing.T) {
	w := newWorld()
	url := serve(t, w.approveAfter(2))
	gate := canary.Webhook{Name: "traffic", Type: canary.HookConfirmTrafficIncrease, URL: url + "/gate/check"}
	res := w.release(t, seedSpec(gate))

	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Equal(t, []int{10, 20, 30, 40, 50, 0}, res.Weights, "no step is skipped")
	waits := w.eventsWith(canary.ReasonWaiting)
	require.Len(t, waits, 2)
	for _, e := range waits {
		assert.Equal(t, "Halt podinfo.test advancement waiting for traffic increase approval traffic", e.Message)
		assert.Zero(t, e.Weights.Canary, "the weight stays while the gate is closed")
	}
}

func TestConfirmPromotionWaitsForApproval(t *testing.T) {
	w := newWorld()
	url := serve(t, w.approveAfter(3))
	gate := canary.Webhook{Name: "promotion", Type: canary.HookConfirmPromotion, URL: url + "/gate/check"}
	res := w.release(t, seedSpec(gate))

	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	waits := w.eventsWith(canary.ReasonWaiting)
	require.Len(t, waits, 1)
	assert.Equal(t, "Halt podinfo.test advancement waiting for promotion approval promotion", waits[0].Message)
	var phases []canary.Phase
	for _, s := range w.env.Store.Saved() {
		phases = append(phases, s.Phase)
	}
	assert.Contains(t, phases, canary.PhaseWaitingPromotion)
	// Checks run from the second tick: four to go from 10 to 50 %, one that finds the gate
	// closed, two more while it stays closed, one that finds it open.
	assert.Equal(t, 4+1+2+1, w.analysisTicks(), "metrics keep running while waiting")
	assert.Equal(t, 1, w.env.Workload.Calls.Count("Promote"), "the primary is promoted only once approved")
}

func TestRollbackHookRollsBack(t *testing.T) {
	w := newWorld()
	url := w.lt.Start(t)
	post := &webhooktest.Receiver{}
	spec := seedSpec(loadTest(url),
		canary.Webhook{Name: "rollback", Type: canary.HookRollback, URL: url + "/rollback/check"},
		canary.Webhook{Name: "notify-done", Type: canary.HookPostRollout, URL: post.Start(t)})
	// An operator asks for a rollback when the canary reaches 20 %.
	w.env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonAdvanced && e.Weights.Canary == 20 {
			w.lt.RequestRollback("podinfo", "test")
		}
	}
	res := w.release(t, spec)

	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, "manual webhook invoked rollback", res.Reason)
	assert.Equal(t, []int{10, 20, 0}, res.Weights)
	assert.False(t, w.env.Workload.CanaryScaledUp())
	got := post.Requests()
	require.Len(t, got, 1)
	assert.Equal(t, canary.PhaseFailed, got[0].Payload.Phase, "post-rollout hooks learn the release failed")
}

func TestPostRolloutHook(t *testing.T) {
	w := newWorld()
	ok := &webhooktest.Receiver{}
	failing := &webhooktest.Receiver{Respond: func(int, webhooktest.Request) (int, string) { return 500, "smoke test failed" }}
	after := &webhooktest.Receiver{}
	res := w.release(t, seedSpec(
		canary.Webhook{Name: "done", Type: canary.HookPostRollout, URL: ok.Start(t), Metadata: map[string]string{"k": "v"}},
		canary.Webhook{Name: "smoke", Type: canary.HookPostRollout, URL: failing.Start(t)},
		canary.Webhook{Name: "after", Type: canary.HookPostRollout, URL: after.Start(t)},
	))

	assert.Equal(t, canary.PhaseSucceeded, res.Phase, "a failing post-rollout hook is reported only")
	got := ok.Requests()
	require.Len(t, got, 1)
	assert.Equal(t, webhook.Payload{Name: "podinfo", Namespace: "test", Phase: canary.PhaseSucceeded, Checksum: "v1",
		Metadata: map[string]string{"k": "v"}}, got[0].Payload)
	failed := w.eventsWith(canary.ReasonHookFailed)
	require.Len(t, failed, 1)
	assert.Contains(t, failed[0].Message, `Post-rollout hook smoke failed webhook "smoke" (post-rollout)`)
	assert.Contains(t, failed[0].Message, `status 500 Internal Server Error: body "smoke test failed"`)
	assert.Empty(t, after.Requests(), "the hooks after a failing one are not called, as in Flagger")
}

func TestEventHookGetsEveryEvent(t *testing.T) {
	w := newWorld()
	rc := &webhooktest.Receiver{Respond: webhooktest.Statuses(500)} // failures change nothing
	res := w.release(t, seedSpec(canary.Webhook{Name: "events", Type: canary.HookEvent, URL: rc.Start(t),
		Metadata: map[string]string{"cluster": "prod-eu"}}))

	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	events := w.env.Events.Events()
	got := rc.Requests()
	require.Len(t, got, len(events), "one call per event")
	for i, e := range events {
		p := got[i].Payload
		assert.Equal(t, "podinfo", p.Name)
		assert.Equal(t, e.Phase, p.Phase)
		assert.Equal(t, map[string]string{
			"cluster":      "prod-eu",
			"eventMessage": e.Message,
			"eventType":    string(e.Type),
			"timestamp":    strconv.FormatInt(e.Time.UnixMilli(), 10),
		}, p.Metadata)
	}
	assert.Equal(t, "Initializing podinfo.test: waiting for podinfo-primary.test to become ready", got[0].Payload.Metadata["eventMessage"])
	assert.Equal(t, "Promotion completed! Scaling down podinfo.test", events[len(events)-1].Message)
}

func TestHookTimeoutThroughTheRollout(t *testing.T) {
	w := newWorld()
	url := serve(t, http.HandlerFunc(hang))
	spec := seedSpec(canary.Webhook{Name: "slow", Type: canary.HookPreRollout, URL: url, Timeout: 50 * time.Millisecond})
	spec.Threshold = 1
	res := w.release(t, spec)

	assert.Equal(t, canary.PhaseFailed, res.Phase)
	halts := w.eventsWith(canary.ReasonHalted)
	require.Len(t, halts, 1)
	assert.Contains(t, halts[0].Message, `webhook "slow" (pre-rollout) POST `+url+`: no response within the hook timeout 50ms`)
}
