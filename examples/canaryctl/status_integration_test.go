package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// A release driven with its status on the Canary object (the Flagger-compatible controller)
// leaves no status in the Lease: status reads the Canary's status subresource, as the API
// server keeps it under Flagger's schema; a user who may not read Canaries gets the Lease's
// answer.
func TestStatusOfACanaryObjectOnARealCluster(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.CanaryCRD(t))
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var obj map[string]any
	require.NoError(t, yaml.Unmarshal(fmt.Appendf(nil, manifest, ns, "http://hook.test"), &obj))
	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	canaries := admin.Resource(driver.CanaryGVR).Namespace(ns)
	created, err := canaries.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	require.NoError(t, err)
	created.Object["status"] = map[string]any{"phase": "Progressing", "canaryWeight": int64(20), "failedChecks": int64(1),
		"iterations": int64(0), "lastAppliedSpec": "5d7f9c", "lastPromotedSpec": "4c8e1a", "lastTransitionTime": "2026-01-02T03:04:05Z"}
	_, err = canaries.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)

	cmd := func(cfg *rest.Config, args ...string) (int, string) {
		var out, errs bytes.Buffer
		code := Main(ctx, args, &out, &errs, cfg)
		return code, out.String() + errs.String()
	}
	code, out := cmd(env.Config(), "status", ns+"/podinfo")
	assert.Equal(t, exitPromoted, code, out)
	for _, want := range []string{"phase:          Progressing", "canary weight:  20", "failed checks:  1",
		"revision:       5d7f9c (promoted: 4c8e1a)", "last change:    2026-01-02T03:04:05Z", "driven by:      nobody"} {
		assert.Contains(t, out, want)
	}

	// a user bound to the Lease's permissions only
	var role rbacv1.ClusterRole
	require.NoError(t, yaml.Unmarshal(kube.RBAC(), &role))
	user, cfg := env.NewUser(t)
	env.Grant(t, user, ns, role.Rules...)
	code, out = cmd(cfg, "status", ns+"/podinfo")
	assert.Equal(t, exitPromoted, code, out)
	assert.Equal(t, "podinfo."+ns+": no release has run\n", out)
}
