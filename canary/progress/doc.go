// Package progress shows a Rollout's events to people: in a terminal, in a CI log, or in an
// embedder's own CLI. It depends on the engine's types only.
//
// Line formats one event as a line, like one of `kubectl describe canary`, with a weight bar when
// traffic moves and the verdict of each check in words, not only in colour:
//
//	00:01:00  Normal   Advance podinfo.test canary weight 10  [##..................]  ✔ request-success-rate 99.89 >= 99  ✔ request-duration 133.87 <= 500
//	00:07:00  Warning  Halt podinfo.test advancement request-success-rate 89.84 < 99  ✔ request-duration 130.26 <= 500
//	00:07:30  Warning  Halt advancement no values found for metric request-duration probably podinfo.test is not receiving traffic: query ... (holding)  ✔ request-success-rate 99.90 >= 99
//
// A failed check reads "✘ request-success-rate 89.84 (want >= 99)", a check without data
// "? request-duration no data", an undecided one "? judge inconclusive"; a dry-run metric's
// result (canary.Metric.DryRun) ends in "(dry-run)": "✘ error-budget-v2 9.43 (want <= 1)
// (dry-run)", reported, never counted. A Halted or NoData
// event's message already names its check (canary.Event.Check), so the list that follows leaves
// it out. Style.Verbose adds the resolved queries and the providers' errors on indented lines.
//
// Live shows the events as they come: on a terminal, one status line per target redrawn in
// place (weight bar, phase, checks) under the events worth keeping; elsewhere, plain lines.
//
//	live := progress.NewLive(os.Stdout, progress.Options{})
//	defer live.Close()
//	cfg.OnEvent = live.Handle
//
// Everything an event carries that came from a manifest or a provider (names, messages,
// queries, errors) is cut to a bounded length and stripped of control characters before it is
// printed, so it cannot move the cursor or recolour a terminal. Printable escapes such text
// whole instead, as Go writes it in a string literal, for a command that prints it as it is.
package progress
