package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/canarykit/canarykit/kube/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// canaryGV is the group and version of Flagger's Canary.
var canaryGV = driver.CanaryGVR.GroupVersion()

// canaryCodecs is the CanaryClient's serializer: JSON only, no conversion, and objects of
// unknown type decoded in one pass as a canaryObject (a Status when the API server answers
// with one). The stock JSON serializer reads every object twice (once for its kind, once into
// its type); the controller's informer decodes the echo of every status write, so once is what
// it pays.
type canaryCodecs struct{}

func (canaryCodecs) SupportedMediaTypes() []runtime.SerializerInfo {
	return []runtime.SerializerInfo{{
		MediaType: runtime.ContentTypeJSON, MediaTypeType: "application", MediaTypeSubType: "json",
		EncodesAsText: true, Serializer: canaryCodec{},
		StreamSerializer: &runtime.StreamSerializerInfo{EncodesAsText: true, Serializer: canaryCodec{}, Framer: jsonserializer.Framer},
	}}
}

func (canaryCodecs) EncoderForVersion(e runtime.Encoder, _ runtime.GroupVersioner) runtime.Encoder {
	return e
}

func (canaryCodecs) DecoderToVersion(d runtime.Decoder, _ runtime.GroupVersioner) runtime.Decoder {
	return d
}

// canaryCodec decodes JSON into the object given, or, given none, into a canaryObject (a
// CanaryList, or a metav1.Status, by the kind read).
type canaryCodec struct{}

func (canaryCodec) Decode(data []byte, _ *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if into != nil {
		if err := utiljson.Unmarshal(data, into); err != nil {
			return nil, nil, err
		}
		gvk := into.GetObjectKind().GroupVersionKind()
		return into, &gvk, nil
	}
	o := &canaryObject{}
	if err := utiljson.Unmarshal(data, o); err != nil {
		return nil, nil, err
	}
	var out runtime.Object
	switch o.Kind {
	case "Canary", "":
		return o, &schema.GroupVersionKind{Group: canaryGV.Group, Version: canaryGV.Version, Kind: "Canary"}, nil
	case "CanaryList":
		out = &canaryList{}
	case "Status":
		out = &metav1.Status{}
	default:
		return nil, nil, fmt.Errorf("decoding a Canary: unexpected kind %q (apiVersion %q)", o.Kind, o.APIVersion)
	}
	if err := utiljson.Unmarshal(data, out); err != nil {
		return nil, nil, err
	}
	gvk := out.GetObjectKind().GroupVersionKind()
	return out, &gvk, nil
}

func (canaryCodec) Encode(obj runtime.Object, w io.Writer) error {
	return json.NewEncoder(w).Encode(obj)
}

func (canaryCodec) Identifier() runtime.Identifier { return "canarykit-canary-json" }
