package kube

import coordinationv1 "k8s.io/api/coordination/v1"

// Halt stops the renewals of every holder lease without giving them up and without telling
// the leases they vouch for, as in a process that froze or died.
func (hs *Holders) Halt() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for ns, h := range hs.byNS {
		h.mu.Lock()
		h.halted = true
		h.mu.Unlock()
		h.stop()
		delete(hs.byNS, ns)
	}
}

// ClaimUntil exposes claimUntil.
var ClaimUntil = claimUntil

// HeldObject is the Lease object l keeps between its writes.
func HeldObject(l *Lease) *coordinationv1.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.obj
}

// Parked reports whether l's renewals wait without a goroutine.
func Parked(l *Lease) bool { return l.parked.Load() != nil }
