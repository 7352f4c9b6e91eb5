package kube

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

// A burst of Events (every target stepping in the same second) is written whole while the API
// server is slow: it waits in the writers' queues. Before, client-go's recorder held about
// 2,000 (its incoming queue and its writer's) and dropped the rest unseen.
func TestEventBurstIsWrittenWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const targets = 3000 // client-go's recorder held about 2,000
		api := newEventAPI()
		events := api.events(t, EventsOptions{})
		for i := range targets {
			events.For(canary.Target{Namespace: "test", Name: fmt.Sprintf("app-%d", i)})(advanced(10))
		}
		synctest.Wait() // every writer is blocked on its first request
		api.open()
		synctest.Wait() // every queued Event is written
		assert.Len(t, api.written(), targets)
		assert.Zero(t, events.Dropped())
	})
}

// What does not fit in a writer's queue is dropped and counted; the rest is written.
func TestEventsOverflowingTheQueueAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const targets, queue = 500, 100
		api := newEventAPI()
		events := api.events(t, EventsOptions{Writers: 1, Queue: queue})
		for i := range targets {
			events.For(canary.Target{Namespace: "test", Name: fmt.Sprintf("app-%d", i)})(advanced(10))
		}
		synctest.Wait()
		api.open()
		synctest.Wait()
		written := len(api.written())
		// the queue, and the Event being written if the writer took it before the queue filled
		assert.Contains(t, []int{queue, queue + 1}, written)
		assert.EqualValues(t, targets-written, events.Dropped())
	})
}

// A target's Events are written in the order given, whichever writer it is given to. (Nine
// per target: from the tenth similar Event in ten minutes, client-go's correlator combines
// them into one; see TestSimilarEventsAreCombined.)
func TestEventsOfATargetAreWrittenInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := newEventAPI()
		api.open()
		events := api.events(t, EventsOptions{})
		var handlers []func(canary.Event)
		for i := range 16 {
			handlers = append(handlers, events.For(canary.Target{Namespace: "test", Name: fmt.Sprintf("app-%d", i)}))
		}
		const steps = 9
		for step := 1; step <= steps; step++ {
			for _, h := range handlers {
				h(advanced(step))
			}
		}
		synctest.Wait()
		written := map[string][]int{}
		for _, ev := range api.written() {
			w, err := strconv.Atoi(ev.Message[len("Advance canary weight "):])
			require.NoError(t, err)
			written[ev.InvolvedObject.Name] = append(written[ev.InvolvedObject.Name], w)
		}
		list, err := api.Clientset.CoreV1().Events("test").List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		assert.Len(t, list.Items, 16*steps, "every Event has a name of its own, though the clock stood still")
		require.Len(t, written, 16)
		for name, s := range written {
			require.Len(t, s, steps, name)
			for i, w := range s {
				assert.Equal(t, i+1, w, "%s: Event %d", name, i)
			}
		}
	})
}

// An Event the API server could not take (unreachable, overloaded) is written again after a
// wait; one it refused is not.
func TestEventsAreWrittenAgainOnlyAfterTransientErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := newEventAPI()
		api.open()
		api.fail = []error{
			fmt.Errorf("dial tcp 127.0.0.1:6443: connect: connection refused"),
			apierrors.NewTooManyRequests("slow down", 1),
		}
		events := api.events(t, EventsOptions{Retry: time.Second})
		events.For(canary.Target{Namespace: "test", Name: "app"})(advanced(10))
		time.Sleep(time.Minute) // the writer's waits pass
		synctest.Wait()
		require.Len(t, api.written(), 1)
		tries := api.triedAt()
		require.Len(t, tries, 3)
		assert.LessOrEqual(t, tries[1].Sub(tries[0]), time.Second, "the first wait, jittered")
		assert.Equal(t, 2*time.Second, tries[2].Sub(tries[1]), "the second wait is the doubled one")

		api.fail = []error{apierrors.NewInvalid(schema.GroupKind{Kind: "Event"}, "app.1", nil)}
		events.For(canary.Target{Namespace: "test", Name: "app"})(advanced(20))
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Len(t, api.written(), 1, "a refused Event is not written again")
		assert.Len(t, api.triedAt(), 4)
		assert.Zero(t, events.Dropped())
	})
}

// An Event repeated is a count on the first one (client-go's correlator), not a new Event.
func TestRepeatedEventsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := newEventAPI()
		api.open()
		events := api.events(t, EventsOptions{})
		h := events.For(canary.Target{Namespace: "test", Name: "app"})
		for range 3 {
			h(canary.Event{Type: canary.EventWarning, Reason: canary.ReasonHalted, Message: "Halt advancement podinfo.test waiting for rollout to finish"})
			time.Sleep(time.Second)
		}
		synctest.Wait()
		list, err := api.Clientset.CoreV1().Events("test").List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)
		assert.EqualValues(t, 3, list.Items[0].Count)
		assert.Equal(t, corev1.EventTypeWarning, list.Items[0].Type)
		assert.Equal(t, "canarykit", list.Items[0].Source.Component)
		assert.Equal(t, "canarykit", list.Items[0].ReportingController)
	})
}

// Shutdown writes what is queued within its grace period, drops the rest (counted), and
// drops what comes after it.
func TestShutdownWritesTheQueueWithinItsGrace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  time.Duration // how long the API server takes to answer after Shutdown
		written int
	}{{"in time", time.Second, 9}, {"too late", time.Minute, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := newEventAPI()
				events := api.events(t, EventsOptions{Writers: 1, Grace: 5 * time.Second})
				h := events.For(canary.Target{Namespace: "test", Name: "app"})
				for step := range 9 { // fewer than the correlator combines
					h(advanced(step + 1))
				}
				synctest.Wait()
				go func() {
					time.Sleep(tc.answer)
					api.open()
				}()
				events.Shutdown()
				h(advanced(30))
				assert.Len(t, api.written(), tc.written)
				assert.EqualValues(t, 10-tc.written, events.Dropped())
				time.Sleep(tc.answer) // the API server answers, to no one
				synctest.Wait()
			})
		})
	}
}

// canaryRef is a Flagger Canary as ForObject is given it.
var canaryRef = corev1.ObjectReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: "test", Name: "podinfo", UID: "c-uid"}

// A release's events recorded on a Canary under one reason (Flagger's "Synced") are written
// whole, each on the Canary with its type and message, the engine's reason as action: the
// correlator groups them by the engine's reason, not by the one they share.
func TestEventsOnAnObjectAreWrittenWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := newEventAPI()
		api.open()
		events := api.events(t, EventsOptions{})
		h := events.ForObject(canary.Target{Namespace: "test", Name: "podinfo"}, canaryRef, "Synced")
		release := []canary.Event{
			{Type: canary.EventNormal, Reason: canary.ReasonNewRevision, Message: "New revision detected! Scaling up podinfo.test"},
			{Type: canary.EventNormal, Reason: canary.ReasonStarted, Message: "Starting canary analysis for podinfo.test"},
		}
		for w := 5; w <= 45; w += 5 { // nine steps: as many as combine none
			release = append(release, canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAdvanced, Message: fmt.Sprintf("Advance podinfo.test canary weight %d", w)})
		}
		release = append(release,
			canary.Event{Type: canary.EventWarning, Reason: canary.ReasonHalted, Message: "Halt podinfo.test advancement request-success-rate 90.00 < 99"},
			canary.Event{Type: canary.EventNormal, Reason: canary.ReasonPromoting, Message: "Copying podinfo.test template spec to podinfo-primary.test"},
			canary.Event{Type: canary.EventNormal, Reason: canary.ReasonShifted, Message: "Routing all traffic to primary"},
			canary.Event{Type: canary.EventNormal, Reason: canary.ReasonSucceeded, Message: "Promotion completed! Scaling down podinfo.test"})
		for _, e := range release {
			h(e)
			time.Sleep(10 * time.Second)
		}
		synctest.Wait()
		written := api.written()
		require.Len(t, written, len(release), "one Event each, none combined")
		for i, ev := range written {
			assert.Equal(t, canaryRef, ev.InvolvedObject)
			assert.Equal(t, "Synced", ev.Reason)
			assert.Equal(t, string(release[i].Reason), ev.Action)
			assert.Equal(t, release[i].Message, ev.Message)
			assert.Equal(t, map[canary.EventType]string{canary.EventNormal: corev1.EventTypeNormal, canary.EventWarning: corev1.EventTypeWarning}[release[i].Type], ev.Type)
			assert.Equal(t, "test", ev.Namespace)
			assert.Regexp(t, `^podinfo\.[0-9a-f]+$`, ev.Name)
		}
	})
}

// Similar events (one object, type and engine reason) with distinct messages are combined
// from the tenth in ten minutes, on the Canary as on the Deployment: one Event,
// "(combined from similar events): " and the latest message, counted; it keeps its action
// and reporting controller. Ten minutes later they are written whole again.
func TestSimilarEventsAreCombined(t *testing.T) {
	for name, on := range map[string]func(*Events, canary.Target) func(canary.Event){
		"canary":     func(e *Events, t canary.Target) func(canary.Event) { return e.ForObject(t, canaryRef, "Synced") },
		"deployment": (*Events).For,
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := newEventAPI()
				api.open()
				events := api.events(t, EventsOptions{})
				h := on(events, canary.Target{Namespace: "test", Name: "podinfo"})
				for w := 1; w <= 12; w++ {
					h(advanced(w))
					time.Sleep(10 * time.Second)
				}
				synctest.Wait()
				list, err := api.Clientset.CoreV1().Events("test").List(context.Background(), metav1.ListOptions{})
				require.NoError(t, err)
				require.Len(t, list.Items, 10, "nine Events whole, then one for the rest")
				var combined []corev1.Event
				for _, ev := range list.Items {
					assert.Equal(t, "Advanced", ev.Action)
					assert.Equal(t, "canarykit", ev.ReportingController)
					if strings.HasPrefix(ev.Message, "(combined from similar events): ") {
						combined = append(combined, ev)
					} else {
						assert.EqualValues(t, 1, ev.Count)
					}
				}
				require.Len(t, combined, 1)
				assert.Equal(t, "(combined from similar events): Advance canary weight 12", combined[0].Message)
				assert.EqualValues(t, 3, combined[0].Count)

				time.Sleep(11 * time.Minute)
				h(advanced(13))
				synctest.Wait()
				last := api.written()[len(api.written())-1]
				assert.Equal(t, "Advance canary weight 13", last.Message, "written whole again")
			})
		})
	}
}

func advanced(weight int) canary.Event {
	return canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAdvanced, Message: fmt.Sprintf("Advance canary weight %d", weight)}
}

// eventAPI is a fake clientset whose Event creations wait until open (or their context ends),
// outside the fake's lock (which would serialise the writers), and fail with the errors in
// fail first.
type eventAPI struct {
	*fake.Clientset
	gate chan struct{}

	mu    sync.Mutex
	fail  []error
	got   []*corev1.Event
	tries []time.Time
}

func newEventAPI() *eventAPI {
	return &eventAPI{Clientset: fake.NewClientset(), gate: make(chan struct{})}
}

// events is a Cluster's Events over the fake, shut down when the test ends.
func (a *eventAPI) events(t *testing.T, opts EventsOptions) *Events {
	c, err := New(Options{Client: coreWrap{Clientset: a.Clientset, events: func(e typedcorev1.EventInterface) typedcorev1.EventInterface {
		return eventClient{e, a}
	}}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	e, err := c.Events(opts)
	require.NoError(t, err)
	t.Cleanup(e.Shutdown)
	return e
}

func (a *eventAPI) open() { close(a.gate) }

func (a *eventAPI) written() []*corev1.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*corev1.Event(nil), a.got...)
}

// triedAt is when each creation was tried.
func (a *eventAPI) triedAt() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.tries...)
}

type eventClient struct {
	typedcorev1.EventInterface
	api *eventAPI
}

func (e eventClient) Create(ctx context.Context, ev *corev1.Event, opts metav1.CreateOptions) (*corev1.Event, error) {
	select {
	case <-e.api.gate:
	case <-ctx.Done():
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{Code: http.StatusGatewayTimeout, Reason: metav1.StatusReasonTimeout}}
	}
	e.api.mu.Lock()
	e.api.tries = append(e.api.tries, time.Now())
	if len(e.api.fail) > 0 {
		err := e.api.fail[0]
		e.api.fail = e.api.fail[1:]
		e.api.mu.Unlock()
		return nil, err
	}
	e.api.got = append(e.api.got, ev.DeepCopy())
	e.api.mu.Unlock()
	return e.EventInterface.Create(ctx, ev, opts)
}

// EventsOptions.Record leaves out the Normal events, or all of them; an unknown value is
// refused by name.
func TestEventsRecordOnlyWhatRecordSays(t *testing.T) {
	held := advanced(20)
	held.Type, held.Reason, held.Message = canary.EventWarning, canary.ReasonNotReady, "Halt advancement podinfo-primary.test waiting for rollout to finish"
	for _, tc := range []struct {
		record EventRecord
		want   []string // the written Events' types
	}{
		{"", []string{corev1.EventTypeNormal, corev1.EventTypeWarning, corev1.EventTypeNormal}},
		{RecordAll, []string{corev1.EventTypeNormal, corev1.EventTypeWarning, corev1.EventTypeNormal}},
		{RecordWarnings, []string{corev1.EventTypeWarning}},
		{RecordNone, nil},
	} {
		t.Run(string(tc.record), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := newEventAPI()
				api.open()
				events := api.events(t, EventsOptions{Record: tc.record})
				h := events.For(canary.Target{Namespace: "test", Name: "podinfo"})
				h(advanced(10))
				h(held)
				h(advanced(30))
				synctest.Wait()
				var types []string
				for _, ev := range api.written() {
					types = append(types, ev.Type)
				}
				assert.Equal(t, tc.want, types)
				assert.Zero(t, events.Dropped(), "what is left out is not dropped")
			})
		})
	}
	c, err := New(Options{Client: fake.NewClientset()})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Events(EventsOptions{Record: "normal"})
	require.ErrorContains(t, err, `EventsOptions.Record: events to record "normal": want "all", "warnings" or "none"`)
}
