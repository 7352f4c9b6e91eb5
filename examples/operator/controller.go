package main

import (
	"context"
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

// Controller runs a driver.Target per annotated Deployment (driver.Targets) and kicks it on
// every change of the Deployment; the Target does the rest (lease, control requests, alerts,
// releases). An edit of the analysis annotation applies from the next release; an edit of the
// port or autoscaler restarts the Target.
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
	targets *driver.Targets
}

// Run watches Deployments until ctx ends, then stops every Target (releasing their leases)
// and returns.
func (c *Controller) Run(ctx context.Context) error {
	targets := c.Driver.Targets(func(*flagger.Canary) func(canary.Event) { return c.OnEvent })
	c.mu.Lock()
	c.targets = targets
	c.mu.Unlock()
	f := informers.NewSharedInformerFactoryWithOptions(c.Driver.Client(), 0, informers.WithNamespace(c.Namespace))
	inf := f.Apps().V1().Deployments().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.sync(ctx, targets, obj) },
		UpdateFunc: func(_, obj any) { c.sync(ctx, targets, obj) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				targets.Stop(key)
			}
		},
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	targets.StopAll() // their leases released
	return nil
}

// sync starts, updates, restarts, kicks or stops the Target of a Deployment.
func (c *Controller) sync(ctx context.Context, targets *driver.Targets, obj any) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	key := d.Namespace + "/" + d.Name
	if strings.HasSuffix(d.Name, "-primary") || d.Annotations[AnnotationAnalysis] == "" {
		targets.Stop(key)
		return
	}
	m, err := canaryFor(d)
	if err == nil {
		_, _, err = targets.Apply(ctx, key, m)
	}
	if err != nil {
		targets.Stop(key) // an earlier version's Target stops: the Deployment is not released
		c.Log.Error(err, "not released", "deployment", key)
		if c.OnInvalid != nil {
			c.OnInvalid(key, err)
		}
	}
}

// Targets returns the keys of the Deployments being driven.
func (c *Controller) Targets() []string {
	c.mu.Lock()
	targets := c.targets
	c.mu.Unlock()
	if targets == nil {
		return nil
	}
	return targets.Keys()
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
