package kube

import (
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"

	corev1 "k8s.io/api/core/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

// A burst of Events (every target stepping in the same second) is written whole, even while the
// API server is slow, with several writers, each with its own queue. With one writer (the
// default: client-go's single broadcaster), the burst overflows its queue and Events are lost.
func TestEventBurstIsWrittenWhole(t *testing.T) {
	const targets = 3000
	for _, tc := range []struct {
		writers int
		whole   bool
	}{{writers: 16, whole: true}, {writers: 0 /* the default, 1 */, whole: false}} {
		t.Run(fmt.Sprintf("writers=%d", tc.writers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				slow := make(chan struct{}) // the API server answers once the burst is queued
				var created atomic.Int64
				fc := fake.NewClientset()
				client := slowClient{Clientset: fc, core: slowCore{CoreV1Interface: fc.CoreV1(),
					events: slowEvents{EventInterface: fc.CoreV1().Events(""), slow: slow, created: &created}}}
				c, err := New(Options{Client: client})
				require.NoError(t, err)
				defer c.Close()
				events := c.Events(EventsOptions{Writers: tc.writers})
				for i := range targets {
					events.For(canary.Target{Namespace: "test", Name: fmt.Sprintf("app-%d", i)})(
						canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAdvanced, Message: "Advance canary weight 10"})
				}
				synctest.Wait() // every writer is blocked on its first request
				close(slow)
				synctest.Wait() // every queued Event is written
				events.Shutdown()
				if tc.whole {
					assert.EqualValues(t, targets, created.Load())
				} else {
					assert.Less(t, created.Load(), int64(targets), "one writer's queue holds the whole burst: the test shows nothing")
				}
			})
		})
	}
}

// slowClient is a fake clientset whose Event creations wait for slow, then succeed, outside the
// fake's lock (which would serialise the writers).
type slowClient struct {
	*fake.Clientset
	core slowCore
}

func (c slowClient) CoreV1() typedcorev1.CoreV1Interface { return c.core }

type slowCore struct {
	typedcorev1.CoreV1Interface
	events slowEvents
}

func (c slowCore) Events(string) typedcorev1.EventInterface { return c.events }

type slowEvents struct {
	typedcorev1.EventInterface
	slow    <-chan struct{}
	created *atomic.Int64
}

func (e slowEvents) CreateWithEventNamespace(ev *corev1.Event) (*corev1.Event, error) {
	<-e.slow
	e.created.Add(1)
	return ev, nil
}
