package mesh

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"
	splitv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha4"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"
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
	require.NotNil(t, v.versionClient.(typedClient[*splitv1alpha2.TrafficSplit, split]).rest)

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
	require.ErrorContains(t, err, "trafficsplits test/podinfo")
}

// The routers' versions take their REST clients from a real clientset; the generated fakes have
// none, and their patches go through the typed client.
func TestPatchGenerationsWay(t *testing.T) {
	cfg := &rest.Config{Host: "http://127.0.0.1:1"}
	cs, err := splitclient.NewForConfig(cfg)
	require.NoError(t, err)
	gw, err := gatewayclient.NewForConfig(cfg)
	require.NoError(t, err)
	real, err := NewHTTPRoute(HTTPRouteOptions{Client: gw, Version: "v1", Port: 9898})
	require.NoError(t, err)
	fake, err := NewHTTPRoute(HTTPRouteOptions{Client: gatewayfake.NewSimpleClientset(), Version: "v1", Port: 9898})
	require.NoError(t, err)
	require.NotNil(t, real.versions["v1"].(typedClient[*gwv1.HTTPRoute, gwv1.HTTPRoute]).rest)
	require.Equal(t, "httproutes", real.versions["v1"].(typedClient[*gwv1.HTTPRoute, gwv1.HTTPRoute]).resource)
	require.NotNil(t, real.versions["v1beta1"].(typedClient[*gwv1beta1.HTTPRoute, gwv1.HTTPRoute]).rest)
	require.Nil(t, fake.versions["v1"].(typedClient[*gwv1.HTTPRoute, gwv1.HTTPRoute]).rest)
	require.NotNil(t, splitVersions(cs)["v1alpha4"].versionClient.(typedClient[*splitv1alpha4.TrafficSplit, split]).rest)
	require.Nil(t, splitVersions(splitfake.NewSimpleClientset())["v1alpha2"].versionClient.(typedClient[*splitv1alpha2.TrafficSplit, split]).rest)
}
