package kube

import (
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// CachedIngress returns the Ingress namespace/name as a watch of the namespace's Ingresses
// sees it, nil if there is none of that name (mesh.IngressCache, given to the NGINX router,
// which follows the user's Ingress with it). The watch starts with the first call for a
// namespace whose caches run (a target's: it does not start them), and stops with them;
// until it has synced, and for good if the identity may not list and watch Ingresses, synced
// is false (client-go logs the refused lists). It makes no request and never waits: the other
// caches of the namespace do not wait for it either, nor name its failures when they time out.
func (c *Cluster) CachedIngress(namespace, name string) (ing *networkingv1.Ingress, synced bool) {
	c.mu.Lock()
	nc := c.caches[namespace]
	if nc == nil || c.closed {
		c.mu.Unlock()
		return nil, false
	}
	if nc.ingresses == nil {
		inf := nc.factory.Networking().V1().Ingresses()
		// its list/watch failures are client-go's to log: no read waits for this cache, so a
		// sync timeout of the namespace's caches does not name them
		nc.ingresses, nc.ingressesSynced = inf.Lister(), inf.Informer().HasSynced
		nc.factory.Start(nc.stop)
	}
	lister, hasSynced := nc.ingresses, nc.ingressesSynced
	c.mu.Unlock()
	if !hasSynced() {
		return nil, false
	}
	ing, err := lister.Ingresses(namespace).Get(name)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, false
		}
		return nil, true
	}
	return ing, true
}
