package kubetest_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/kubetest/meshsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

// On the envtest shape, the kit's two stand-ins give the simulated data plane what it needs:
// pods that are Ready, hence endpoints, and real requests reach them through a Service.
func TestSimulatedMeshServesTrafficOnTheEnvtestShape(t *testing.T) {
	env := testenv.Start(t, testenv.Options{WithoutControllerManager: true})
	ns := namespace(t, env)
	ctx := t.Context()
	env.Kubelet(t, ns, "app", testenv.ReadyNow())
	_, err := env.Client().AppsV1().Deployments(ns).Create(ctx, deployment("web", 2, 600, "2"), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.Client().CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 9898, TargetPort: intstr.FromInt32(9898)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	want := available
	want.AvailableReplicas = 2
	waitVerdict(ctx, t, env, ns, "web", want)

	mesh := meshsim.Start(t, meshsim.Options{Config: env.Config(), Namespace: ns,
		Versions: map[string]meshsim.Behavior{"2": {ErrorRate: 0.5}}})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		eps, ok := mesh.Endpoints("web")
		return ok && len(eps) == 2, nil
	}), "both pods are endpoints")
	codes := map[int]int{}
	for range 10 {
		resp, err := mesh.Client().Get("http://web." + ns + ":9898/")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 5, http.StatusInternalServerError: 5}, codes, "version 2 fails half its answers")
	assert.Equal(t, meshsim.Tally{Requests: 10, Failures: 5}, mesh.Traffic().ByDeployment("web")["web"])
}
