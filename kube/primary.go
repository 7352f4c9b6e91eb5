package kube

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/canarykit/canarykit/canary"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// selectorLabels are the label keys whose value names an app, in Flagger's order of preference.
var selectorLabels = []string{"app", "name", "app.kubernetes.io/name"}

// selectorLabel returns the target's app label key and value: the first of app, name,
// app.kubernetes.io/name in its selector.
func selectorLabel(d *appsv1.Deployment) (string, string, error) {
	if d.Spec.Selector != nil {
		for _, k := range selectorLabels {
			if v, ok := d.Spec.Selector.MatchLabels[k]; ok && v != "" {
				return k, v, nil
			}
		}
	}
	return "", "", canary.Permanent(fmt.Errorf(
		"deployment %s/%s: its selector has none of the labels app, name, app.kubernetes.io/name", d.Namespace, d.Name))
}

// AnnotationRevision on the primary Deployment is the revision it was created or promoted with.
const AnnotationRevision = "canarykit.dev/revision"

// template is the target as Bootstrap and Promote need it: its app label and the configs its
// pod template references.
type template struct {
	nc         *nsCache
	d          *appsv1.Deployment
	key, value string
	tracked    []trackedConfig
}

func (w *Workload) lookupTemplate(ctx context.Context, t canary.Target) (template, error) {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return template{}, err
	}
	key, value, err := selectorLabel(d)
	if err != nil {
		return template{}, err
	}
	tracked, err := nc.trackedConfigs(t.Namespace, &d.Spec.Template.Spec, &w.memo)
	return template{nc: nc, d: d, key: key, value: value, tracked: tracked}, err
}

// Bootstrap creates what the target needs, or adopts what canarykit created for it earlier:
// the primary Deployment (from the target's current spec), primary copies of tracked configs,
// the apex, primary and canary Services, and the primary autoscaler. Existing objects are not
// changed, except Services whose selector or ports drifted (the apex's selector only with
// ApexSelectsPrimary) and objects of an earlier canarykit, which get the Canary recorded. An
// apex Service without the managed-by label (one a user keeps in Git) is adopted if it selects
// the target's pods: see syncService. Before its first write it refuses Service names the API
// server would refuse, and everything it would refuse on its way (see preflight). At most Options.MaxBootstraps targets of the Cluster write
// their objects at once (the reading of the caches, which may wait for their first sync, is not
// counted).
func (w *Workload) Bootstrap(ctx context.Context, t canary.Target) error {
	if err := serviceNames(t); err != nil {
		return err
	}
	tg, err := w.lookupTemplate(ctx, t)
	if err != nil {
		return err
	}
	done, err := w.c.bootstrapTurn(ctx)
	if err != nil {
		return err
	}
	defer done()
	nc, d, key, value, tracked := tg.nc, tg.d, tg.key, tg.value, tg.tracked
	if err := w.preflight(nc, d, t, tracked); err != nil {
		return err
	}
	if err := w.syncConfigs(ctx, nc, d, tracked, false); err != nil {
		return err
	}
	p, err := nc.deployment(t.Namespace, t.PrimaryName())
	if apierrors.IsNotFound(err) {
		p, err = w.createPrimary(ctx, d, key, value, tracked)
	}
	switch {
	case err != nil:
		return err
	case p != nil:
		if err := w.checkOwned(p, "deployment", d); err != nil {
			return err
		}
		if unclaimed(p) {
			var rev string
			if p.Annotations[AnnotationRevision] == "" { // Flagger's: record what it runs, if the target's
				rev = w.primaryRevision(nc, p, d, tracked, w.memo.revisionOf(d, tracked))
			}
			if err := w.claimPrimary(ctx, p, rev); err != nil {
				return err
			}
		}
	}
	if err := w.syncServices(ctx, nc, d, key, value); err != nil {
		return err
	}
	if w.keda() {
		return w.syncScaledObject(ctx, nc, d, false)
	}
	if w.opts.Autoscaler != "" {
		return w.syncAutoscaler(ctx, nc, d, false)
	}
	return nil
}

// syncServices creates or corrects the apex, primary and canary Services of d (see
// syncService); the apex's selector is the router's unless ApexSelectsPrimary.
func (w *Workload) syncServices(ctx context.Context, nc *nsCache, d *appsv1.Deployment, key, value string) error {
	t := w.opts.Target
	for _, s := range []struct {
		name, selects string
		keepSelector  bool
	}{
		{t.ApexService(), value + "-primary", !w.opts.ApexSelectsPrimary},
		{t.PrimaryService(), value + "-primary", false},
		{t.CanaryService(), value, false},
	} {
		if err := w.syncService(ctx, nc, d, s.name, key, s.selects, s.keepSelector); err != nil {
			return err
		}
	}
	return nil
}

// preflight refuses, before Bootstrap writes anything, what it would refuse on its way (so a
// refusal leaves nothing behind, races aside): a config copy, primary, Service or primary
// autoscaler of the target's names that is not the Workload's, an apex Service it may not
// adopt, container ports PortDiscovery cannot put on the Services, or a target ScaledObject
// that is missing or cannot be copied for the primary (see primaryScaledObjectSpec). Objects missing from
// the caches are left to the writes that create them.
func (w *Workload) preflight(nc *nsCache, d *appsv1.Deployment, t canary.Target, tracked []trackedConfig) error {
	ns := t.Namespace
	if _, err := servicePorts(&w.opts, d); err != nil {
		return err
	}
	for _, tc := range tracked {
		name := primaryConfigName(tc.ref.name)
		switch {
		case tc.configMap != nil:
			if cm, err := nc.configMaps.ConfigMaps(ns).Get(name); err == nil {
				if err := w.checkOwned(cm, "configmap", d); err != nil {
					return err
				}
			}
		case tc.secret != nil:
			if s, err := nc.secrets.Secrets(ns).Get(name); err == nil {
				if err := w.checkOwned(s, "secret", d); err != nil {
					return err
				}
			}
		}
	}
	if p, err := nc.deployment(ns, t.PrimaryName()); err == nil {
		if err := w.checkOwned(p, "deployment", d); err != nil {
			return err
		}
	}
	for _, name := range []string{t.ApexService(), t.PrimaryService(), t.CanaryService()} {
		if s, err := nc.service(ns, name); err == nil {
			if _, err := w.checkService(s, d); err != nil {
				return err
			}
		}
	}
	if w.keda() {
		return w.preflightScaledObject(nc, d)
	}
	if w.opts.Autoscaler != "" {
		if h, err := nc.hpa(ns, w.opts.Autoscaler+"-primary"); err == nil {
			return w.checkOwned(h, "horizontalpodautoscaler", d)
		}
	}
	return nil
}

// primarySpec is the primary's DeploymentSpec for the target d: d's template with the primary
// label value and config references, and d's rollout settings.
func (w *Workload) primarySpec(d *appsv1.Deployment, key, value string, tracked []trackedConfig) appsv1.DeploymentSpec {
	tmpl := d.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[key] = value + "-primary"
	rewriteConfigRefs(&tmpl.Spec, tracked)
	return appsv1.DeploymentSpec{
		Replicas:                d.Spec.Replicas,
		Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{key: value + "-primary"}},
		Template:                *tmpl,
		Strategy:                d.Spec.Strategy,
		MinReadySeconds:         d.Spec.MinReadySeconds,
		RevisionHistoryLimit:    d.Spec.RevisionHistoryLimit,
		ProgressDeadlineSeconds: d.Spec.ProgressDeadlineSeconds,
	}
}

// createPrimary creates the primary Deployment. One created meanwhile (by another Bootstrap of
// this Canary or of another one) is returned for the caller to check; nil when created.
func (w *Workload) createPrimary(ctx context.Context, d *appsv1.Deployment, key, value string, tracked []trackedConfig) (*appsv1.Deployment, error) {
	labels := copyStringMap(d.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[key] = value + "-primary"
	p := &appsv1.Deployment{ObjectMeta: w.managedMeta(d, d.Name+"-primary", labels), Spec: w.primarySpec(d, key, value, tracked)}
	p.Annotations[AnnotationRevision] = w.memo.revisionOf(d, tracked)
	if p.Spec.Replicas == nil || *p.Spec.Replicas == 0 {
		p.Spec.Replicas = ptr.To(int32(1))
	}
	created, err := w.c.client.AppsV1().Deployments(d.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err := w.c.client.AppsV1().Deployments(d.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get deployment %s/%s: %w", d.Namespace, p.Name, err)
		}
		return cur, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create deployment %s/%s: %w", d.Namespace, p.Name, err)
	}
	w.setPrimaryGen(created.Generation)
	w.log.Info("created primary deployment", "name", p.Name)
	return nil, nil
}

// claimPrimary records the Workload's target and Canary (and the managed-by label) on a
// primary an earlier canarykit or Flagger made, and rev, if set, as its revision, on the
// version read (a conflict is retried by the caller, and finds the claim of a Canary that
// came first).
func (w *Workload) claimPrimary(ctx context.Context, p *appsv1.Deployment, rev string) error {
	annotations := map[string]string{AnnotationTarget: w.opts.Target.Name, AnnotationCanary: w.canaryName()}
	if rev != "" {
		annotations[AnnotationRevision] = rev
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": p.ResourceVersion, "labels": map[string]string{canary.LabelManagedBy: canary.ManagedBy},
		"annotations": annotations}})
	if err != nil {
		return err
	}
	if _, err := w.c.client.AppsV1().Deployments(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("record canary %s on deployment %s/%s: %w", w.canaryName(), p.Namespace, p.Name, err)
	}
	w.log.Info("recorded the canary on the primary deployment", "name", p.Name)
	return nil
}

func (w *Workload) setPrimaryGen(g int64) {
	w.mu.Lock()
	w.primaryGen = g
	w.mu.Unlock()
}

// Promote copies the target's pod template (with primary config references), strategy,
// minReadySeconds, progress deadline and revision history limit to the primary, the tracked
// configs to their primary copies, and — without an autoscaler — the replicas; with one, it
// re-syncs the primary's autoscaler; with PortDiscovery, the Services get the target's ports.
// It refuses (canary.ErrRevisionChanged) when the target is
// no longer at the analysed revision. Nothing is written when the primary is already promoted.
func (w *Workload) Promote(ctx context.Context, t canary.Target, analysed string) error {
	tg, err := w.lookupTemplate(ctx, t)
	if err != nil {
		return err
	}
	nc, d, key, value, tracked := tg.nc, tg.d, tg.key, tg.value, tg.tracked
	if rev := w.memo.revisionOf(d, tracked); rev != analysed {
		return fmt.Errorf("%w: %s was analysed at revision %s and is now at %s", canary.ErrRevisionChanged, t, analysed, rev)
	}
	if err := w.syncConfigs(ctx, nc, d, tracked, true); err != nil {
		return err
	}
	want := w.primarySpec(d, key, value, tracked)
	rev := analysed
	p, err := nc.deployment(t.Namespace, t.PrimaryName())
	if err != nil {
		return fmt.Errorf("get primary deployment %s/%s: %w", t.Namespace, t.PrimaryName(), err)
	}
	if err := w.checkOwned(p, "deployment", d); err != nil {
		return err
	}
	err = retryOnConflict(func() error {
		if promoted(p, want, w.opts.Autoscaler != "") && p.Annotations[AnnotationRevision] == rev && !unclaimed(p) {
			return nil
		}
		u := p.DeepCopy()
		w.claim(&u.ObjectMeta)
		u.Annotations[AnnotationRevision] = rev
		u.Spec.Template = want.Template
		u.Spec.Strategy = want.Strategy
		u.Spec.MinReadySeconds = want.MinReadySeconds
		u.Spec.RevisionHistoryLimit = want.RevisionHistoryLimit
		u.Spec.ProgressDeadlineSeconds = want.ProgressDeadlineSeconds
		if w.opts.Autoscaler == "" && want.Replicas != nil && *want.Replicas > 0 {
			u.Spec.Replicas = want.Replicas
		}
		updated, err := w.c.client.AppsV1().Deployments(t.Namespace).Update(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := w.c.client.AppsV1().Deployments(t.Namespace).Get(ctx, t.PrimaryName(), metav1.GetOptions{}); gerr == nil {
				if oerr := w.checkOwned(fresh, "deployment", d); oerr != nil {
					return oerr
				}
				p = fresh
			}
			return err
		}
		if err != nil {
			return err
		}
		w.setPrimaryGen(updated.Generation)
		return nil
	})
	if err != nil {
		return fmt.Errorf("update primary deployment %s/%s: %w", t.Namespace, t.PrimaryName(), err)
	}
	if w.opts.PortDiscovery { // the Services carry the promoted revision's ports
		if err := w.syncServices(ctx, nc, d, key, value); err != nil {
			return err
		}
	}
	if w.keda() {
		return w.syncScaledObject(ctx, nc, d, true)
	}
	if w.opts.Autoscaler != "" {
		return w.syncAutoscaler(ctx, nc, d, true)
	}
	return nil
}

// promoted reports whether p already runs want.
func promoted(p *appsv1.Deployment, want appsv1.DeploymentSpec, hasAutoscaler bool) bool {
	s := p.Spec
	same := equality.Semantic.DeepEqual(s.Template, want.Template) &&
		equality.Semantic.DeepEqual(s.Strategy, want.Strategy) &&
		s.MinReadySeconds == want.MinReadySeconds &&
		equality.Semantic.DeepEqual(s.RevisionHistoryLimit, want.RevisionHistoryLimit) &&
		equality.Semantic.DeepEqual(s.ProgressDeadlineSeconds, want.ProgressDeadlineSeconds)
	if !hasAutoscaler && want.Replicas != nil && *want.Replicas > 0 {
		same = same && s.Replicas != nil && *s.Replicas == *want.Replicas
	}
	return same
}

// syncConfigs creates the primary copies of tracked configs, records the Workload's Canary on
// copies an earlier canarykit made, and with update, brings existing copies level with the
// originals.
func (w *Workload) syncConfigs(ctx context.Context, nc *nsCache, d *appsv1.Deployment, tracked []trackedConfig, update bool) error {
	ns := d.Namespace
	for _, tc := range tracked {
		name := primaryConfigName(tc.ref.name)
		switch {
		case tc.configMap != nil:
			want := &corev1.ConfigMap{ObjectMeta: w.managedMeta(d, name, tc.configMap.Labels),
				Data: tc.configMap.Data, BinaryData: tc.configMap.BinaryData, Immutable: tc.configMap.Immutable}
			api := w.c.client.CoreV1().ConfigMaps(ns)
			cur, err := nc.configMaps.ConfigMaps(ns).Get(name)
			if apierrors.IsNotFound(err) {
				if _, err = api.Create(ctx, want, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
					cur, err = api.Get(ctx, name, metav1.GetOptions{}) // made meanwhile: checked below
				}
			}
			if err == nil && cur != nil {
				err = w.checkOwned(cur, "configmap", d)
			}
			stale := err == nil && cur != nil && update &&
				(!equality.Semantic.DeepEqual(cur.Data, want.Data) || !equality.Semantic.DeepEqual(cur.BinaryData, want.BinaryData))
			if err == nil && cur != nil && (stale || unclaimed(cur)) {
				u := cur.DeepCopy()
				w.claim(&u.ObjectMeta)
				if stale {
					u.Data, u.BinaryData = want.Data, want.BinaryData
				}
				_, err = api.Update(ctx, u, metav1.UpdateOptions{})
			}
			if err != nil {
				return fmt.Errorf("sync configmap %s/%s: %w", ns, name, err)
			}
		case tc.secret != nil:
			want := &corev1.Secret{ObjectMeta: w.managedMeta(d, name, tc.secret.Labels), Data: tc.secret.Data, Type: tc.secret.Type}
			api := w.c.client.CoreV1().Secrets(ns)
			cur, err := nc.secrets.Secrets(ns).Get(name)
			if apierrors.IsNotFound(err) {
				if _, err = api.Create(ctx, want, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
					cur, err = api.Get(ctx, name, metav1.GetOptions{})
				}
			}
			if err == nil && cur != nil {
				err = w.checkOwned(cur, "secret", d)
			}
			stale := err == nil && cur != nil && update && !equality.Semantic.DeepEqual(cur.Data, want.Data)
			if err == nil && cur != nil && (stale || unclaimed(cur)) {
				u := cur.DeepCopy()
				w.claim(&u.ObjectMeta)
				if stale {
					u.Data = want.Data
				}
				_, err = api.Update(ctx, u, metav1.UpdateOptions{})
			}
			if err != nil {
				return fmt.Errorf("sync secret %s/%s: %w", ns, name, err)
			}
		}
	}
	return nil
}
