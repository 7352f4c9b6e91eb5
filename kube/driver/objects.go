package driver

import (
	"context"
	"fmt"

	"github.com/canarykit/canarykit/kube/flagger"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Flagger's custom resources a Canary refers to.
const (
	flaggerGroup   = "flagger.app"
	flaggerVersion = "v1beta1"
)

// MetricTemplates and AlertProviders are the resources of Flagger's MetricTemplate and
// AlertProvider kinds.
func MetricTemplates() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: flaggerGroup, Version: flaggerVersion, Resource: "metrictemplates"}
}

// AlertProviders is the resource of Flagger's AlertProvider kind.
func AlertProviders() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: flaggerGroup, Version: flaggerVersion, Resource: "alertproviders"}
}

// ClusterObjects reads MetricTemplates and AlertProviders from the cluster (Flagger's CRDs,
// which a cluster that ran Flagger has). It needs "get" on them in their namespaces
// (kube.FlaggerRBAC()).
func ClusterObjects(client dynamic.Interface) flagger.Source {
	return clusterObjects{client: client}
}

type clusterObjects struct{ client dynamic.Interface }

func (c clusterObjects) MetricTemplate(ctx context.Context, namespace, name string) (*flagger.MetricTemplate, error) {
	return getDecoded(ctx, c.client, MetricTemplates(), "MetricTemplate", namespace, name, flagger.MetricTemplateFromObject)
}

func (c clusterObjects) AlertProvider(ctx context.Context, namespace, name string) (*flagger.AlertProvider, error) {
	return getDecoded(ctx, c.client, AlertProviders(), "AlertProvider", namespace, name, flagger.AlertProviderFromObject)
}

func getDecoded[T any](ctx context.Context, client dynamic.Interface, gvr schema.GroupVersionResource, kind, namespace, name string,
	decode func(map[string]any) (*T, error)) (*T, error) {
	u, err := client.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: %s %s/%s is not in the cluster (or the %s.%s CRD is not installed): %v",
			flagger.ErrNotFound, kind, namespace, name, gvr.Resource, gvr.Group, err)
	case err != nil:
		return nil, fmt.Errorf("get %s %s/%s: %w", kind, namespace, name, err)
	}
	v, err := decode(u.Object)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", kind, namespace, name, err)
	}
	return v, nil
}

// secretData reads a Secret a Flagger object refers to (spec.provider.secretRef of a
// MetricTemplate, spec.secretRef of an AlertProvider), in the object's namespace.
func secretData(ctx context.Context, client kubernetes.Interface, kind, namespace, name, field, secret string) (map[string][]byte, error) {
	s, err := client.CoreV1().Secrets(namespace).Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %s: %w", kind, namespace, name, field, err)
	}
	return s.Data, nil
}

// withSecret returns the provider with its secretRef applied (Address, Proxy) and the token
// the Secret holds, if any. Without a secretRef it returns p unchanged. A token goes only to
// the address kept beside it in the Secret (or, for a Slack token without one, to Slack's own
// API): a Secret with a token but no address is refused while spec.address is set, where
// Flagger sends nothing, so that whoever writes the AlertProvider cannot send a Secret's token
// where they like.
func withSecret(ctx context.Context, client kubernetes.Interface, p flagger.AlertProvider) (flagger.AlertProvider, string, error) {
	if p.SecretRef == "" {
		return p, "", nil
	}
	data, err := secretData(ctx, client, "AlertProvider", p.Namespace, p.Name, "spec.secretRef", p.SecretRef)
	if err != nil {
		return p, "", err
	}
	if v, ok := data["address"]; ok {
		p.Address = string(v)
	} else if _, token := data["token"]; token && p.Address != "" {
		return p, "", fmt.Errorf(`AlertProvider %s: spec.secretRef: secret %s/%s holds a token but no "address": its token goes only to the address beside it, not to spec.address`,
			p.Key(), p.Namespace, p.SecretRef)
	}
	if v, ok := data["proxy"]; ok {
		p.Proxy = string(v)
	}
	return p, string(data["token"]), nil
}
