package driver

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/internal/testcerts"
	"github.com/canarykit/canarykit/kube/flagger"
	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/metrics"
)

// headerRecorder answers 404 to everything and records the Accept and Content-Type headers
// of each request.
type headerRecorder struct {
	mu                  sync.Mutex
	accept, contentType []string
}

func (h *headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.accept = append(h.accept, req.Header.Get("Accept"))
	h.contentType = append(h.contentType, req.Header.Get("Content-Type"))
	h.mu.Unlock()
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// The driver's client of built-in resources asks for protobuf in every request (client-go's
// generated requests do by default, not its hand-written ones such as the Events' sink), the
// Canary client for JSON; a content type the embedder set is kept.
func TestClientContentTypes(t *testing.T) {
	rec := &headerRecorder{}
	d, err := New(Options{Config: &rest.Config{Host: "https://apiserver.invalid", Transport: rec, QPS: -1}})
	require.NoError(t, err)
	defer d.Close()
	// the Events' sink: client-go's hand-written request, JSON unless the config says otherwise
	_, err = d.Client().CoreV1().Events("ns").CreateWithEventNamespace(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}})
	require.Error(t, err)
	_, err = restCanaries{client: d.canaries, namespace: "ns"}.get(context.Background(), "podinfo")
	require.Error(t, err)
	require.Len(t, rec.accept, 2)
	assert.Equal(t, runtime.ContentTypeProtobuf+","+runtime.ContentTypeJSON, rec.accept[0])
	assert.Equal(t, runtime.ContentTypeJSON, rec.accept[1])

	own := &rest.Config{Host: "https://apiserver.invalid", ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeJSON}}
	assert.Same(t, own, builtinConfig(own), "the embedder's content type")
	plain := &rest.Config{Host: "https://apiserver.invalid"}
	assert.Equal(t, runtime.ContentTypeProtobuf, builtinConfig(plain).ContentType)
	assert.Empty(t, plain.ContentType, "the driver's config is not changed")
}

// BenchmarkEventDecode is the decoding of the Event the API server answers to each one
// recorded (1.67 per step in internal/scale): JSON (client-go's default for the Events' sink)
// against protobuf (the driver's client).
func BenchmarkEventDecode(b *testing.B) {
	ts := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	e := &corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo.1870a1b2c3d4e5f6", Namespace: "ns", ResourceVersion: "1234",
			UID: "6a3c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", CreationTimestamp: ts,
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "canarykit", Operation: metav1.ManagedFieldsOperationUpdate,
				APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:count":{},"f:firstTimestamp":{},"f:involvedObject":{},"f:lastTimestamp":{},"f:message":{},"f:reason":{},"f:source":{"f:component":{}},"f:type":{}}`)}}}},
		InvolvedObject: corev1.ObjectReference{Kind: "Canary", Namespace: "ns", Name: "podinfo", APIVersion: "flagger.app/v1beta1",
			UID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", ResourceVersion: "1233"},
		Reason: "Synced", Message: "Advance podinfo.ns canary weight 20", Source: corev1.EventSource{Component: "canarykit"},
		FirstTimestamp: ts, LastTimestamp: ts, Count: 1, Type: corev1.EventTypeNormal}
	for _, mediaType := range []string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf} {
		info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mediaType)
		if !ok {
			b.Fatalf("no serializer for %s", mediaType)
		}
		raw, err := runtime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion), e)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mediaType, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var out corev1.Event
				if _, _, err := info.Serializer.Decode(raw, nil, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// createCalls counts client-go's transport cache lookups by result: "hit", "miss" (a new
// entry, kept for the life of the process) or "uncacheable".
type createCalls struct {
	mu    sync.Mutex
	count map[string]int
}

func (c *createCalls) Increment(result string) {
	c.mu.Lock()
	c.count[result]++
	c.mu.Unlock()
}

func (c *createCalls) get(result string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[result]
}

var (
	registerCacheCalls sync.Once
	cacheCalls         = &createCalls{count: map[string]int{}}
)

// tlsServer is an HTTPS server answering 404 to everything, with the config of a client that
// trusts it, the number of its connections open and the user agents of its requests.
func tlsServer(t *testing.T) (*rest.Config, func() int, func() []string) {
	t.Helper()
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	var agents []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, BearerToken: "token", QPS: -1}
	return cfg, func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(open)
		}, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), agents...)
		}
}

// A driver's connection pools are its own: four at New and one per router built, made once,
// and none of them an entry of client-go's transport cache, which keeps every entry for the
// life of the process. Pools made by client-go from configs with a dialer of their own, as
// the driver made them before, added one entry each; clients made each from such a config
// (the SMI clientsets build one transport per version and group) 15 a driver.
func TestDriversLeaveNothingInClientGosTransportCache(t *testing.T) {
	registerCacheCalls.Do(func() { metrics.Register(metrics.RegisterOpts{TransportCreateCalls: cacheCalls}) })
	cfg, _, _ := tlsServer(t)
	made := func() int { return cacheCalls.get("miss") + cacheCalls.get("uncacheable") }
	for range 3 {
		before := made()
		d, err := New(Options{Config: cfg})
		require.NoError(t, err)
		assert.Equal(t, 4, d.conns.pools(), "pools made by New")
		for range 2 {
			for _, kind := range []flagger.RouterKind{flagger.RouterSMI, flagger.RouterHTTPRoute, flagger.RouterIstio} {
				_, err := d.routers.shared(flagger.Router{Kind: kind})
				require.NoError(t, err, kind)
			}
		}
		assert.Equal(t, 7, d.conns.pools(), "pools with three routers, each built once")
		assert.Zero(t, made()-before, "transports client-go made, and kept")
		d.Close()
	}
}

// A client certificate named by file is read again when the files change: the connections
// made with the one before are closed, and the next request presents the new one.
func TestClientCertificateFileRotated(t *testing.T) {
	defer func(d time.Duration) { certRecheck = d }(certRecheck)
	certRecheck = 0 // before every request
	ca := testcerts.NewCA(t)
	var mu sync.Mutex
	var names []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		names = append(names, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	conns := countConnections(srv)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	issue := func(cn string) {
		cert, key := ca.IssueClient(t, cn)
		require.NoError(t, os.WriteFile(certFile, cert, 0o600))
		require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	}
	issue("first")
	d, err := New(Options{Config: &rest.Config{Host: srv.URL, QPS: -1, TLSClientConfig: rest.TLSClientConfig{
		CAData:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
		CertFile: certFile, KeyFile: keyFile}}})
	require.NoError(t, err)
	defer d.Close()
	get := func() {
		_, err := d.Client().CoreV1().Services("ns").Get(t.Context(), "podinfo", metav1.GetOptions{})
		require.True(t, apierrors.IsNotFound(err), "%v", err)
	}
	state := func() ([]string, int) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names), conns()
	}
	for range 3 {
		get()
	}
	got, n := state()
	require.Equal(t, []string{"first", "first", "first"}, got)
	require.Equal(t, 1, n, "one connection while the certificate is the same")

	issue("second")
	// client-go's loader reads the files again once its copy is a second old
	require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) {
			get()
			got, _ := state()
			return got[len(got)-1] == "second", nil
		}), "the next request presents the certificate rotated on disk")
	get()
	got, n = state()
	assert.Equal(t, "second", got[len(got)-1])
	assert.Equal(t, 2, n, "the connection made with the first certificate closed, one made with the second")
}

// Each of the driver's clients, on its connection, sends client-go's user agent (the one an
// embedder's config names otherwise), and Close closes the connections they opened.
func TestClientsOnTheirConnections(t *testing.T) {
	cfg, open, agents := tlsServer(t)
	d, err := New(Options{Config: cfg})
	require.NoError(t, err)
	ctx := t.Context()
	_, err = d.Client().CoreV1().Services("ns").Get(ctx, "podinfo", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "%v", err)
	_, err = restCanaries{client: d.canaries, namespace: "ns"}.get(ctx, "podinfo")
	require.True(t, apierrors.IsNotFound(err), "%v", err)
	_, err = d.dyn.Resource(CanaryGVR).Namespace("ns").Get(ctx, "podinfo", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "%v", err)
	hc, err := d.conns.open(d.config, requestPool)
	require.NoError(t, err)
	split, err := newSplitClients(d.config, hc, d.client.Discovery())
	require.NoError(t, err)
	_, err = split.SplitV1alpha2().TrafficSplits("ns").Get(ctx, "podinfo", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "%v", err)
	require.Equal(t, 4, open(), "a connection for each client")
	got := agents()
	require.Len(t, got, 4)
	for _, a := range got {
		assert.Equal(t, rest.DefaultKubernetesUserAgent(), a)
	}
	d.Close()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return open() == 0, nil }), "%d connections left open", open())
}

// The clients of custom resources speak JSON even when the embedder's config names protobuf
// (which their typed clients cannot encode, and the API server does not serve for them).
func TestCustomResourceClientsSpeakJSON(t *testing.T) {
	rec := &headerRecorder{}
	d, err := New(Options{Config: &rest.Config{Host: "https://apiserver.invalid", Transport: rec, QPS: -1,
		ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeProtobuf}}})
	require.NoError(t, err)
	defer d.Close()
	hc, err := d.conns.open(d.config, requestPool)
	require.NoError(t, err)
	split, err := newSplitClients(d.config, hc, d.client.Discovery())
	require.NoError(t, err)
	_, err = split.SplitV1alpha2().TrafficSplits("ns").Create(t.Context(), &splitv1alpha2.TrafficSplit{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo"}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsNotFound(err), "the request was sent: %v", err)
	assert.Equal(t, []string{runtime.ContentTypeJSON}, rec.contentType)
}

// A router that cannot be built keeps no connection, and is not tried again: each try would
// otherwise open a pool.
func TestFailedRouterKeepsNoConnection(t *testing.T) {
	cfg, _, _ := tlsServer(t)
	d, err := New(Options{Config: cfg})
	require.NoError(t, err)
	defer d.Close()
	before := d.conns.pools()
	for range 3 {
		_, err := d.routers.shared(flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v9"})
		require.ErrorContains(t, err, `Version "v9"`)
	}
	assert.Equal(t, before, d.conns.pools())
}

// A burst of requests on a pool with no connection yet (every target starting at once) opens
// one connection, not one per request: the first request goes alone, and the HTTP/2
// connection it made carries the others once it has had its answer. A request waiting its turn
// ends with its context.
func TestFirstRequestsOfAPoolShareOneConnection(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	srv.EnableHTTP2 = true
	conns := countConnections(srv)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: -1}
	cs := &connections{}
	defer cs.closeIdle()
	for _, pool := range []bool{requestPool, watchPool} {
		hc, err := cs.open(cfg, pool)
		require.NoError(t, err)
		before := conns()
		const n = 64
		codes := make([]int, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := hc.Get(srv.URL + "/api/v1/namespaces/ns/services/podinfo")
				if errs[i] = err; err == nil {
					codes[i] = resp.StatusCode
					_ = resp.Body.Close()
				}
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, http.StatusNotFound, codes[i])
		}
		assert.Equal(t, 1, conns()-before, "one connection for the burst (watches pool: %v)", pool)
	}

	f := &firstConn{next: http.DefaultTransport, busy: make(chan struct{})} // a first request in flight
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	_, err = f.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled, "a request waiting its turn ends with its context")
}
