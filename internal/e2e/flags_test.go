package e2e

import "flag"

// realtime keeps the manifests' own times (30 s intervals: a release takes about six minutes).
var realtime bool

func init() {
	flag.BoolVar(&realtime, "e2e.realtime", false, "run releases at the manifests' own intervals (slow)")
}
