package testenv

import (
	"testing"
	"time"

	"github.com/canarykit/canarykit/kube/kubetest"
)

// The kubelet stand-in lives in kube/kubetest; these names keep the bed's tests as they were.
type (
	// Mode is kubetest.Mode.
	Mode = kubetest.Mode
	// Behavior is kubetest.Behavior.
	Behavior = kubetest.Behavior
	// Kubelet is kubetest.Kubelet.
	Kubelet = kubetest.Kubelet
)

// Modes of the kubelet stand-in (see kubetest.Mode).
const (
	ModeReady      = kubetest.ModeReady
	ModeNeverReady = kubetest.ModeNeverReady
	ModeCrashLoop  = kubetest.ModeCrashLoop
)

// ReadyNow is kubetest.ReadyNow.
func ReadyNow() Behavior { return kubetest.ReadyNow() }

// NeverReady is kubetest.NeverReady.
func NeverReady() Behavior { return kubetest.NeverReady() }

// ReadyAfter is kubetest.ReadyAfter.
func ReadyAfter(d time.Duration) Behavior { return kubetest.ReadyAfter(d) }

// CrashLoop is kubetest.CrashLoop.
func CrashLoop(every time.Duration) Behavior { return kubetest.CrashLoop(every) }

// Kubelet starts a kubelet stand-in (kubetest.RunKubelet) for the pods in namespace that match
// selector ("app=podinfo"; "" for all), as KubeletUser, and stops it when the test ends. Run
// one per set of pods: two stand-ins on the same pods fight.
func (e *Env) Kubelet(t testing.TB, namespace, selector string, b Behavior) *Kubelet {
	t.Helper()
	return kubetest.RunKubelet(t, e.configFor(KubeletUser), namespace, selector, b)
}
