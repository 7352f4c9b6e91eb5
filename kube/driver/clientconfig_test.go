package driver

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// headerRecorder answers 404 to everything and records the Accept header of each request.
type headerRecorder struct {
	mu     sync.Mutex
	accept []string
}

func (h *headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.accept = append(h.accept, req.Header.Get("Accept"))
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
