package testenv

import (
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// SMI API groups.
const (
	SMISplitGroup = "split.smi-spec.io"
	SMISpecsGroup = "specs.smi-spec.io"
)

// LinkerdSMIVersions returns the TrafficSplit versions the linkerd-smi extension serves; the
// first is the storage version.
func LinkerdSMIVersions() []string { return []string{"v1alpha1", "v1alpha2"} }

// TrafficSplitCRD returns the SMI TrafficSplit CRD serving versions, the first of them being
// the storage version; with no versions it is the CRD as linkerd-smi ships it (v1alpha1 stored,
// v1alpha2 served, no conversion: the apiserver only rewrites apiVersion). Shapes per version:
//
//	v1alpha1            backends[].weight is a quantity ("50", "500m" or 50)
//	v1alpha2            backends[].weight is an integer
//	v1alpha3, v1alpha4  integer weights, plus matches[] (references to HTTPRouteGroups)
//
// It panics on a version SMI does not define.
func TrafficSplitCRD(versions ...string) *apiextensionsv1.CustomResourceDefinition {
	if len(versions) == 0 {
		versions = LinkerdSMIVersions()
	}
	return smiCRD(SMISplitGroup, "TrafficSplit", "trafficsplits", []string{"ts"}, versions, trafficSplitSchema,
		[]apiextensionsv1.CustomResourceColumnDefinition{{Name: "Service", Type: "string", JSONPath: ".spec.service"}})
}

// HTTPRouteGroupCRD returns the SMI HTTPRouteGroup CRD (the route matches TrafficSplit
// v1alpha3 and later refer to) serving versions, the first being the storage version; with
// none, v1alpha4 (stored) and v1alpha3. It panics on a version SMI does not define.
func HTTPRouteGroupCRD(versions ...string) *apiextensionsv1.CustomResourceDefinition {
	if len(versions) == 0 {
		versions = []string{"v1alpha4", "v1alpha3"}
	}
	return smiCRD(SMISpecsGroup, "HTTPRouteGroup", "httproutegroups", []string{"htr"}, versions, httpRouteGroupSchema, nil)
}

func smiCRD(group, kind, plural string, short, versions []string, schemaFor func(string) apiextensionsv1.JSONSchemaProps,
	columns []apiextensionsv1.CustomResourceColumnDefinition) *apiextensionsv1.CustomResourceDefinition {
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind: kind, ListKind: kind + "List", Plural: plural, Singular: strings.ToLower(kind), ShortNames: short,
			},
			Scope:      apiextensionsv1.NamespaceScoped,
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter},
		},
	}
	for i, v := range versions {
		if !slices.Contains([]string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"}, v) {
			panic(fmt.Sprintf("testenv: SMI %s has no version %q", kind, v))
		}
		schema := schemaFor(v)
		crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{
			Name: v, Served: true, Storage: i == 0,
			Schema:                   &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &schema},
			AdditionalPrinterColumns: columns,
		})
	}
	return crd
}

// quantityPattern accepts a Kubernetes resource quantity: a decimal with an optional binary or
// decimal suffix or exponent.
const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

// trafficSplitSchema is the OpenAPI schema of a TrafficSplit at version v.
func trafficSplitSchema(v string) apiextensionsv1.JSONSchemaProps {
	weight := apiextensionsv1.JSONSchemaProps{Type: "integer", Minimum: ptr.To(0.0)}
	if v == "v1alpha1" {
		weight = apiextensionsv1.JSONSchemaProps{
			AnyOf:        []apiextensionsv1.JSONSchemaProps{{Type: "integer"}, {Type: "string"}},
			Pattern:      quantityPattern,
			XIntOrString: true,
		}
	}
	spec := object(map[string]apiextensionsv1.JSONSchemaProps{
		"service": stringProp("the root service that clients use to communicate"),
		"backends": array(object(map[string]apiextensionsv1.JSONSchemaProps{
			"service": stringProp("name of a Kubernetes service"),
			"weight":  weight,
		}, "service", "weight")),
	}, "service", "backends")
	if v == "v1alpha3" || v == "v1alpha4" {
		spec.Properties["matches"] = array(object(map[string]apiextensionsv1.JSONSchemaProps{
			"kind":     stringProp("kind of the route group, e.g. HTTPRouteGroup"),
			"name":     stringProp("name of the route group"),
			"apiGroup": stringProp("API group of the route group"),
		}, "kind", "name"))
	}
	return topLevel(spec)
}

// httpRouteGroupSchema is the OpenAPI schema of an HTTPRouteGroup at version v.
func httpRouteGroupSchema(string) apiextensionsv1.JSONSchemaProps {
	anything := apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: ptr.To(true)}
	match := object(map[string]apiextensionsv1.JSONSchemaProps{
		"name":      stringProp("name of the match, referred to by TrafficSplit matches"),
		"methods":   array(apiextensionsv1.JSONSchemaProps{Type: "string"}),
		"pathRegex": stringProp("regular expression the request path must match"),
		"headers":   anything,
	}, "name")
	return topLevel(object(map[string]apiextensionsv1.JSONSchemaProps{"matches": array(match)}))
}

// topLevel wraps a spec schema into an object schema with apiVersion, kind and metadata.
func topLevel(spec apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
	return object(map[string]apiextensionsv1.JSONSchemaProps{
		"apiVersion": {Type: "string"},
		"kind":       {Type: "string"},
		"metadata":   {Type: "object"},
		"spec":       spec,
	}, "spec")
}

func object(props map[string]apiextensionsv1.JSONSchemaProps, required ...string) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props, Required: required}
}

func array(items apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &items}}
}

func stringProp(description string) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "string", Description: description}
}
