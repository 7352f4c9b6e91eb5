package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"
)

// The annotations that put a Deployment under canary delivery.
const (
	// AnnotationAnalysis holds the Flagger `analysis` section (YAML) to release the Deployment with.
	AnnotationAnalysis = "canarykit.dev/analysis"
	// AnnotationPort is the service port (Flagger's service.port); default 80.
	AnnotationPort = "canarykit.dev/port"
	// AnnotationAutoscaler names the Deployment's HorizontalPodAutoscaler, if any.
	AnnotationAutoscaler = "canarykit.dev/autoscaler"
)

// Controller runs a driver.Target per annotated Deployment and kicks it on every change of
// the Deployment; the Target does the rest (lease, control requests, alerts, releases).
type Controller struct {
	Driver    *driver.Driver
	Namespace string // "" watches every namespace
	Log       logr.Logger
	// OnEvent, if set, receives every target's events.
	OnEvent func(canary.Event)
	// OnInvalid, if set, is told of every Deployment whose annotations do not make a Canary
	// (they are logged either way).
	OnInvalid func(deployment string, err error)

	mu      sync.Mutex
	targets map[string]*running
}

// running is one Deployment's Target.
type running struct {
	spec   string // hash of the annotations it was built from
	target *driver.Target
	cancel context.CancelFunc
	done   chan struct{}
}

// Run watches Deployments until ctx ends, then stops every Target (releasing their leases)
// and returns.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.targets = map[string]*running{}
	c.mu.Unlock()
	f := informers.NewSharedInformerFactoryWithOptions(c.Driver.Client(), 0, informers.WithNamespace(c.Namespace))
	inf := f.Apps().V1().Deployments().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { c.sync(ctx, obj) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.retire(key)
			}
		},
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	c.mu.Lock()
	all := make([]string, 0, len(c.targets))
	for k := range c.targets {
		all = append(all, k)
	}
	c.mu.Unlock()
	for _, k := range all {
		if r := c.retire(k); r != nil {
			<-r.done // its lease is released
		}
	}
	return nil
}

// sync starts, restarts (annotations changed), kicks or stops the Target of a Deployment.
func (c *Controller) sync(ctx context.Context, obj any) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	key := d.Namespace + "/" + d.Name
	if strings.HasSuffix(d.Name, "-primary") || d.Annotations[AnnotationAnalysis] == "" {
		c.retire(key)
		return
	}
	spec := specHash(d)
	c.mu.Lock()
	cur := c.targets[key]
	c.mu.Unlock()
	if cur != nil && cur.spec == spec {
		cur.target.Kick()
		return
	}
	prev := c.retire(key) // the annotations changed: a new Target takes over when the old one has stopped
	tg, err := c.target(d)
	if err != nil {
		c.Log.Error(err, "not released", "deployment", key)
		if c.OnInvalid != nil {
			c.OnInvalid(key, err)
		}
		return
	}
	tctx, cancel := context.WithCancel(ctx)
	r := &running{spec: spec, target: tg, cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.targets[key] = r
	c.mu.Unlock()
	go func() {
		defer close(r.done)
		if prev != nil {
			<-prev.done // the old Target releases the lease first
		}
		_ = tg.Start(tctx) // returns nil when tctx ends; errors are the Target's to log and retry
	}()
}

func (c *Controller) target(d *appsv1.Deployment) (*driver.Target, error) {
	m, err := canaryFor(d)
	if err != nil {
		return nil, err
	}
	return c.Driver.Target(m, c.OnEvent)
}

// retire stops key's Target without waiting (the informer's handler must not block) and
// returns it, so whoever needs to can wait for it.
func (c *Controller) retire(key string) *running {
	c.mu.Lock()
	r := c.targets[key]
	delete(c.targets, key)
	c.mu.Unlock()
	if r != nil {
		r.cancel()
	}
	return r
}

// Targets returns the keys of the Deployments being driven.
func (c *Controller) Targets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.targets))
	for k := range c.targets {
		out = append(out, k)
	}
	return out
}

func specHash(d *appsv1.Deployment) string {
	h := sha256.Sum256([]byte(d.Annotations[AnnotationAnalysis] + "\x00" + d.Annotations[AnnotationPort] + "\x00" + d.Annotations[AnnotationAutoscaler]))
	return hex.EncodeToString(h[:8])
}

// canaryFor builds the Flagger Canary a Deployment's annotations describe. The annotations
// are values, never text of the manifest: the analysis is parsed on its own into a mapping,
// the port into a number, and the Canary is assembled as data around them, so no annotation
// can change the target, the namespace or anything outside spec.analysis. Errors name the
// annotation.
func canaryFor(d *appsv1.Deployment) (*flagger.Canary, error) {
	var analysis map[string]any
	if err := yaml.Unmarshal([]byte(d.Annotations[AnnotationAnalysis]), &analysis); err != nil {
		return nil, fmt.Errorf("annotation %s: not a YAML mapping: %w", AnnotationAnalysis, err)
	}
	if analysis == nil {
		return nil, fmt.Errorf("annotation %s: empty", AnnotationAnalysis)
	}
	port := 80
	if s, ok := d.Annotations[AnnotationPort]; ok {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("annotation %s: want a port number 1..65535, got %q", AnnotationPort, s)
		}
		port = p
	}
	spec := map[string]any{
		"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": d.Name},
		"service":   map[string]any{"port": port},
		"analysis":  analysis,
	}
	if hpa, ok := d.Annotations[AnnotationAutoscaler]; ok {
		if errs := validation.IsDNS1123Subdomain(hpa); len(errs) > 0 {
			return nil, fmt.Errorf("annotation %s: not an object name: %s", AnnotationAutoscaler, strings.Join(errs, "; "))
		}
		spec["autoscalerRef"] = map[string]any{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": hpa}
	}
	data, err := yaml.Marshal(map[string]any{
		"apiVersion": "flagger.app/v1beta1",
		"kind":       "Canary",
		"metadata":   map[string]any{"name": d.Name, "namespace": d.Namespace},
		"spec":       spec,
	})
	if err != nil {
		return nil, err
	}
	m, err := flagger.LoadCanary(data)
	if err != nil {
		// the paths name the Canary's fields: spec.analysis.* is the analysis annotation
		return nil, fmt.Errorf("annotations %s: %w", AnnotationAnalysis, err)
	}
	return m, nil
}
