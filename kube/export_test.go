package kube

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
