package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// runFlagger starts Flagger on the bed's namespace as the bed's administrator (Linkerd, that is
// SMI TrafficSplits; no metrics server: the Canaries here have no metrics) and returns its stop
// function, which kills it and waits for it. Its log is printed if the test fails.
func (b *bed) runFlagger(bin string) (stop func()) {
	dir := b.t.TempDir()
	cfg := b.env.Config()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bed"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["bed"] = &clientcmdapi.Context{Cluster: "bed", AuthInfo: "admin"}
	kc.CurrentContext = "bed"
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(b.t, clientcmd.WriteToFile(*kc, kubeconfig))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b.t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(b.t, l.Close())

	logPath := filepath.Join(dir, "flagger.log")
	log, err := os.Create(logPath)
	require.NoError(b.t, err)
	cmd := exec.Command(bin, "-kubeconfig", kubeconfig, "-namespace", b.ns, "-mesh-provider", "linkerd",
		"-metrics-server", "http://127.0.0.1:1", "-port", strconv.Itoa(port), "-log-level", "info")
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(b.t, cmd.Start())
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
	}
	b.t.Cleanup(func() {
		stop()
		if b.t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil {
				b.t.Logf("flagger log:\n%s", data)
			}
		}
	})
	return stop
}

// meta is the metadata of the object of resource name in the bed's namespace.
func (b *bed) meta(gvr schema.GroupVersionResource, name string) metav1.Object {
	u, err := b.dyn.Resource(gvr).Namespace(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(b.t, err, "%s %s", gvr.Resource, name)
	return u
}

// lastSpecs are the Canary's status.lastAppliedSpec and lastPromotedSpec.
func (b *bed) lastSpecs(name string) (applied, promoted string) {
	u, err := b.dyn.Resource(Canaries).Namespace(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(b.t, err)
	st, _ := u.Object["status"].(map[string]any)
	applied, _ = st["lastAppliedSpec"].(string)
	promoted, _ = st["lastPromotedSpec"].(string)
	return applied, promoted
}

// Switching from Flagger: Flagger v1.44 initializes a Canary (its primary, Services and
// TrafficSplit, status Initialized with its own hashes) and is stopped; the controller then
// takes the Canary over. It adopts what Flagger generated for it (labelled and annotated as
// canarykit's, Flagger's owner reference kept) and releases nothing while the target is
// unchanged: no canary scaled up, no weight step, all traffic on the primary. A new image is
// then released through every step and promoted.
func TestControllerTakesOverACanaryFlaggerInitialized(t *testing.T) {
	b := newBed(t)
	bin := testenv.FlaggerBinary(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	b.app("podinfo")
	b.apply(canaryYAML("podinfo", steps20))

	stopFlagger := b.runFlagger(bin)
	b.poll("Flagger initialized the Canary", func() bool {
		_, split := b.trafficSplitAt("v1alpha1", "podinfo")
		return b.status("podinfo").Phase == canary.PhaseInitialized && b.image("podinfo-primary") == "podinfo:1" &&
			split && b.serviceExists("podinfo-canary") && b.replicas("podinfo") == 0
	})
	stopFlagger()
	flaggerApplied, flaggerPromoted := b.lastSpecs("podinfo")
	require.NotEmpty(t, flaggerPromoted)
	cn := b.meta(Canaries, "podinfo")
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	services := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	splits := schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha1", Resource: "trafficsplits"}
	type object struct {
		gvr  schema.GroupVersionResource
		name string
	}
	generated := []object{{deployments, "podinfo-primary"}, {services, "podinfo"}, {services, "podinfo-primary"},
		{services, "podinfo-canary"}, {splits, "podinfo"}}
	for _, o := range generated {
		m := b.meta(o.gvr, o.name)
		ref := metav1.GetControllerOfNoCopy(m)
		require.NotNil(t, ref, "Flagger's %s %s has the Canary as controller", o.gvr.Resource, o.name)
		require.Equal(t, cn.GetUID(), ref.UID)
		require.Empty(t, m.GetLabels()[canary.LabelManagedBy], "Flagger's %s %s", o.gvr.Resource, o.name)
	}

	rec := &recorder{}
	b.start("controller-1", Options{OnEvent: rec.add})
	b.poll("the controller took the Canary over", func() bool {
		_, promoted := b.lastSpecs("podinfo")
		return promoted != flaggerPromoted && b.meta(deployments, "podinfo-primary").GetAnnotations()[kube.AnnotationRevision] == promoted
	})
	// a few of its 1 s intervals: still nothing released
	time.Sleep(3 * time.Second)
	for _, e := range rec.since("podinfo", 0) {
		assert.NotContains(t, []canary.Reason{canary.ReasonNewRevision, canary.ReasonAdvanced, canary.ReasonPromoting,
			canary.ReasonSucceeded, canary.ReasonRollingBack}, e.Reason, "nothing released for the unchanged target: %s", e.Message)
	}
	assert.Empty(t, rec.weights("podinfo", 0))
	assert.Equal(t, canary.PhaseInitialized, b.status("podinfo").Phase)
	w, _ := b.trafficSplitAt("v1alpha1", "podinfo")
	assert.Equal(t, canary.AllPrimary(), w, "all traffic on the primary")
	assert.Equal(t, int32(0), b.replicas("podinfo"), "the canary stays scaled to zero")
	assert.Equal(t, "podinfo:1", b.image("podinfo-primary"))
	applied, promoted := b.lastSpecs("podinfo")
	assert.Equal(t, promoted, applied, "the status records canarykit's revision as applied and promoted")
	assert.NotEqual(t, flaggerApplied, applied)

	mark := rec.mark()
	b.setImage("podinfo", "podinfo:2")
	b.poll("podinfo:2 promoted", func() bool { return rec.has("podinfo", canary.ReasonSucceeded, mark) })
	assert.Equal(t, []int{20, 40}, rec.weights("podinfo", mark), "every step of the analysis")
	assert.Equal(t, "podinfo:2", b.image("podinfo-primary"))
	b.poll("the Canary's status says Succeeded, Promoted", func() bool {
		st := b.status("podinfo")
		status, reason := st.promoted()
		return st.Phase == canary.PhaseSucceeded && status == "True" && reason == "Succeeded"
	})
	w, _ = b.trafficSplitAt("v1alpha1", "podinfo")
	assert.Equal(t, canary.AllPrimary(), w)

	for _, o := range generated {
		m := b.meta(o.gvr, o.name)
		assert.Equal(t, canary.ManagedBy, m.GetLabels()[canary.LabelManagedBy], "%s %s", o.gvr.Resource, o.name)
		assert.Equal(t, "podinfo", m.GetAnnotations()[canary.AnnotationTarget], "%s %s", o.gvr.Resource, o.name)
		if o.gvr != splits {
			assert.Equal(t, "podinfo", m.GetAnnotations()[kube.AnnotationCanary], "%s %s", o.gvr.Resource, o.name)
		}
		ref := metav1.GetControllerOfNoCopy(m)
		if assert.NotNil(t, ref, "%s %s keeps Flagger's owner reference", o.gvr.Resource, o.name) {
			assert.Equal(t, cn.GetUID(), ref.UID)
		}
	}
	for _, e := range b.canaryEvents("podinfo", fields.Set{"type": corev1.EventTypeWarning, "source": "canarykit"}) {
		assert.Fail(t, "a Warning Event from the controller", e.Message)
	}
}
