package mesh

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// A weight patch through a real clientset is a JSON patch of the TrafficSplit at the version's
// path whose answer is read for its generation; the API server's errors come back as client-go
// returns them (a failed test operation is one the router recognises).
func TestPatchGenerationReadsTheAnswersGeneration(t *testing.T) {
	var mu sync.Mutex
	var method, path, ctype, body string
	status, answer := http.StatusOK, `{"apiVersion":"split.smi-spec.io/v1alpha2","kind":"TrafficSplit",`+
		`"metadata":{"name":"podinfo","namespace":"test","generation":7,"resourceVersion":"42","managedFields":[{"manager":"x"}]},`+
		`"spec":{"service":"podinfo","backends":[{"service":"podinfo-canary","weight":10},{"service":"podinfo-primary","weight":90}]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		method, path, ctype, body = r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(b)
		code, out := status, answer
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, out)
	}))
	defer srv.Close()
	cs, err := splitclient.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	v := splitVersions(cs)["v1alpha2"]
	require.NotNil(t, v.rest)

	patch := `[{"op":"test","path":"/metadata/generation","value":6}]`
	gen, err := v.patchGeneration(context.Background(), "test", "podinfo", []byte(patch))
	require.NoError(t, err)
	require.EqualValues(t, 7, gen)
	mu.Lock()
	require.Equal(t, http.MethodPatch, method)
	require.Equal(t, "/apis/split.smi-spec.io/v1alpha2/namespaces/test/trafficsplits/podinfo", path)
	require.Equal(t, "application/json-patch+json", ctype)
	require.JSONEq(t, patch, body)
	// the test operation failed
	status, answer = http.StatusUnprocessableEntity, `{"kind":"Status","apiVersion":"v1","status":"Failure",`+
		`"message":"the server rejected our request due to an error in our request","reason":"Invalid","code":422}`
	mu.Unlock()
	_, err = v.patchGeneration(context.Background(), "test", "podinfo", []byte(patch))
	require.Error(t, err)
	require.True(t, testFailed(err), "%v", err)
	require.True(t, patchRejected(err), "%v", err)
	// gone
	mu.Lock()
	status, answer = http.StatusNotFound, `{"kind":"Status","apiVersion":"v1","status":"Failure",`+
		`"message":"trafficsplits.split.smi-spec.io \"podinfo\" not found","reason":"NotFound","details":{"name":"podinfo","group":"split.smi-spec.io","kind":"trafficsplits"},"code":404}`
	mu.Unlock()
	_, err = v.patchGeneration(context.Background(), "test", "podinfo", []byte(patch))
	require.True(t, objectMissing(err), "%v", err)
	// an answer that is not a TrafficSplit's JSON is an error, not generation 0
	mu.Lock()
	status, answer = http.StatusOK, `{"metadata":{"generation":"seven"}}`
	mu.Unlock()
	_, err = v.patchGeneration(context.Background(), "test", "podinfo", []byte(patch))
	require.ErrorContains(t, err, "TrafficSplit test/podinfo")
}

// The generated fakes have no REST client: their patches go through the typed client.
func TestPatchGenerationWithoutARESTClient(t *testing.T) {
	for name, v := range splitVersions(splitfake.NewSimpleClientset()) {
		require.Nil(t, v.rest, name)
	}
}
