package testenv

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// MetricTemplateCRD returns Flagger's MetricTemplate CRD (flagger.app/v1beta1, namespaced) with
// the spec fields Flagger's own CRD declares for it: provider (type, address, secretRef,
// insecureSkipVerify, region, headers) and query. A cluster that ran Flagger has it.
func MetricTemplateCRD() *apiextensionsv1.CustomResourceDefinition {
	provider := object(map[string]apiextensionsv1.JSONSchemaProps{
		"type":               {Type: "string", Enum: enum("prometheus", "influxdb", "datadog", "cloudwatch", "newrelic", "graphite", "stackdriver", "dynatrace", "keptn", "splunk")},
		"address":            stringProp("API address of the provider"),
		"secretRef":          object(map[string]apiextensionsv1.JSONSchemaProps{"name": stringProp("Secret in the template's namespace")}, "name"),
		"insecureSkipVerify": {Type: "boolean"},
		"region":             stringProp("region of the provider (CloudWatch)"),
		"headers":            {Type: "object", XPreserveUnknownFields: ptr.To(true)},
	}, "type")
	spec := object(map[string]apiextensionsv1.JSONSchemaProps{
		"provider": provider,
		"query":    stringProp("query template"),
	}, "provider", "query")
	return flaggerCRD("MetricTemplate", "metrictemplates", "metrictemplate", topLevel(spec))
}

// AlertProviderCRD returns Flagger's AlertProvider CRD (flagger.app/v1beta1, namespaced) with
// the spec fields Flagger's own CRD declares for it.
func AlertProviderCRD() *apiextensionsv1.CustomResourceDefinition {
	ref := object(map[string]apiextensionsv1.JSONSchemaProps{"name": stringProp("Secret in the provider's namespace")}, "name")
	spec := object(map[string]apiextensionsv1.JSONSchemaProps{
		"type":          {Type: "string", Enum: enum("slack", "msteams", "discord", "rocket", "gchat")},
		"channel":       stringProp("alert channel"),
		"username":      stringProp("bot user name"),
		"address":       stringProp("webhook address"),
		"proxy":         stringProp("HTTP(S) proxy"),
		"secretRef":     ref,
		"certSecretRef": ref,
	}, "type")
	schema := topLevel(spec)
	return flaggerCRD("AlertProvider", "alertproviders", "alertprovider", schema)
}

func flaggerCRD(kind, plural, singular string, schema apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + ".flagger.app"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "flagger.app",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: singular},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1beta1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &schema}}},
		},
	}
}

func enum(values ...string) []apiextensionsv1.JSON {
	out := make([]apiextensionsv1.JSON, len(values))
	for i, v := range values {
		out[i] = apiextensionsv1.JSON{Raw: []byte(`"` + v + `"`)}
	}
	return out
}
