package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// canaryAPI reads one namespace's Canary objects and writes their status subresource, in
// JSON: a CanaryStore decodes only the resourceVersion and the status of what it reads.
type canaryAPI interface {
	get(ctx context.Context, name string) ([]byte, error)
	// putStatus is an update of the status subresource (PUT .../canaries/name/status).
	putStatus(ctx context.Context, name string, body []byte) ([]byte, error)
}

const jsonType = "application/json"

// canaryClient is a REST client for Flagger's Canaries on cfg and hc (nil: client-go's own
// for cfg), speaking JSON.
func canaryClient(cfg *rest.Config, hc *http.Client) (rest.Interface, error) {
	c := dynamic.ConfigFor(cfg) // the dynamic client's decoding of errors
	c.ContentType, c.AcceptContentTypes = jsonType, jsonType
	gv := CanaryGVR.GroupVersion()
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	if hc == nil {
		return rest.RESTClientFor(c)
	}
	return rest.RESTClientForConfigAndClient(c, hc)
}

// restCanaries is canaryAPI over a REST client: the bodies are read and written as they are.
type restCanaries struct {
	client    rest.Interface
	namespace string
}

func (r restCanaries) get(ctx context.Context, name string) ([]byte, error) {
	return r.client.Get().Namespace(r.namespace).Resource(CanaryGVR.Resource).Name(name).Do(ctx).Raw()
}

func (r restCanaries) putStatus(ctx context.Context, name string, body []byte) ([]byte, error) {
	return r.client.Put().Namespace(r.namespace).Resource(CanaryGVR.Resource).Name(name).SubResource("status").
		SetHeader("Content-Type", jsonType).Body(body).Do(ctx).Raw()
}

// dynCanaries is canaryAPI over a dynamic client (LoadCanaryStatus's reads).
type dynCanaries struct{ res dynamic.ResourceInterface }

func (d dynCanaries) get(ctx context.Context, name string) ([]byte, error) {
	u, err := d.res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return u.MarshalJSON()
}

func (d dynCanaries) putStatus(ctx context.Context, _ string, body []byte) ([]byte, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(body); err != nil {
		return nil, err
	}
	updated, err := d.res.UpdateStatus(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return updated.MarshalJSON()
}

// canaryWire is a Canary as read from the API server: what a status update sends back
// (apiVersion, kind, metadata, spec) kept as it came, the status to decode.
type canaryWire struct {
	APIVersion string                     `json:"apiVersion"`
	Kind       string                     `json:"kind"`
	Metadata   map[string]json.RawMessage `json:"metadata"`
	Spec       json.RawMessage            `json:"spec,omitempty"`
	Status     json.RawMessage            `json:"status,omitempty"`
}

// canaryState is a Canary as a CanaryStore keeps it between requests: its resourceVersion,
// its status decoded (JSON values: maps, lists, strings, int64, float64, bools) and the
// rest to send back with a new status. The metadata's managedFields are left out: the API
// server keeps the live object's when an update carries none.
type canaryState struct {
	version string
	wire    canaryWire // Status unset
	status  any        // .status; nil when absent
}

// parseCanary decodes a Canary's JSON; errors name the field.
func parseCanary(raw []byte) (*canaryState, error) {
	var w canaryWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("decoding the object: %w", err)
	}
	o := &canaryState{}
	if v, ok := w.Metadata["resourceVersion"]; ok {
		if err := json.Unmarshal(v, &o.version); err != nil {
			return nil, fmt.Errorf(".metadata.resourceVersion: %w", err)
		}
	}
	if o.version == "" {
		return nil, errors.New(".metadata.resourceVersion: missing")
	}
	delete(w.Metadata, "managedFields")
	if len(w.Status) > 0 && string(w.Status) != "null" {
		if err := utiljson.Unmarshal(w.Status, &o.status); err != nil {
			return nil, fmt.Errorf(".status: %w", err)
		}
	}
	w.Status = nil
	o.wire = w
	return o, nil
}

// statusCopy is a deep copy of o's status, for a change that must leave o as it is.
func (o *canaryState) statusCopy() any {
	if o.status == nil {
		return nil
	}
	return runtime.DeepCopyJSONValue(o.status)
}

// body is the status update of o with status in place of its own.
func (o *canaryState) body(status any) ([]byte, error) {
	return json.Marshal(struct {
		canaryWire
		Status any `json:"status,omitempty"`
	}{o.wire, status})
}
