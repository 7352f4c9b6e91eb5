package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/canarykit/canarykit/canary"
)

// selectorLabels are the label keys whose value names an app, in Flagger's order of preference.
var selectorLabels = []string{"app", "name", "app.kubernetes.io/name"}

// selectorLabel returns the target's app label key and value: the first of app, name,
// app.kubernetes.io/name in its selector.
func selectorLabel(d app) (string, string, error) {
	if d.Selector != nil {
		for _, k := range selectorLabels {
			if v, ok := d.Selector.MatchLabels[k]; ok && v != "" {
				return k, v, nil
			}
		}
	}
	return "", "", canary.Permanent(fmt.Errorf(
		"%s %s/%s: its selector has none of the labels app, name, app.kubernetes.io/name", d.resource(), d.Namespace, d.Name))
}

// primaryLabel refuses a target whose app label value cannot name the primary's pods:
// "<value>-primary" must be a label value (at most 63 characters), or the API server refuses
// the primary once the config copies are written.
func primaryLabel(d app, key, value string) error {
	msgs := validation.IsValidLabelValue(value + "-primary")
	if len(msgs) == 0 {
		return nil
	}
	return canary.Permanent(&canary.ValidationError{
		Subject: fmt.Sprintf("%s %s/%s as a canary target", d.resource(), d.Namespace, d.Name),
		Problems: []canary.FieldError{{Field: "spec.selector.matchLabels." + key,
			Message: fmt.Sprintf("%q cannot label the primary's pods: %q is not a label value: %s",
				value, value+"-primary", strings.Join(msgs, "; "))}}})
}

// AnnotationRevision on the primary (Deployment or DaemonSet) is the revision it was created or promoted with.
const AnnotationRevision = "canarykit.dev/revision"

// template is the target as Bootstrap and Promote need it: its app label and the configs its
// pod template references.
type template struct {
	nc         *nsCache
	d          app
	key, value string
	tracked    []trackedConfig
}

func (w *Workload) lookupTemplate(ctx context.Context, t canary.Target) (template, error) {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return template{}, err
	}
	if err := copyable(d); err != nil {
		return template{}, err
	}
	key, value, err := selectorLabel(d)
	if err != nil {
		return template{}, err
	}
	if err := primaryLabel(d, key, value); err != nil {
		return template{}, err
	}
	tracked, err := nc.trackedConfigs(t.Namespace, &d.Template.Spec, &w.memo)
	if err != nil {
		return template{}, err
	}
	if err := copyNames(d, tracked); err != nil {
		return template{}, err
	}
	return template{nc: nc, d: d, key: key, value: value, tracked: tracked}, nil
}

// copyNames refuses tracked configs whose primary copy cannot be named: "<name>-primary" must
// be an object name (at most 253 characters), or the API server refuses the copy once others
// are written.
func copyNames(d app, tracked []trackedConfig) error {
	for _, tc := range tracked {
		if tc.configMap == nil && tc.secret == nil {
			continue
		}
		name := primaryConfigName(tc.ref.name)
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			return canary.Permanent(fmt.Errorf("%s %s/%s references %s, whose primary copy cannot be named %q: %s",
				d.resource(), d.Namespace, d.Name, tc.ref, name, strings.Join(msgs, "; ")))
		}
	}
	return nil
}

// Bootstrap creates what the target needs, or adopts what canarykit created for it earlier:
// the primary Deployment (from the target's current spec), primary copies of tracked configs,
// the apex, primary and canary Services, and the primary autoscaler. Existing objects are not
// changed, except Services whose selector or ports drifted (the apex's selector only with
// ApexSelectsPrimary), config copies and the primary autoscaler when the primary is made
// (brought level with their originals, which the new primary runs and scales by) and objects
// of an earlier canarykit, which get the Canary recorded. An
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
	// a primary about to be made runs the target's configuration (its recorded revision says
	// so): copies left by an earlier primary are brought level first
	p, err := w.kind.cached(nc, t.Namespace, t.PrimaryName())
	made := apierrors.IsNotFound(err)
	if err := w.syncConfigs(ctx, nc, d, tracked, made); err != nil {
		return err
	}
	if made {
		p, err = w.createPrimary(ctx, d, key, value, tracked)
	}
	switch {
	case err != nil:
		return err
	case p.found():
		if err := w.checkOwned(p.ObjectMeta, w.kind.resource(), d); err != nil {
			return err
		}
		if unclaimed(p.ObjectMeta) {
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
	// the primary about to run gets the target's autoscaling too: a copy left by an earlier
	// primary (or made for another spec of the target's autoscaler) is brought level
	if w.keda() {
		return w.syncScaledObject(ctx, nc, d, made)
	}
	if w.opts.Autoscaler != "" {
		return w.syncAutoscaler(ctx, nc, d, made)
	}
	return nil
}

// syncServices creates or corrects the apex, primary and canary Services of d (see
// syncService); the apex's selector is the router's unless ApexSelectsPrimary.
func (w *Workload) syncServices(ctx context.Context, nc *nsCache, d app, key, value string) error {
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
func (w *Workload) preflight(nc *nsCache, d app, t canary.Target, tracked []trackedConfig) error {
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
	if p, err := w.kind.cached(nc, ns, t.PrimaryName()); err == nil {
		if err := w.checkOwned(p.ObjectMeta, w.kind.resource(), d); err != nil {
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

// primaryTemplate is the primary's pod template for the target d: d's template with the
// primary label value and config references, without ScaleToZeroNodeSelector.
func (w *Workload) primaryTemplate(d app, key, value string, tracked []trackedConfig) *corev1.PodTemplateSpec {
	tmpl := d.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[key] = value + "-primary"
	rewriteConfigRefs(&tmpl.Spec, tracked)
	if d.Kind == KindDaemonSet {
		delete(tmpl.Spec.NodeSelector, ScaleToZeroNodeSelector)
		if len(tmpl.Spec.NodeSelector) == 0 {
			tmpl.Spec.NodeSelector = nil
		}
	}
	return tmpl
}

// createPrimary creates the primary: the target's kind, selecting the primary label value, with
// primaryTemplate and the target's rollout settings (a Deployment's replicas, at least 1). One
// created meanwhile (by another Bootstrap of this Canary or of another one) is returned for
// the caller to check; none when created.
func (w *Workload) createPrimary(ctx context.Context, d app, key, value string, tracked []trackedConfig) (app, error) {
	labels := copiedLabels(d.Labels)
	labels[key] = value + "-primary"
	meta := w.managedMeta(d, d.Name+"-primary", labels)
	meta.Annotations[AnnotationRevision] = w.memo.revisionOf(d, tracked)
	p := w.kind.newPrimary(d, meta, &metav1.LabelSelector{MatchLabels: map[string]string{key: value + "-primary"}},
		w.primaryTemplate(d, key, value, tracked))
	res := w.kind.resource()
	created, err := w.kind.create(ctx, w.c.client, p)
	if apierrors.IsAlreadyExists(err) {
		cur, err := w.kind.fetch(ctx, w.c.client, d.Namespace, p.Name)
		if err != nil {
			return app{}, fmt.Errorf("get %s %s/%s: %w", res, d.Namespace, p.Name, err)
		}
		return cur, nil
	}
	if err != nil {
		return app{}, fmt.Errorf("create %s %s/%s: %w", res, d.Namespace, p.Name, err)
	}
	w.setPrimaryGen(created.Generation)
	w.log.Info("created primary "+res, "name", p.Name)
	return app{}, nil
}

// claimPrimary records the Workload's target and Canary (and the managed-by label) on a
// primary an earlier canarykit or Flagger made, and rev, if set, as its revision, on the
// version read (a conflict is retried by the caller, and finds the claim of a Canary that
// came first).
func (w *Workload) claimPrimary(ctx context.Context, p app, rev string) error {
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
	if _, err := w.kind.patch(ctx, w.c.client, p.Namespace, p.Name, patch); err != nil {
		return fmt.Errorf("record canary %s on %s %s/%s: %w", w.canaryName(), w.kind.resource(), p.Namespace, p.Name, err)
	}
	w.log.Info("recorded the canary on the primary "+w.kind.resource(), "name", p.Name)
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
	tmpl := w.primaryTemplate(d, key, value, tracked)
	rev := analysed
	res := w.kind.resource()
	p, err := w.kind.cached(nc, t.Namespace, t.PrimaryName())
	if err != nil {
		return fmt.Errorf("get primary %s %s/%s: %w", res, t.Namespace, t.PrimaryName(), err)
	}
	if err := w.checkOwned(p.ObjectMeta, res, d); err != nil {
		return err
	}
	err = retryOnConflict(func() error {
		u, same := w.kind.promotion(p, d, tmpl, w.opts.Autoscaler != "")
		if same && p.Annotations[AnnotationRevision] == rev && !unclaimed(p.ObjectMeta) {
			return nil
		}
		w.claim(u.ObjectMeta)
		u.Annotations[AnnotationRevision] = rev
		updated, err := w.kind.update(ctx, w.c.client, u)
		if apierrors.IsConflict(err) {
			if fresh, gerr := w.kind.fetch(ctx, w.c.client, t.Namespace, t.PrimaryName()); gerr == nil {
				if oerr := w.checkOwned(fresh.ObjectMeta, res, d); oerr != nil {
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
		return fmt.Errorf("update primary %s %s/%s: %w", res, t.Namespace, t.PrimaryName(), err)
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

// syncConfigs creates the primary copies of tracked configs, records the Workload's Canary on
// copies an earlier canarykit made, and with update (at promotion, and at a Bootstrap that
// makes the primary), brings existing copies level with the originals.
func (w *Workload) syncConfigs(ctx context.Context, nc *nsCache, d app, tracked []trackedConfig, update bool) error {
	ns := d.Namespace
	for _, tc := range tracked {
		name := primaryConfigName(tc.ref.name)
		switch {
		case tc.configMap != nil:
			// never immutable, whatever the original: an immutable original is replaced by
			// deleting it and creating it again, and its copy must follow at the promotion
			want := &corev1.ConfigMap{ObjectMeta: w.managedMeta(d, name, copiedLabels(tc.configMap.Labels)),
				Data: tc.configMap.Data, BinaryData: tc.configMap.BinaryData}
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
			switch {
			case stale && cur.Immutable != nil && *cur.Immutable:
				// an immutable copy (as copies were made before) is made again, if unchanged since read
				err = api.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}})
				if err == nil {
					_, err = api.Create(ctx, want, metav1.CreateOptions{})
				}
				err = remakeRefused(err, "configmaps", "the copy is immutable and its data is not the original's")
			case err == nil && cur != nil && (stale || unclaimed(cur)):
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
			want := &corev1.Secret{ObjectMeta: w.managedMeta(d, name, copiedLabels(tc.secret.Labels)), Data: tc.secret.Data, Type: tc.secret.Type}
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
			retyped := err == nil && cur != nil && update && secretType(cur.Type) != secretType(want.Type)
			stale := err == nil && cur != nil && update && !equality.Semantic.DeepEqual(cur.Data, want.Data)
			switch {
			case retyped || stale && cur.Immutable != nil && *cur.Immutable:
				// a Secret's type (and an immutable one's data) changes only by making it again,
				// as its original was: the copy is, if unchanged since read
				err = api.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}})
				if err == nil {
					_, err = api.Create(ctx, want, metav1.CreateOptions{})
				}
				why := "the copy is immutable and its data is not the original's"
				if retyped {
					why = fmt.Sprintf("the original's type is %s, the copy's %s, and a type changes only by making the Secret again", secretType(want.Type), secretType(cur.Type))
				}
				err = remakeRefused(err, "secrets", why)
			case err == nil && cur != nil && (stale || unclaimed(cur)):
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

// remakeRefused explains err, a copy's deletion and creation again, when the API server refused
// the deletion for want of the delete verb on resource: kube.RBAC() has none, and the copy
// cannot follow its original without it.
func remakeRefused(err error, resource, why string) error {
	if !apierrors.IsForbidden(err) {
		return err
	}
	return fmt.Errorf("%s, so the copy must be deleted and made again, which needs delete on %s (kube.RevertRBAC() grants it, kube.RBAC() does not): %w", why, resource, err)
}

// secretType is t as the API server stores it: an empty type is Opaque.
func secretType(t corev1.SecretType) corev1.SecretType {
	if t == "" {
		return corev1.SecretTypeOpaque
	}
	return t
}
