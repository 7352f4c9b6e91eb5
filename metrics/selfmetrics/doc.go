// Package selfmetrics exports a release's progress as Prometheus metrics with Flagger's names,
// labels and meanings, so that alert rules and dashboards written for Flagger keep working
// with canarykit, plus canarykit's own under canarykit_*. A Collector is fed from Rollouts'
// events and registered with prometheus/client_golang on the caller's Registerer:
//
//	m := selfmetrics.New(selfmetrics.Options{MeshProvider: "linkerd"})
//	reg.MustRegister(m) // then serve reg with promhttp on /metrics
//	tg, err := d.Target(c, m.For(c.Target, c.Spec)) // c: a kube/flagger Canary, d: a kube/driver Driver
//	...
//	m.Refuse(c.Target) // a Canary not driven (it does not load, or cannot be driven)
//	m.Forget(c.Target) // the Canary was deleted: its series go
//
// For returns the callback a target's events go to (canary.Config.OnEvent, or the onEvent of
// kube/driver's Release and Target); several callbacks can be chained in one func. A process
// that starts over targets whose releases are over seeds their state from the saved status
// with Restore: a Rollout with nothing to release emits no event. The
// Collector is safe for concurrent use by any number of targets. Label values come only from
// the targets given to For (namespace, workload name) and the metric names of their Specs, so
// the series are bounded by what the caller declares; names that cannot be label values (empty,
// not UTF-8, longer than MaxLabelLength) are left out.
//
// # Flagger's metrics
//
// As Flagger v1.44 exports them; "name" is the target workload's name (Flagger's
// spec.targetRef.name), not the Canary's:
//
//   - flagger_info{version,mesh_provider} gauge, 1.
//   - flagger_canary_total{namespace} gauge: Canaries declared with For or Refuse and not
//     forgotten, as Flagger counts every Canary: two Canaries of one target count twice (their
//     other series are the target's, shared, as in Flagger), and so does one the caller does
//     not drive.
//   - flagger_canary_status{name,namespace} gauge: 0 while Progressing, 2 when Failed, 1 in
//     any other phase (Succeeded, Initialized, Waiting, WaitingPromotion, Promoting, ...); 2
//     for a target that only Canaries declared with Refuse name (a Canary that does not load
//     or cannot be driven delivers nothing), until one is driven (For) or forgotten.
//   - flagger_canary_weight{workload,namespace} gauge: the route's weights, one series for
//     "<name>-primary" and one for "<name>" (the canary), from every event that carries them.
//   - flagger_canary_duration_seconds{name,namespace} histogram (Prometheus' default buckets):
//     per analysis tick (one that advanced, halted, held, waited at a gate, was analysed while
//     waiting for promotion approval, canary.ReasonAnalysed, or started the promotion), the
//     time from the tick's start to that decision.
//   - flagger_canary_metric_analysis{name,namespace,metric} gauge: each metric's last value, set
//     whenever a check measured one (verdict Pass, Fail or Inconclusive). Flagger's built-in
//     request-duration (a metric of that name without a query) is a p99 in milliseconds in the
//     check and is exported in seconds, as Flagger does.
//   - flagger_canary_successes_total and flagger_canary_failures_total
//     {name,namespace,deployment_strategy,analysis_status} counters: a release that ended
//     Succeeded or Failed; deployment_strategy is canary, blue-green or ab-testing (from the
//     Spec), analysis_status completed, or skipped for the successes of a Spec with
//     SkipAnalysis. Both start at zero when the target is declared (Flagger creates them at
//     the first increment).
//
// # canarykit's metrics
//
//   - canarykit_canary_phase{name,namespace,phase} gauge: 1 for the current phase, 0 for the
//     others (the phase names Flagger's Canary status uses).
//   - canarykit_canary_failed_checks{name,namespace} gauge: failed checks counted in the release.
//   - canarykit_canary_metric_threshold{name,namespace,metric,bound} gauge: the Spec's threshold
//     range, bound "min" or "max", in the unit of flagger_canary_metric_analysis.
//   - canarykit_canary_checks_total{name,namespace,metric,verdict} counter: the checks of analysis
//     ticks by verdict: Pass, Fail, NoData, Inconclusive, Unavailable, Error. Dry-run metrics
//     (canary.Metric.DryRun) are not among them, so an alert on its Fail verdicts sees only
//     checks that count against the release.
//   - canarykit_canary_dry_run_checks_total{name,namespace,metric,verdict} counter: the checks
//     of dry-run metrics, by the same verdicts (reported, never counted as failed checks).
//   - canarykit_canary_failure_causes_total{name,namespace,cause} counter: failed releases by
//     cause (threshold, hook, abort, deadline, reverted, promotion-failed, split: the traffic
//     did not follow the weights), other for any other.
//   - canarykit_canary_release_duration_seconds{name,namespace,phase} histogram (ReleaseBuckets):
//     from a new revision detected (or restarted) to the release's end, by phase Succeeded or
//     Failed; a release whose start the Collector did not see (resumed by a new process) is not
//     observed.
//
// Check results reach the Collector with the events that carry them (Advanced, Halted, NoData,
// Unavailable): the checks of the tick that starts the promotion or waits at a gate are not
// exported, and the gauges keep the previous tick's values.
//
// # Removal
//
// Forget removes a Canary from flagger_canary_total and, unless another Canary declares its
// target, the target's series, and makes its callbacks inert. Flagger keeps a deleted
// Canary's series until it restarts.
package selfmetrics
