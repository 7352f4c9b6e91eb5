package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// httpCanary is one Canary behind the API's HTTP paths, as JSON: GET answers the object, a PUT
// to its status subresource at the current resourceVersion replaces .status and answers the
// object at the next version; at another version it answers 409 with a Status. Requests are
// recorded.
type httpCanary struct {
	mu       sync.Mutex
	obj      map[string]any
	rv       int
	requests []httpRequest
	// invalid, if set, is the message of a 422 Invalid Status answering every status update
	invalid string
}

type httpRequest struct {
	method, path, contentType string
	body                      map[string]any
}

func newHTTPCanary(t *testing.T) *httpCanary {
	t.Helper()
	raw, err := os.ReadFile("testdata/canary-object.json")
	require.NoError(t, err)
	h := &httpCanary{rv: 1234}
	require.NoError(t, json.Unmarshal(raw, &h.obj))
	return h
}

func (h *httpCanary) meta() map[string]any { return h.obj["metadata"].(map[string]any) }

// edit changes the object as another writer would, at a new resourceVersion.
func (h *httpCanary) edit(fn func(obj map[string]any)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn(h.obj)
	h.rv++
	h.meta()["resourceVersion"] = strconv.Itoa(h.rv)
}

func (h *httpCanary) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := httpRequest{method: req.Method, path: req.URL.Path, contentType: req.Header.Get("Content-Type")}
	if req.Body != nil {
		raw, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &r.body); err != nil {
				return nil, err
			}
		}
	}
	h.requests = append(h.requests, r)
	const object = "/apis/flagger.app/v1beta1/namespaces/ns/canaries/podinfo"
	switch {
	case req.Method == http.MethodGet && r.path == object:
	case req.Method == http.MethodPut && r.path == object+"/status" && h.invalid != "":
		return h.answer(req, http.StatusUnprocessableEntity, map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure",
			"reason": "Invalid", "code": 422, "message": h.invalid, "details": map[string]any{"name": "podinfo", "group": "flagger.app",
				"kind": "Canary", "causes": []any{map[string]any{"reason": "FieldValueNotSupported", "field": "status.phase"}}}})
	case req.Method == http.MethodPut && r.path == object+"/status":
		meta, _ := r.body["metadata"].(map[string]any)
		if meta["resourceVersion"] != h.meta()["resourceVersion"] {
			return h.answer(req, http.StatusConflict, map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure",
				"reason": "Conflict", "code": 409, "message": "the object has been modified"})
		}
		h.obj["status"] = r.body["status"]
		h.rv++
		h.meta()["resourceVersion"] = strconv.Itoa(h.rv)
	default:
		return h.answer(req, http.StatusNotFound, map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure",
			"reason": "NotFound", "code": 404})
	}
	return h.answer(req, http.StatusOK, h.obj)
}

func (h *httpCanary) answer(req *http.Request, code int, v any) (*http.Response, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": []string{"application/json"}},
		Body: io.NopCloser(bytes.NewReader(raw)), ContentLength: int64(len(raw)), Request: req}, nil
}

func (h *httpCanary) taken() []httpRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]httpRequest(nil), h.requests...)
}

// httpStore is a CanaryStore over the REST client of the Driver, whose requests h answers.
func httpStore(t *testing.T, h *httpCanary) (*CanaryStore, canary.Target, *clocktesting.FakeClock) {
	t.Helper()
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	lease, err := kube.NewLease(kube.LeaseOptions{Client: fake.NewClientset(), Target: target, Identity: "a", Clock: clk})
	require.NoError(t, err)
	require.NoError(t, lease.Acquire(context.Background()))
	client, err := canaryClient(benchConfig(h), nil)
	require.NoError(t, err)
	return newCanaryStore(restCanaries{client: client, namespace: "ns"}, "podinfo", target, lease, nil, clk), target, clk
}

// A save is one PUT of the status subresource, at the version loaded, carrying the Canary's
// identity and the status (with the fields the store does not manage, as read): nothing of the
// spec or the rest of the metadata, which the API server takes from the stored object.
func TestCanaryStoreRequests(t *testing.T) {
	h := newHTTPCanary(t)
	h.obj["status"].(map[string]any)["sessionAffinityCookie"] = "podinfo-cookie" // read, and written back as read
	s, target, _ := httpStore(t, h)
	ctx := context.Background()
	st, err := s.Load(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, "1234", st.Version)
	assert.Equal(t, canary.PhaseProgressing, st.Phase)
	assert.Equal(t, 10, st.CanaryWeight)

	st.CanaryWeight = 20
	st, err = s.Save(ctx, target, st)
	require.NoError(t, err)
	assert.Equal(t, "1235", st.Version, "the answer's resourceVersion")
	st.CanaryWeight = 30
	st, err = s.Save(ctx, target, st)
	require.NoError(t, err)
	assert.Equal(t, "1236", st.Version)

	reqs := h.taken()
	require.Len(t, reqs, 3, "a read, then one request per save")
	assert.Equal(t, http.MethodGet, reqs[0].method)
	for i, r := range reqs[1:] {
		assert.Equal(t, http.MethodPut, r.method)
		assert.Equal(t, "/apis/flagger.app/v1beta1/namespaces/ns/canaries/podinfo/status", r.path)
		assert.Equal(t, "application/json", r.contentType)
		assert.Equal(t, "flagger.app/v1beta1", r.body["apiVersion"])
		assert.Equal(t, "Canary", r.body["kind"])
		assert.ElementsMatch(t, []string{"apiVersion", "kind", "metadata", "status"}, slices.Collect(maps.Keys(r.body)))
		assert.Equal(t, map[string]any{"name": "podinfo", "namespace": "ns", "uid": "6a3c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
			"resourceVersion": strconv.Itoa(1234 + i)}, r.body["metadata"], "at the version loaded, then at the one written")
		status := r.body["status"].(map[string]any)
		assert.Equal(t, "podinfo-cookie", status["sessionAffinityCookie"], "the cookie as loaded")
		assert.Equal(t, map[string]any{"configmap/podinfo-config": "0123456789abcdef"}, status["trackedConfigs"])
	}
	assert.Equal(t, "1234", reqs[1].body["metadata"].(map[string]any)["resourceVersion"])
	assert.Equal(t, "1235", reqs[2].body["metadata"].(map[string]any)["resourceVersion"])
	assert.EqualValues(t, 20, reqs[1].body["status"].(map[string]any)["canaryWeight"])
	assert.EqualValues(t, 30, reqs[2].body["status"].(map[string]any)["canaryWeight"])
	conds := reqs[2].body["status"].(map[string]any)["conditions"].([]any)
	require.Len(t, conds, 3, "Promoted, Reconciling, canarykit's Analysis")
	assert.Equal(t, map[string]any{"type": ConditionAnalysis, "status": "False", "reason": "Idle", "message": "{}",
		"lastUpdateTime": "2026-01-02T03:04:05Z", "lastTransitionTime": "2026-01-02T03:04:05Z"}, conds[2])
	assert.Equal(t, map[string]any{"type": "Promoted", "status": "Unknown", "reason": "Progressing",
		"message":        "New revision detected, progressing canary analysis.",
		"lastUpdateTime": "2026-01-02T03:04:05Z", "lastTransitionTime": "2026-01-02T03:04:05Z"}, conds[0])
}

// A conflict answered over HTTP is read as one: the store reads the object again and writes
// the status on it when only the spec changed, and reports a status another writer changed.
func TestCanaryStoreConflictAnswers(t *testing.T) {
	h := newHTTPCanary(t)
	s, target, _ := httpStore(t, h)
	ctx := context.Background()
	st, err := s.Load(ctx, target)
	require.NoError(t, err)

	h.edit(func(obj map[string]any) { obj["spec"].(map[string]any)["provider"] = "smi" })
	st.CanaryWeight = 20
	st, err = s.Save(ctx, target, st)
	require.NoError(t, err)
	assert.Equal(t, "1236", st.Version)
	var methods []string
	for _, r := range h.taken() {
		methods = append(methods, r.method)
	}
	assert.Equal(t, []string{"GET", "PUT", "GET", "PUT"}, methods)
	assert.Equal(t, "1234", h.taken()[1].body["metadata"].(map[string]any)["resourceVersion"])
	assert.Equal(t, "1235", h.taken()[3].body["metadata"].(map[string]any)["resourceVersion"], "written on the fresh object")
	assert.Equal(t, "smi", h.obj["spec"].(map[string]any)["provider"], "the edit stays")

	h.edit(func(obj map[string]any) { obj["status"].(map[string]any)["canaryWeight"] = 80 })
	st.CanaryWeight = 30
	_, err = s.Save(ctx, target, st)
	require.ErrorIs(t, err, canary.ErrConflict)
}

// A status update the API server rejects is its Status: the message naming the field, the
// causes, IsInvalid; not an error made from the status code alone.
func TestCanaryStoreInvalidAnswer(t *testing.T) {
	h := newHTTPCanary(t)
	s, target, _ := httpStore(t, h)
	ctx := context.Background()
	st, err := s.Load(ctx, target)
	require.NoError(t, err)
	const msg = `Canary.flagger.app "podinfo" is invalid: status.phase: Unsupported value: "Nope"`
	h.mu.Lock()
	h.invalid = msg
	h.mu.Unlock()
	st.CanaryWeight = 20
	_, err = s.Save(ctx, target, st)
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), msg)
	var status apierrors.APIStatus
	require.ErrorAs(t, err, &status)
	require.NotNil(t, status.Status().Details)
	require.Len(t, status.Status().Details.Causes, 1)
	assert.Equal(t, "status.phase", status.Status().Details.Causes[0].Field)
}

// What cannot be read from the API server's answer is an error naming the field.
func TestParseCanaryErrors(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`{"metadata":{"name":"podinfo"}}`, ".metadata.resourceVersion: missing"},
		{`{"metadata":{"resourceVersion":7}}`, ".metadata.resourceVersion"},
		{`{"metadata":{"resourceVersion":"7"},"status":[1,2]`, "decoding the object"},
		{`[]`, "decoding the object"},
	} {
		_, err := parseCanary([]byte(c.raw))
		require.Error(t, err, c.raw)
		assert.Contains(t, err.Error(), c.want, c.raw)
	}
	o, err := parseCanary([]byte(`{"metadata":{"resourceVersion":"7"},"status":"done"}`))
	require.NoError(t, err)
	_, err = o.decoded()
	assert.EqualError(t, err, ".status: not an object")
	_, err = decodeStatusValue(map[string]any{"conditions": []any{map[string]any{"type": "Promoted", "reason": 3}}})
	assert.EqualError(t, err, ".status.conditions[0].reason: not a string")
}

// A missing Canary over HTTP is a permanent error for which apierrors.IsNotFound holds.
func TestCanaryStoreNotFoundAnswer(t *testing.T) {
	h := newHTTPCanary(t)
	s, target, _ := httpStore(t, h)
	s.name = "gone"
	_, err := s.Load(context.Background(), target)
	require.Error(t, err)
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
	assert.True(t, canary.IsPermanent(err))
	assert.Contains(t, err.Error(), "canary ns/gone")
}
