package driver

import (
	"net/http"

	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	specsscheme "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/scheme"
	specsv1alpha1 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/typed/specs/v1alpha1"
	specsv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/typed/specs/v1alpha2"
	specsv1alpha3 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/typed/specs/v1alpha3"
	specsv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/typed/specs/v1alpha4"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	splitscheme "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/scheme"
	splitv1alpha1 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/typed/split/v1alpha1"
	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/typed/split/v1alpha2"
	splitv1alpha3 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/typed/split/v1alpha3"
	splitv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/typed/split/v1alpha4"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// The SMI clientsets (smi-sdk-go v0.5.0) build their REST clients only from a config, each
// with a transport of its own (NewForConfig): these make them on a connection of the
// driver's (connections), one REST client per version, as their constructors set them up.

// smiREST is a REST client of group version gv on cfg and hc.
func smiREST(cfg *rest.Config, hc *http.Client, group, version string, codecs serializer.CodecFactory) (rest.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &schema.GroupVersion{Group: group, Version: version}
	c.APIPath = "/apis"
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientForConfigAndClient(c, hc)
}

// smiVersions are the REST clients of a group's versions v1alpha1 to v1alpha4.
func smiVersions(cfg *rest.Config, hc *http.Client, group string, codecs serializer.CodecFactory) ([4]rest.Interface, error) {
	var rcs [4]rest.Interface
	for i, v := range []string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"} {
		rc, err := smiREST(cfg, hc, group, v, codecs)
		if err != nil {
			return rcs, err
		}
		rcs[i] = rc
	}
	return rcs, nil
}

// splitClients is splitclient.Interface over one connection.
type splitClients struct {
	discovery discovery.DiscoveryInterface
	v1        *splitv1alpha1.SplitV1alpha1Client
	v2        *splitv1alpha2.SplitV1alpha2Client
	v3        *splitv1alpha3.SplitV1alpha3Client
	v4        *splitv1alpha4.SplitV1alpha4Client
}

var _ splitclient.Interface = (*splitClients)(nil)

func newSplitClients(cfg *rest.Config, hc *http.Client, disc discovery.DiscoveryInterface) (*splitClients, error) {
	rcs, err := smiVersions(cfg, hc, "split.smi-spec.io", splitscheme.Codecs)
	if err != nil {
		return nil, err
	}
	return &splitClients{discovery: disc, v1: splitv1alpha1.New(rcs[0]), v2: splitv1alpha2.New(rcs[1]),
		v3: splitv1alpha3.New(rcs[2]), v4: splitv1alpha4.New(rcs[3])}, nil
}

func (s *splitClients) Discovery() discovery.DiscoveryInterface             { return s.discovery }
func (s *splitClients) SplitV1alpha1() splitv1alpha1.SplitV1alpha1Interface { return s.v1 }
func (s *splitClients) SplitV1alpha2() splitv1alpha2.SplitV1alpha2Interface { return s.v2 }
func (s *splitClients) SplitV1alpha3() splitv1alpha3.SplitV1alpha3Interface { return s.v3 }
func (s *splitClients) SplitV1alpha4() splitv1alpha4.SplitV1alpha4Interface { return s.v4 }

// specsClients is specsclient.Interface over one connection.
type specsClients struct {
	discovery discovery.DiscoveryInterface
	v1        *specsv1alpha1.SpecsV1alpha1Client
	v2        *specsv1alpha2.SpecsV1alpha2Client
	v3        *specsv1alpha3.SpecsV1alpha3Client
	v4        *specsv1alpha4.SpecsV1alpha4Client
}

var _ specsclient.Interface = (*specsClients)(nil)

func newSpecsClients(cfg *rest.Config, hc *http.Client, disc discovery.DiscoveryInterface) (*specsClients, error) {
	rcs, err := smiVersions(cfg, hc, "specs.smi-spec.io", specsscheme.Codecs)
	if err != nil {
		return nil, err
	}
	return &specsClients{discovery: disc, v1: specsv1alpha1.New(rcs[0]), v2: specsv1alpha2.New(rcs[1]),
		v3: specsv1alpha3.New(rcs[2]), v4: specsv1alpha4.New(rcs[3])}, nil
}

func (s *specsClients) Discovery() discovery.DiscoveryInterface             { return s.discovery }
func (s *specsClients) SpecsV1alpha1() specsv1alpha1.SpecsV1alpha1Interface { return s.v1 }
func (s *specsClients) SpecsV1alpha2() specsv1alpha2.SpecsV1alpha2Interface { return s.v2 }
func (s *specsClients) SpecsV1alpha3() specsv1alpha3.SpecsV1alpha3Interface { return s.v3 }
func (s *specsClients) SpecsV1alpha4() specsv1alpha4.SpecsV1alpha4Interface { return s.v4 }
