// Package kubegate keeps manual gates in the cluster, so an approval given before a restart
// is still there after it (flagger-loadtester keeps its gates in memory and loses them when
// its pod restarts).
//
// # Storage
//
// A target's gates live in one ConfigMap in the target's namespace, named
// "<target>-canarykit-gates" (ConfigMapName), labelled app.kubernetes.io/managed-by=canarykit
// (canary.LabelManagedBy, canary.ManagedBy) and canarykit.dev/target=<target>. Its data holds one key per gate, the hook type, with the
// value "open" or "closed":
//
//	confirm-rollout, confirm-traffic-increase, confirm-promotion   "open" lets the release on
//	rollback                                                       "open" rolls it back now
//
// A missing ConfigMap or key, or any other value, is closed, as in the loadtester. A ConfigMap
// of that name without both labels (made by someone else, or for another target) holds no
// gates: Allow and State do not read its keys, and nothing writes it; they return an error
// wrapping ErrNotManaged that names it (a gate asked is then closed). Anyone
// allowed to update the ConfigMap can operate the gates without canarykit:
//
//	kubectl -n test patch configmap podinfo-canarykit-gates --type merge -p '{"data":{"confirm-promotion":"open"}}'
//
// Approve, Halt, RequestRollback and CancelRollback write with optimistic concurrency (a
// conflicting write is re-read and retried) and create the ConfigMap when needed. Reading a
// gate costs one GET per call: a gate is asked once per hook per analysis tick, far below the
// requests a tick already makes, so no informer is kept. RBAC (Rules): get, create and update
// on configmaps in the target's namespace; a process that only reads gates needs get.
//
// # When approvals end
//
// The loadtester's gates stay open until someone closes them, so an approval given for one
// release silently approves the next. Here an approval lasts for one release: Hooks adds a
// post-rollout hook that closes every gate (and withdraws a rollback request) when the release
// ends, Succeeded or Failed. Set Config.KeepApprovals for the loadtester's behaviour. If the
// process stops between the end of a release and that hook, the approval stays until the next
// release ends; Halt or Reset close it at any time.
package kubegate
