// Package dashboards holds canarykit's Grafana dashboard, canarykit.json, built on the
// metrics of metrics/selfmetrics (Flagger's flagger_* and canarykit's canarykit_*): release
// status and phase, traffic weight over time, each analysis metric against its thresholds,
// check verdicts, analysis tick and release durations, failed releases by cause, and the
// verdicts of dry-run metrics (trialled, never counted). Import the file into Grafana (it asks
// for a Prometheus data source), or embed it: Canarykit returns its bytes, e.g. for a
// ConfigMap that Grafana's dashboard sidecar loads.
//
// Variables: datasource, namespace and name (from flagger_canary_status, as Flagger's
// dashboards select a Canary), and metric (the analysis panel repeats per metric).
package dashboards
