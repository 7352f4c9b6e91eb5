package driver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarykit/canarykit/kube"
)

// On the real API server, under Flagger's Canary CRD (whose phase enum holds Terminating): a
// revert of a Canary whose status is on the Canary writes phase Terminating, weight 0 and the
// Promoted condition Unknown with reason Terminating, as Flagger's finalizer does, and hands
// the target back.
func TestRetireWritesTerminatingOnTheCanary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung retirement fails the test
	defer cancel()
	b, c, d := initialisedBed(ctx, t, "10s")
	b.env.Grant(t, b.user, b.ns, append(embeddedRules(t, kube.RevertRBAC()),
		rbacv1.PolicyRule{APIGroups: []string{"split.smi-spec.io"}, Resources: []string{"trafficsplits"}, Verbs: []string{"delete"}})...)

	require.NoError(t, d.Retire(ctx, c, Retirement{Revert: true}))
	obj := getCanary(ctx, t, b.env, b.ns)
	assert.Equal(t, "Terminating", phaseOf(obj))
	assert.Zero(t, weightOf(obj))
	p := promotedOf(obj)
	assert.Equal(t, "Unknown", p.Status)
	assert.Equal(t, "Terminating", p.Reason)
	_, err := b.env.Client().AppsV1().Deployments(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the target handed back, its primary removed: %v", err)
}
