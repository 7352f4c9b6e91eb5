// Command canaryctl runs a Flagger Canary manifest with canarykit against the current
// kubeconfig's cluster, in the foreground, with live progress — no operator to install.
//
//	canaryctl run -f canary.yaml [-t flagger-objects.yaml ...] [--prometheus URL] [--router smi|httproute|kubernetes]
//	canaryctl validate -f canary.yaml [-t flagger-objects.yaml ...]
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
//
// validate checks a manifest without a cluster (no kubeconfig is read): what the Canary and the
// -t files hold is loaded, the references the files hold are resolved, and the release is
// built as run builds it, with stand-ins for the cluster. Every problem is printed as
// "FILE: FIELD: MESSAGE"; references the files do not hold are listed as read from the cluster
// at run time, not guessed. Exit 0 when the manifest would run, 1 when it has problems, 2 on
// usage errors (a file that cannot be read included): what a GitOps pipeline runs before a
// manifest reaches the cluster.
//
// status prints the phase, weight, checks and revisions of the target's last release from its
// Lease or, for a release driven with its status on the Canary object (the Flagger-compatible
// controller), from the Canary named by the manifest (with NAMESPACE/NAME: the Canary NAME).
//
// What the manifests, the cluster and the metrics servers wrote is printed with its control
// characters (escape sequences, carriage returns, line breaks), bidirectional overrides and
// bytes that are not UTF-8 escaped as Go writes them (\x1b, \r, \n), so that it can neither
// steer the terminal nor forge lines (progress.Printable; run's live progress lines are made
// safe by canary/progress too).
//
// Flags may come before or after NAMESPACE/NAME. -h or --help prints the usage and exits 0.
// --request-timeout (default 30s) bounds the wait for each answer of the API server, so that a
// server that accepts connections and never answers is an error, not a hang; watches are not
// bounded.
package main
