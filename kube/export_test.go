package kube

import "errors"

// Halt stops the renewals of every holder lease without giving them up, as a process that
// died would.
func (hs *Holders) Halt() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for ns, h := range hs.byNS {
		h.mu.Lock()
		h.lost = errors.New("halted")
		h.mu.Unlock()
		h.stop()
		delete(hs.byNS, ns)
	}
}

// ClaimUntil exposes claimUntil.
var ClaimUntil = claimUntil
