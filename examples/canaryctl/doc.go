// Command canaryctl runs a Flagger Canary manifest with canarykit against the current
// kubeconfig's cluster, in the foreground, with live progress — no operator to install.
//
//	canaryctl run -f canary.yaml [-t flagger-objects.yaml ...] [--prometheus URL] [--router smi|httproute|kubernetes]
//	canaryctl status -f canary.yaml            (or: canaryctl status NAMESPACE/NAME)
//	canaryctl promote|abort|pause|resume -f canary.yaml
//
// run drives the target's current revision to its end: exit 0 when it is promoted (or there is
// nothing to release), 1 when it is rolled back (also when run again on a revision that was
// rolled back), 2 on any other error. The Flagger MetricTemplates and AlertProviders the
// Canary refers to (metric templateRefs, alert providerRefs) are looked up in the -t files,
// then in the cluster; the alerts are delivered while run runs. The release can be
// stopped (Ctrl-C) and resumed by running again. promote, abort, pause and resume steer the
// canaryctl run (or any canarykit driver) that holds the target's lease, from anywhere.
package main
