package meshsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

func canaryRequests(b *bed) uint64 {
	return b.mesh.Traffic().Total(func(k meshsim.Key) bool { return k.Service == "podinfo-canary" }).Requests
}

func TestLoadRespectsItsBounds(t *testing.T) {
	b := newBed(t, nil, meshsim.Options{})
	b.deployment(t, "podinfo", "podinfo:3.1.0", 1)
	b.service(t, "podinfo-canary", "podinfo")
	b.waitEndpoints(t, "podinfo-canary", "podinfo:3.1.0", 1)
	ctx := context.Background()
	const url = "http://podinfo-canary.test:9898/"

	// A request budget: exactly that many requests, as fast as allowed.
	l, err := b.mesh.StartLoad(loadgen.Config{URL: url, Rate: 1000, Concurrency: 4, MaxRequests: 50, Duration: time.Minute})
	require.NoError(t, err)
	res, err := l.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, meshsim.LoadResult{Requests: 50, Statuses: map[int]uint64{200: 50}}, res)
	assert.Equal(t, uint64(50), canaryRequests(b))

	// A time budget: the first request at once, then one per 1/Rate, so at most 1 + 6 in 300 ms.
	before := canaryRequests(b)
	l, err = b.mesh.StartLoad(loadgen.Config{URL: url, Rate: 20, Concurrency: 2, MaxRequests: 1000, Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	res, err = l.Wait(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, res.Requests, uint64(7))
	assert.Positive(t, res.Requests)
	assert.Equal(t, res.Requests, canaryRequests(b)-before)

	// Stop: no request is sent once it returns.
	before = canaryRequests(b)
	l, err = b.mesh.StartLoad(loadgen.Config{URL: url, Rate: 200, Concurrency: 2, MaxRequests: 100000, Duration: time.Hour})
	require.NoError(t, err)
	eventually(t, func() bool { return l.Result().Requests >= 10 }, "10 requests")
	res = l.Stop()
	after := canaryRequests(b)
	assert.Equal(t, res.Requests, after-before)
	res2, err := l.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, res, res2)
}

// post sends a hook call the way canarykit's webhook client (and Flagger) does.
func post(t *testing.T, b *bed, url string, metadata map[string]string) (int, string) {
	t.Helper()
	body, err := json.Marshal(webhook.Payload{Name: "podinfo", Namespace: "test", Phase: "Progressing", Metadata: metadata})
	require.NoError(t, err)
	resp, err := b.mesh.Client().Post(url, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(out)
}

func TestTheSeedsLoadTesterHooksRunAgainstTheMesh(t *testing.T) {
	b := newBed(t, nil, meshsim.Options{})
	b.flagger(t, "ghcr.io/stefanprodan/podinfo:3.1.1", "ghcr.io/stefanprodan/podinfo:3.1.0")
	lt := &webhooktest.LoadTester{}
	require.NoError(t, b.mesh.ServeLoadTester("flagger-loadtester", lt))
	const loadtester = "http://flagger-loadtester.test/" // the demo manifests' webhook URL

	// acceptance-test: pre-rollout, type bash, blocking.
	acceptance := map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token"}
	status, body := post(t, b, loadtester, acceptance)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, uint64(1), canaryRequests(b))

	// A broken canary fails it: its 500 has no token, so grep exits 1.
	require.NoError(t, b.mesh.SetVersion("3.1.1", meshsim.Behavior{ErrorRate: 1}))
	status, body = post(t, b, loadtester, acceptance)
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Contains(t, body, "exit status 1")
	require.NoError(t, b.mesh.SetVersion("3.1.1", meshsim.Behavior{}))

	// load-test: rollout, type cmd (the default), run in the background for its 2 minutes (the
	// mesh stops it when the test ends); 20 requests per second reach the canary.
	load := map[string]string{"cmd": "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"}
	status, _ = post(t, b, loadtester, load)
	assert.Equal(t, http.StatusAccepted, status)
	before := canaryRequests(b)
	eventually(t, func() bool { return canaryRequests(b) >= before+10 }, "the seed's hey load reaching the canary")
	status, _ = post(t, b, loadtester, load) // still running: skipped, as flagger-loadtester does
	assert.Equal(t, http.StatusAccepted, status)
	require.Len(t, lt.Commands(), 4)

	// Blocking hey prints hey's summary.
	out, err := b.mesh.Run(context.Background(), "hey -n 20 -c 2 -q 100 http://podinfo.test:9898/")
	require.NoError(t, err)
	assert.Contains(t, out, "Status code distribution:\n  [200]\t20 responses\n")
}
