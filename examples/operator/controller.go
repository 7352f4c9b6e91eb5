package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
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

// Controller runs one driver per annotated Deployment: the driver holds the target's lease and
// calls Run whenever the Deployment (or the periodic recheck) may carry a new revision. Run
// returns at once when there is nothing to release, reading only informer caches.
type Controller struct {
	Stack     *driver.Stack
	Namespace string // "" watches every namespace
	// Recheck is how often drivers look for changes the Deployment watch cannot see
	// (ConfigMaps and Secrets it references). Default 30s.
	Recheck time.Duration
	Log     logr.Logger
	// OnEvent, if set, receives every target's events.
	OnEvent func(canary.Event)

	mu      sync.Mutex
	drivers map[string]*worker
}

// worker runs the releases of one target.
type worker struct {
	spec   string // hash of the annotations it was built from
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Run watches Deployments until ctx ends, then stops every driver (releasing their leases).
func (c *Controller) Run(ctx context.Context) error {
	if c.Recheck == 0 {
		c.Recheck = 30 * time.Second
	}
	c.drivers = map[string]*worker{}
	f := informers.NewSharedInformerFactoryWithOptions(c.Stack.Client(), 0, informers.WithNamespace(c.Namespace))
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
	keys := make([]string, 0, len(c.drivers))
	for k := range c.drivers {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		if d := c.retire(k); d != nil {
			<-d.done // its lease is released
		}
	}
	return nil
}

// sync starts, restarts (annotations changed), kicks or stops the driver of a Deployment.
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
	cur := c.drivers[key]
	c.mu.Unlock()
	if cur != nil && cur.spec == spec {
		select {
		case cur.kick <- struct{}{}:
		default:
		}
		return
	}
	prev := c.retire(key) // the annotations changed: a new driver takes over when it has stopped
	m, err := flagger.LoadCanary([]byte(manifestFor(d)))
	if err != nil {
		c.Log.Error(err, "invalid canary annotations; not released", "deployment", key)
		return
	}
	rel, err := c.Stack.Release(m, c.OnEvent)
	if err != nil {
		c.Log.Error(err, "cannot release", "deployment", key)
		return
	}
	dctx, cancel := context.WithCancel(ctx)
	drv := &worker{spec: spec, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.drivers[key] = drv
	c.mu.Unlock()
	go func() {
		defer close(drv.done)
		if prev != nil {
			<-prev.done // the old driver releases the target's lease first
		}
		c.drive(dctx, key, rel, drv.kick)
	}()
}

// drive holds the target's lease and runs releases when kicked or rechecking, until ctx ends.
func (c *Controller) drive(ctx context.Context, key string, rel *driver.Release, kick <-chan struct{}) {
	log := c.Log.WithValues("target", key)
	for ctx.Err() == nil {
		err := rel.Lease.Hold(ctx, func(ctx context.Context) error {
			go rel.Lease.Controls(ctx, func(ctl kube.Control) { _ = ctl.Apply(rel.Rollout) })
			for {
				res, err := rel.Rollout.Run(ctx)
				if err != nil {
					return err
				}
				if res.Released {
					log.Info("release ended", "revision", res.Revision, "phase", res.Phase, "reason", res.Reason)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-kick:
				case <-time.After(c.Recheck):
				}
			}
		})
		if err != nil && ctx.Err() == nil {
			log.Error(err, "driver stopped; retrying")
			select {
			case <-ctx.Done():
			case <-time.After(c.Recheck):
			}
		}
	}
}

// retire stops key's driver without waiting (the informer's handler must not block) and
// returns it, so whoever needs to can wait for it.
func (c *Controller) retire(key string) *worker {
	c.mu.Lock()
	drv := c.drivers[key]
	delete(c.drivers, key)
	c.mu.Unlock()
	if drv != nil {
		drv.cancel()
	}
	return drv
}

// Drivers returns the keys of the targets being driven.
func (c *Controller) Drivers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.drivers))
	for k := range c.drivers {
		out = append(out, k)
	}
	return out
}

func specHash(d *appsv1.Deployment) string {
	h := sha256.Sum256([]byte(d.Annotations[AnnotationAnalysis] + "\x00" + d.Annotations[AnnotationPort] + "\x00" + d.Annotations[AnnotationAutoscaler]))
	return hex.EncodeToString(h[:8])
}

// manifestFor writes the Flagger Canary manifest a Deployment's annotations describe.
func manifestFor(d *appsv1.Deployment) string {
	port := d.Annotations[AnnotationPort]
	if port == "" {
		port = "80"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: %q, namespace: %q}\nspec:\n", d.Name, d.Namespace)
	fmt.Fprintf(&b, "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: %q}\n  service: {port: %s}\n", d.Name, port)
	if hpa := d.Annotations[AnnotationAutoscaler]; hpa != "" {
		fmt.Fprintf(&b, "  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: %q}\n", hpa)
	}
	b.WriteString("  analysis:\n")
	for _, line := range strings.Split(strings.TrimRight(d.Annotations[AnnotationAnalysis], "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}
