package mesh

import (
	"maps"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/canarykit/canarykit/canary"
)

// The canary Ingress following the user's during a release, from a cache (NGINXOptions.Cache).

// IngressCache reads Ingresses from a cache, making no request. CachedIngress returns the
// Ingress namespace/name, nil if the cache has none of that name, and synced false while the
// cache cannot answer (not synced yet, or not allowed to list and watch Ingresses). The
// objects are the cache's: not to be changed.
type IngressCache interface {
	CachedIngress(namespace, name string) (ing *networkingv1.Ingress, synced bool)
}

// maxRefused bounds NGINX.refused.
const maxRefused = 4096

// userChanged reports whether the cache shows t's canary Ingress behind the user's: reshaped
// to it, the canary Ingress would change more than its canary annotations (the weights and
// A/B state SetWeights writes anyway). It is false whenever the cache cannot tell (not synced,
// either Ingress missing, a canary Ingress not the router's for t, a user's Ingress the router
// refuses: a release's Reconcile reports those), so a step then makes its one request as
// without a cache.
func (r *NGINX) userChanged(t canary.Target, w canary.Weights) bool {
	user, ok := r.cache.CachedIngress(t.Namespace, t.IngressName())
	if !ok || user == nil {
		return false
	}
	cur, ok := r.cache.CachedIngress(t.Namespace, CanaryIngressName(t))
	if !ok || cur == nil || r.check(cur, t) != nil {
		return false
	}
	want, copied, err := r.desiredFrom(t, user, w)
	if r.refusedBefore(t, user, err) {
		return false
	}
	if err != nil {
		r.log.Info("the user's Ingress changed into one the canary Ingress cannot follow; kept as it is", "target", t.String(), "ingress", user.Name, "error", err.Error())
		return false
	}
	next := r.next(t, cur, want, copied, w)
	unstated := func(a map[string]string) map[string]string {
		out := maps.Clone(a)
		maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, r.key(nginxCanary)) })
		return out
	}
	return !apiequality.Semantic.DeepEqual(cur.Spec, next.Spec) || !maps.Equal(cur.Labels, next.Labels) ||
		!maps.Equal(unstated(cur.Annotations), unstated(next.Annotations))
}

// refusedBefore records whether the canary Ingress can follow user (err is why it cannot) and
// reports whether that refusal of this version of user was recorded before.
func (r *NGINX) refusedBefore(t canary.Target, user *networkingv1.Ingress, err error) bool {
	key := t.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.refused, key)
		return false
	}
	if v, ok := r.refused[key]; ok && v == user.ResourceVersion {
		return true
	}
	if r.refused == nil || len(r.refused) >= maxRefused {
		r.refused = map[string]string{}
	}
	r.refused[key] = user.ResourceVersion
	return false
}
