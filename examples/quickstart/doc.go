// Command quickstart runs the seeds' Linkerd canary demo on canarykit's simulation kit: the
// podinfo Canary manifest of the Flagger tutorial, verbatim (canary.yaml: interval 30s,
// threshold 5, maxWeight 50, stepWeight 5, Linkerd's request-success-rate and
// request-duration checks, an acceptance test and a load test), loaded with flagger.LoadCanary and
// released in virtual time. Release 3.1.1 is healthy and is promoted; release 3.1.2's success
// rate drops to 90 % and it is rolled back. It exits 0 only if both outcomes are as expected.
// The events are shown with canary/progress: one line each with every check's verdict, or on
// a terminal one status line redrawn in place under the events worth keeping.
//
//	go run ./examples/quickstart             # paced: about two seconds
//	go run ./examples/quickstart -pace 0     # as fast as it goes
package main
