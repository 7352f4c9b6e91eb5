package main

// restored takes an update that changed only the status of a Canary driven here (the
// driver's own write, one per step): the self-metrics follow it, and the Canary is neither
// loaded nor applied again. Any other update is sync's.
func (c *Controller) restored(old, obj any) bool {
	prev, ok := old.(*canaryObject)
	u, ok2 := obj.(*canaryObject)
	if !ok || !ok2 || !statusOnly(prev, u) {
		return false
	}
	key := u.GetNamespace() + "/" + u.GetName()
	c.mu.Lock()
	l := c.last[key]
	cn := l.cn
	_, warned := c.warned[key]
	_, moving := c.moving[key]
	ending := c.isEnding(key, u.GetUID())
	c.mu.Unlock()
	if cn == nil || l.uid != u.GetUID() || warned || moving || ending || c.targets.Canary(key) == nil {
		return false
	}
	if u.Status.ok && c.Restore != nil {
		c.Restore(cn.Target, u.Status.st)
	}
	return true
}
