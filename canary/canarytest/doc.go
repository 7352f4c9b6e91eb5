// Package canarytest is canarykit's simulation kit: in-memory implementations of every
// interface the canary engine consumes, sharing a virtual Clock, so a whole rollout policy runs
// in milliseconds in an ordinary Go test — like client-go's record.FakeRecorder, beside the
// interfaces it stands in for.
//
//   - Workload: a target with a revision (SetRevision) and a primary; canary and primary become
//     ready per Health (after a delay, never, or failed for good).
//   - Router: records every weight (History, CanaryHistory); NoMatch mimics a route kind that
//     cannot match requests.
//   - Metrics: values from Signals keyed by query — Constant, Normal noise from a seed,
//     ByWeight, Sequence, After, FromCall, NoData.
//   - Gates: hooks answered by Scripts — Open, Closed, OpenAfter, Answers, Fail — and every
//     request recorded.
//   - Store: a StatusStore that counts calls; a new Rollout over it resumes, as after a restart.
//   - Recorder: collects events (Then reacts to them from the Rollout's goroutine; Print shows
//     them as canary/progress lines).
//   - Env: all of the above wired to one Clock; Env.Config turns a Spec into a canary.Config.
//
// Every double counts its calls (Calls) and fails on demand (Calls.FailNext); Env.OnCall lets a
// test cancel the Run just before any adapter call, to simulate a crash at that point.
//
// Waits in virtual time complete at once: script what another goroutine would do with Gates,
// Signals or Recorder.Then rather than from a second goroutine.
package canarytest
