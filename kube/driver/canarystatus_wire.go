package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	return resultBody(r.client.Get().Namespace(r.namespace).Resource(CanaryGVR.Resource).Name(name).Do(ctx))
}

func (r restCanaries) putStatus(ctx context.Context, name string, status []byte) ([]byte, error) {
	return resultBody(r.client.Put().Namespace(r.namespace).Resource(CanaryGVR.Resource).Name(name).SubResource("status").
		SetHeader("Content-Type", jsonType).Body(status).Do(ctx))
}

// resultBody is res's body, or the API server's Status as an error: Raw alone returns an
// error made from the status code, without the Status's message and causes (the field a
// rejected status names).
func resultBody(res rest.Result) ([]byte, error) {
	if err := res.Error(); err != nil {
		return nil, err
	}
	return res.Raw()
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

// canaryWire is what a status update sends besides the status: the Canary's identity and the
// resourceVersion it was read at. The API server takes nothing else from an update of the
// status subresource (it keeps the stored object's spec and metadata), so the store keeps
// nothing else of the Canary between requests.
type canaryWire struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   canaryMeta `json:"metadata"`
}

// canaryMeta is the part of a Canary's metadata a status update carries: its name and
// namespace, its uid (an object created again under the name is not written to) and the
// resourceVersion the write is conditional on.
type canaryMeta struct {
	Name            string `json:"name"`
	Namespace       string `json:"namespace,omitempty"`
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion"`
}

// canaryRead is a Canary as read from the API server: the status apart, the spec and the rest
// of the metadata skipped.
type canaryRead struct {
	canaryWire
	Status json.RawMessage `json:"status,omitempty"`
}

// canaryState is a Canary as a CanaryStore keeps it between requests: what a status update
// sends besides the status, the status as the API server sent it, and what the store reads of
// it. The status is kept as bytes, not as the JSON values (maps, lists) a save edits: at 1,000
// targets those took 5 MB of the live heap.
type canaryState struct {
	wire   canaryWire
	status json.RawMessage // .status; nil when absent
	read   bool            // fields and bad are set: .status is decoded when first read
	fields flaggerStatus   // what the store reads of .status (decodeStatusValue)
	bad    error           // why .status could not be read, if it could not
}

// parseCanary decodes a Canary's JSON; errors name the field. A status that is JSON but not
// one the store can read is kept, with the reason (canaryState.decoded).
func parseCanary(raw []byte) (*canaryState, error) {
	var r canaryRead
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decoding the object: %w", err)
	}
	if r.Metadata.ResourceVersion == "" {
		return nil, errors.New(".metadata.resourceVersion: missing")
	}
	o := &canaryState{wire: r.canaryWire}
	if len(r.Status) > 0 && string(r.Status) != "null" {
		o.status = r.Status // valid JSON (Unmarshal checked it): decoded when first read
	}
	return o, nil
}

// version is the Canary's resourceVersion as read.
func (o *canaryState) version() string { return o.wire.Metadata.ResourceVersion }

// decoded is what the store reads of o's status, or why it cannot be read.
func (o *canaryState) decoded() (flaggerStatus, error) {
	if !o.read {
		_, _ = o.edit()
	}
	return o.fields, o.bad
}

// edit is o's status as JSON values, a new value a save may change, with what decoded reads
// taken from the same decoding the first time: a save decodes the status of the answer to
// the save before it once, not once to read it and once to change it.
func (o *canaryState) edit() (any, error) {
	value, err := o.statusValue()
	if !o.read {
		o.read = true
		if err != nil {
			o.bad = err
		} else {
			o.fields, o.bad = decodeStatusValue(value) // copies what it keeps
		}
	}
	return value, err
}

// statusValue is o's status as JSON values (nil when it has none): a new value at each call,
// for a change that must leave o as it is.
func (o *canaryState) statusValue() (any, error) {
	if o.status == nil {
		return nil, nil
	}
	var v any
	if err := utiljson.Unmarshal(o.status, &v); err != nil {
		return nil, fmt.Errorf(".status: %w", err)
	}
	return v, nil
}

// body is the status update of o with status in place of its own.
func (o *canaryState) body(status any) ([]byte, error) {
	return json.Marshal(struct {
		canaryWire
		Status any `json:"status,omitempty"`
	}{o.wire, status})
}
