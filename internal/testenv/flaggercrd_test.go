package testenv_test

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Flagger's own CRDs install on the bed: a Canary's status is a subresource whose schema prunes
// fields Flagger does not declare, and the MetricTemplate and AlertProvider objects the
// driver's tests create are accepted.
func TestFlaggerCRDs(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	crds := testenv.FlaggerCRDs(t)
	names := make([]string, 0, len(crds))
	for _, c := range crds {
		names = append(names, c.Name)
	}
	assert.ElementsMatch(t, []string{"canaries.flagger.app", "metrictemplates.flagger.app", "alertproviders.flagger.app"}, names)
	testenv.InstallCRDs(t, env.Config(), crds...)
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)

	canaries := dyn.Resource(schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}).Namespace(ns)
	created, err := canaries.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "podinfo"},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
			"service":   map[string]any{"port": int64(9898)},
			"analysis":  map[string]any{"interval": "1m", "threshold": int64(5), "maxWeight": int64(50), "stepWeight": int64(10)},
		},
		"status": map[string]any{"phase": "Succeeded"},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, found, _ := unstructured.NestedString(created.Object, "status", "phase")
	assert.False(t, found, "the status is a subresource: a create does not set it")

	created.Object["status"] = map[string]any{"phase": "Progressing", "canaryWeight": int64(10), "canarykitStep": int64(3),
		"conditions": []any{map[string]any{"type": "Promoted", "status": "Unknown", "reason": "Progressing"}}}
	updated, err := canaries.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)
	phase, _, _ := unstructured.NestedString(updated.Object, "status", "phase")
	assert.Equal(t, "Progressing", phase)
	_, found, _ = unstructured.NestedFieldNoCopy(updated.Object, "status", "canarykitStep")
	assert.False(t, found, "fields Flagger's schema does not declare are pruned")

	updated.Object["status"].(map[string]any)["phase"] = "Sailing"
	_, err = canaries.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	require.Error(t, err, "phase is an enum")
	assert.Contains(t, err.Error(), "status.phase")

	templates := dyn.Resource(schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "metrictemplates"}).Namespace(ns)
	_, err = templates.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
		"metadata": map[string]any{"name": "latency"},
		"spec": map[string]any{"query": "up", "provider": map[string]any{"type": "prometheus", "address": "http://prometheus:9090",
			"secretRef": map[string]any{"name": "prom-auth"}, "insecureSkipVerify": true}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	providers := dyn.Resource(schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "alertproviders"}).Namespace(ns)
	_, err = providers.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
		"metadata": map[string]any{"name": "on-call"},
		"spec":     map[string]any{"type": "slack", "channel": "on-call", "secretRef": map[string]any{"name": "on-call-url"}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
}
