package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// canaryObject is a Canary as the controller's informer decodes and caches it: the metadata
// typed but for its managedFields (skipped: no handler reads them, and they are a large share
// of the object), the spec kept as the JSON it came in (decoded by kube/flagger only when a
// Target is started or updated from it), and of the status only what the self-metrics show.
// The echo of every status write the driver makes costs one decoding of the object into these
// fields, not a tree of maps.
type canaryObject struct {
	metav1.TypeMeta `json:",inline"`
	canaryMeta      `json:"metadata,omitempty"`
	Spec            json.RawMessage `json:"spec,omitempty"`
	Status          statusFields    `json:"status"`
}

// canaryMeta is a Canary's metadata without its managedFields: the field of that name here
// hides ObjectMeta's from the JSON decoder, which skips the value instead of decoding each
// entry (its time, its field set) to have it dropped.
type canaryMeta struct {
	metav1.ObjectMeta
	ManagedFields skipped `json:"managedFields,omitempty"`
}

// skipped is a JSON value read past and never kept; it encodes as null.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

func (skipped) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// statusFields is what the self-metrics show of a Canary's status (savedStatus); ok is false
// when the status is absent or not one.
type statusFields struct {
	st canary.Status
	ok bool
}

// UnmarshalJSON reads the status; a status that is not one is absent, never an error (the
// Canary's spec and metadata are still taken).
func (f *statusFields) UnmarshalJSON(raw []byte) error {
	f.st, f.ok = savedStatus(raw)
	return nil
}

// canaryList is a page of a Canary list.
type canaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []canaryObject `json:"items"`
}

func (o *canaryObject) DeepCopyObject() runtime.Object {
	c := *o
	o.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.Spec = bytes.Clone(o.Spec)
	return &c
}

func (l *canaryList) DeepCopyObject() runtime.Object {
	c := *l
	l.ListMeta.DeepCopyInto(&c.ListMeta)
	c.Items = make([]canaryObject, len(l.Items))
	for i := range l.Items {
		c.Items[i] = *l.Items[i].DeepCopyObject().(*canaryObject)
	}
	return &c
}

// object is the Canary as JSON values (maps, lists, strings, int64, float64, bools), for
// flagger.CanaryFromObject; without its status, which loading does not read. The apiVersion
// and kind are Flagger's Canary's (the informer holds no other).
func (o *canaryObject) object() (map[string]any, error) {
	raw, err := json.Marshal(struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata,omitempty"`
		Spec              json.RawMessage `json:"spec,omitempty"`
	}{metav1.TypeMeta{APIVersion: canaryGV.String(), Kind: "Canary"}, o.ObjectMeta, o.Spec})
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("decoding the object: %w", err)
	}
	return obj, nil
}

// CanaryClient is a REST client of Flagger's Canaries on cfg that decodes them as the
// controller's informer keeps them (canaryCodec).
func CanaryClient(cfg *rest.Config) (rest.Interface, error) {
	c := rest.CopyConfig(cfg)
	gv := canaryGV
	c.GroupVersion, c.APIPath = &gv, "/apis"
	c.ContentType, c.AcceptContentTypes = runtime.ContentTypeJSON, runtime.ContentTypeJSON
	c.NegotiatedSerializer = canaryCodecs{}
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientFor(c)
}

// canaryInformer lists and watches the Canaries of namespace ("" every namespace) with client
// (a CanaryClient). Its objects are *canaryObject, without their managedFields.
func canaryInformer(client rest.Interface, namespace string) (cache.SharedIndexInformer, error) {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &canaryList{}
			err := client.Get().Namespace(namespace).Resource(driver.CanaryGVR.Resource).
				VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(list)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch = true
			return client.Get().Namespace(namespace).Resource(driver.CanaryGVR.Resource).
				VersionedParams(&opts, metav1.ParameterCodec).Watch(ctx)
		},
	}
	return cache.NewSharedIndexInformer(lw, &canaryObject{}, 0, cache.Indexers{}), nil
}

// statusOnly reports whether two versions of a Canary differ at most in their status,
// resourceVersion and managedFields.
func statusOnly(a, b *canaryObject) bool {
	if a.TypeMeta != b.TypeMeta || !bytes.Equal(a.Spec, b.Spec) {
		return false
	}
	ma, mb := a.ObjectMeta, b.ObjectMeta // shallow copies, to blank the fields not compared
	ma.ResourceVersion, mb.ResourceVersion = "", ""
	ma.ManagedFields, mb.ManagedFields = nil, nil // set by no decoding, but compared without
	return reflect.DeepEqual(ma, mb)
}

// savedStatus reads the fields of a Canary's status the self-metrics show: the phase, the
// canary weight and the failed checks. A status that is not an object, lacks the phase, or
// holds values of another type or out of range is not a status.
func savedStatus(raw []byte) (canary.Status, bool) {
	var st struct {
		Phase        *string `json:"phase"`
		CanaryWeight int64   `json:"canaryWeight"`
		FailedChecks int64   `json:"failedChecks"`
	}
	if len(raw) == 0 || raw[0] != '{' || utiljson.Unmarshal(raw, &st) != nil || st.Phase == nil {
		return canary.Status{}, false
	}
	phase, weight, failed := *st.Phase, st.CanaryWeight, st.FailedChecks
	if phase == "" || len(phase) > 32 || weight < 0 || weight > 100 || failed < 0 || failed > 1<<20 {
		return canary.Status{}, false
	}
	return canary.Status{Phase: canary.Phase(phase), CanaryWeight: int(weight), FailedChecks: int(failed)}, true
}
