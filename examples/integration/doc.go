// Command integration shows how a team tests its own rollout policy with canary/canarytest:
// the policy (policy.go) is a canary.Spec; policy_test.go holds the team's requirements as
// ordinary Go tests that run whole releases in virtual time, in milliseconds. Running the
// command prints how the policy treats a few simulated canaries.
//
//	go test ./examples/integration/     # the policy's requirements
//	go run ./examples/integration       # the policy against five simulated canaries
package main
