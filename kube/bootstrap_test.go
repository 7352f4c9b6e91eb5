package kube

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

// Targets starting together create their objects a few at a time (Options.MaxBootstraps), not
// all at once: the Service creations in flight never pass the limit, and every target ends up
// bootstrapped.
func TestBootstrapsTakeTurns(t *testing.T) {
	for _, tc := range []struct {
		max, inFlight int // inFlight: the Service creations at once
	}{{max: 2, inFlight: 2}, {max: -1 /* no limit */, inFlight: 12}} {
		t.Run(fmt.Sprintf("max=%d", tc.max), func(t *testing.T) {
			const targets = 12
			var objs []runtime.Object
			for i := range targets {
				d := testenv.PodinfoDeployment(fmt.Sprintf("app-%d", i), "podinfo:1", 1)
				d.Namespace = "test"
				objs = append(objs, d)
			}
			api := &serviceGate{Clientset: fake.NewClientset(objs...), open: make(chan struct{})}
			c, err := New(Options{Client: api.client(), MaxBootstraps: tc.max})
			require.NoError(t, err)
			defer c.Close()
			ctx := context.Background()
			errs := make(chan error, targets)
			for i := range targets {
				target := canary.Target{Namespace: "test", Name: fmt.Sprintf("app-%d", i)}
				w, err := c.Workload(WorkloadOptions{Target: target, Port: 9898})
				require.NoError(t, err)
				go func() { errs <- w.Bootstrap(ctx, target) }()
			}
			// every bootstrap that has its turn waits on its first Service; the others
			// would pile up on the gate too within a moment if nothing held them back
			for api.waiting() < tc.inFlight {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			assert.Equal(t, tc.inFlight, api.waiting())
			close(api.open)
			for range targets {
				assert.NoError(t, <-errs)
			}
			assert.Equal(t, tc.inFlight, api.most, "Service creations at once")
			list, err := api.Clientset.CoreV1().Services("test").List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			assert.Len(t, list.Items, 3*targets)
		})
	}
}

// serviceGate is a fake clientset (client) whose Service creations wait until open, counting
// how many wait at once.
type serviceGate struct {
	*fake.Clientset
	open chan struct{}

	mu        sync.Mutex
	now, most int
}

func (g *serviceGate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func (g *serviceGate) client() coreWrap {
	return coreWrap{Clientset: g.Clientset, services: func(s typedcorev1.ServiceInterface) typedcorev1.ServiceInterface {
		return gatedServices{s, g}
	}}
}

type gatedServices struct {
	typedcorev1.ServiceInterface
	g *serviceGate
}

func (s gatedServices) Create(ctx context.Context, svc *corev1.Service, opts metav1.CreateOptions) (*corev1.Service, error) {
	s.g.mu.Lock()
	s.g.now++
	s.g.most = max(s.g.most, s.g.now)
	s.g.mu.Unlock()
	<-s.g.open
	s.g.mu.Lock()
	s.g.now--
	s.g.mu.Unlock()
	return s.ServiceInterface.Create(ctx, svc, opts)
}

// A target waiting for its turn gives up when its context ends, and a turn given back goes to
// the next one.
func TestBootstrapTurnHonoursTheContext(t *testing.T) {
	c, err := New(Options{Client: fake.NewClientset(), MaxBootstraps: 1})
	require.NoError(t, err)
	defer c.Close()
	done, err := c.bootstrapTurn(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.bootstrapTurn(ctx)
	require.ErrorIs(t, err, context.Canceled)
	done()
	again, err := c.bootstrapTurn(context.Background())
	require.NoError(t, err)
	again()
}
