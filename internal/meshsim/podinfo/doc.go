// Package podinfo answers HTTP requests the way stefanprodan/podinfo does, the app Flagger's
// tutorials (and this repository's demo Canary manifests) release: enough of its API for the tutorials' hooks and load tests to run
// unchanged against a simulated pod.
//
//	GET  /                 {"hostname": pod, "version": tag, "message": ..., ...}
//	GET  /version          {"version": tag, "commit": ""}
//	GET  /healthz, /readyz {"status": "OK"}
//	GET  /status/{code}    answers with that status code
//	GET  /delay/{seconds}  answers after that many seconds (or when the request is cancelled)
//	POST /token            {"token": "...", "expires_at": "..."}  (the demo manifests' acceptance test)
//	GET  /headers          the request's headers
//	POST /echo             the request's body
//
// Anything else is 404. A Handler plays any number of pods: Instance says which one answers a
// request, so one server can stand in for every pod of a Deployment.
package podinfo
