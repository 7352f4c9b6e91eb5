package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/canarykit/canarykit/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// BenchmarkRequestCPU measures what one API request costs the client's process in CPU (user
// and system time, so the bed's own load does not count), made one after another on the test
// bed: an Event's creation and a TrafficSplit's weight patch, each through client-go on a pool
// of the driver's, over HTTP/2 (the driver's default, as client-go's own transports) and over
// HTTP/1.1 (Options.HTTP1Requests), and through a bare http.Client on client-go's transport
// (HTTP/2) with the same TLS settings and credentials (the body encoded with encoding/json, the
// answer read and, for the patch, only its generation decoded), and a bare GET of the
// TrafficSplit, the least a request does. The difference between client-go and bare is
// client-go's own share of the per-step cost the scale harness reports; the bare figure is
// about the least a request over TLS and HTTP/2 costs here.
//
//	make bench PKGS=./kube/driver/ (or: go test -run '^$' -bench RequestCPU ./kube/driver/)
func BenchmarkRequestCPU(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the test bed")
	}
	env := testenv.Shared(b)
	testenv.InstallCRDs(b, env.Config(), testenv.TrafficSplitCRD())
	ns := env.Namespace(b)
	cfg := rest.CopyConfig(env.Config())
	cfg.QPS, cfg.Burst = -1, 0 // no client-side limit: the request itself is measured
	ctx := b.Context()

	bare, err := rest.HTTPClientFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	base := cfg.Host

	// the driver's pools of requests: HTTP/2 by default, HTTP/1.1 with Options.HTTP1Requests
	protocols := []struct {
		name  string
		conns *connections
	}{{"http2", &connections{}}, {"http1.1", &connections{http1: true}}}
	for _, p := range protocols {
		defer p.conns.closeIdle()
	}
	for _, p := range protocols {
		b.Run("event/client-go-"+p.name, func(b *testing.B) {
			hc, err := p.conns.open(builtinConfig(cfg), requestPool)
			if err != nil {
				b.Fatal(err)
			}
			cs, err := kubernetes.NewForConfigAndClient(builtinConfig(cfg), hc)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			measureCPU(b, 1, func() {
				i++
				if _, err := cs.CoreV1().Events(ns).Create(ctx, benchEvent(ns, "cg-"+p.name, i), metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	b.Run("event/http", func(b *testing.B) {
		url := base + "/api/v1/namespaces/" + ns + "/events"
		i := 0
		measureCPU(b, 1, func() {
			i++
			body, err := json.Marshal(benchEvent(ns, "http", i))
			if err != nil {
				b.Fatal(err)
			}
			if code := benchDo(ctx, b, bare, http.MethodPost, url, "application/json", body, nil); code != http.StatusCreated {
				b.Fatalf("create event: status %d", code)
			}
		})
	})

	gvr := schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}
	dyn, err := dynamic.NewForConfig(customConfig(cfg))
	if err != nil {
		b.Fatal(err)
	}
	split := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
		"metadata": map[string]any{"name": "podinfo"},
		"spec": map[string]any{"service": "podinfo", "backends": []any{
			map[string]any{"service": "podinfo-primary", "weight": int64(100)},
			map[string]any{"service": "podinfo-canary", "weight": int64(0)},
		}},
	}}
	if _, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, split, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	patch := func(i int) []byte {
		w := int64(i % 101)
		p, err := json.Marshal(map[string]any{"spec": map[string]any{"backends": []any{
			map[string]any{"service": "podinfo-primary", "weight": 100 - w},
			map[string]any{"service": "podinfo-canary", "weight": w},
		}}})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	for _, p := range protocols {
		b.Run("trafficsplit/client-go-"+p.name, func(b *testing.B) {
			hc, err := p.conns.open(customConfig(cfg), requestPool)
			if err != nil {
				b.Fatal(err)
			}
			dyn, err := dynamic.NewForConfigAndClient(customConfig(cfg), hc)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			measureCPU(b, 1, func() {
				i++
				if _, err := dyn.Resource(gvr).Namespace(ns).Patch(ctx, "podinfo", types.MergePatchType, patch(i), metav1.PatchOptions{}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	url := base + "/apis/split.smi-spec.io/v1alpha2/namespaces/" + ns + "/trafficsplits/podinfo"
	b.Run("trafficsplit-get/http", func(b *testing.B) {
		measureCPU(b, 1, func() {
			if code := benchDo(ctx, b, bare, http.MethodGet, url, "", nil, nil); code != http.StatusOK {
				b.Fatalf("get trafficsplit: status %d", code)
			}
		})
	})
	b.Run("trafficsplit/http", func(b *testing.B) {
		i := 0
		measureCPU(b, 1, func() {
			i++
			var answer struct {
				Metadata struct {
					Generation int64 `json:"generation"`
				} `json:"metadata"`
			}
			if code := benchDo(ctx, b, bare, http.MethodPatch, url, string(types.MergePatchType), patch(i), &answer); code != http.StatusOK {
				b.Fatalf("patch trafficsplit: status %d", code)
			}
			if answer.Metadata.Generation == 0 {
				b.Fatal("patch trafficsplit: no generation in the answer")
			}
		})
	})
}

// measureCPU runs op (requestsPerOp requests) b.N times and reports the process's CPU time per
// request, less what the process spends meanwhile without it (the bed's log readers, the
// runtime's timers: measured over half a second before, about 30 µs a millisecond on a busy
// machine).
func measureCPU(b *testing.B, requestsPerOp int, op func()) {
	b.ReportAllocs()
	op() // connections made and warmed outside the measure
	idle0, wall0 := processCPU(b), time.Now()
	time.Sleep(500 * time.Millisecond)
	background := float64(processCPU(b)-idle0) / float64(time.Since(wall0))
	b.ResetTimer()
	cpu0, start := processCPU(b), time.Now()
	for b.Loop() {
		op()
	}
	own := float64(processCPU(b)-cpu0) - background*float64(time.Since(start))
	b.ReportMetric(own/1e3/float64(b.N*requestsPerOp), "cpu-µs/request")
	b.ReportMetric(background*1e3, "idle-cpu-µs/ms")
}

// processCPU is the CPU time (user and system) the process has used, in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchEvent(ns, kind string, i int) *corev1.Event {
	return &corev1.Event{
		TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("podinfo.%s.%d", kind, i), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: ns, Name: "podinfo"},
		Reason:         "Synced", Message: fmt.Sprintf("Advance podinfo.%s canary weight %d", ns, i%50),
		Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "flagger"}, Count: 1,
	}
}

// benchDo sends one request with the bare client and returns the answer's status, the answer
// decoded into into when it is not nil.
func benchDo(ctx context.Context, b *testing.B, c *http.Client, method, url, contentType string, body []byte, into any) int {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if into != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, into); err != nil {
			b.Fatal(err)
		}
	}
	return resp.StatusCode
}

// BenchmarkRequestCPUTogether measures what an Event's creation costs the client's process in
// CPU when the process sleeps between requests, as a controller does between its targets'
// ticks: a pause of 10 ms, then a group of requests made at once (one goroutine each, through
// client-go on one of the driver's HTTP/2 pools), then the next pause. A group of one is a
// process woken for every request; a group of 25 is 25 targets ticking together. The figure is
// per request, the pauses' own idle cost taken off. On a virtual machine whose system calls and
// wake-ups are dear, a request that wakes the process costs several times one that finds it
// awake; that is why canary.Config.Stagger puts targets on shared slots of the interval.
//
//	go test -run '^$' -bench RequestCPUTogether ./kube/driver/
func BenchmarkRequestCPUTogether(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the test bed")
	}
	env := testenv.Shared(b)
	ns := env.Namespace(b)
	cfg := rest.CopyConfig(env.Config())
	cfg.QPS, cfg.Burst = -1, 0
	ctx := b.Context()
	conns := &connections{}
	defer conns.closeIdle()
	hc, err := conns.open(builtinConfig(cfg), requestPool)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfigAndClient(builtinConfig(cfg), hc)
	if err != nil {
		b.Fatal(err)
	}
	for _, group := range []int{1, 5, 25} {
		b.Run(fmt.Sprintf("group-%d", group), func(b *testing.B) {
			kind := fmt.Sprintf("together-%d", group)
			i := 0
			errs := make(chan error, group)
			measureCPU(b, group, func() {
				time.Sleep(10 * time.Millisecond)
				for range group {
					i++
					go func(i int) {
						_, err := cs.CoreV1().Events(ns).Create(ctx, benchEvent(ns, kind, i), metav1.CreateOptions{})
						errs <- err
					}(i)
				}
				for range group {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
