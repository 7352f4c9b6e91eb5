// Package scale is the scale harness: N podinfo-like Deployments with HPAs released at once
// on the test bed (internal/testenv), by canarykit's Flagger-compatible Canary controller
// (examples/flagger-controller, built by the harness), by Flagger built from its Go module, or
// by the floor (internal/scale/floor, -tool=floor: a step's least work written on net/http
// alone, the lower bound of a step's CPU and requests on the machine), each run as its own
// process, measured from the outside the same way for all, and summed up in one line:
//
//	scale tool=canarykit rollouts=N p99_lateness_s=… cpu_ms_per_step=… rss_mib=… req_per_step=… watches=… prom_conns=… throttled=…
//
// The harness is a benchmark, not a test: it lives behind the build tag "scale" and runs with
// `make bench-scale N=…` (canarykit; TOOL=floor for the floor) and `make bench-compare N=…`
// (canarykit, then Flagger).
// The figures are defined in measure.go (what they read of the tool's /proc in proc.go); the
// package's plain tests check those definitions.
// Besides the line, a run logs what explains it: the requests by kind, those of each
// release's steady weight steps per tick (TickRequests, the per-step count the README gives
// for Flagger), the lateness by step and split at the step's queries, the route writes' time
// in the API server and the lateness counted to their answers, the most connections to the
// API server open at once, the tool's Events by kind with their delay from recording to
// creation (EventDelays), and how often the tool's threads went to sleep (ProcThreads: their
// voluntary context switches, each followed by a wake-up) per step, with the shares of the
// sleeps and of the CPU of the threads that slept most, each named by its place in the order
// the threads started (ThreadsSummary; #2 is a Go program's runtime monitor, sysmon), and,
// idle, per second; and the whole machine's cores busy, idle and stolen by the hypervisor
// over the window (MachineCPU), the bed's servers and the tool together, with the busiest
// commands' cores (CommandsCPU), and the API server's requests by client, the tool's beside
// kube-controller-manager's and the harness's (ClientRates). -http1-requests starts the controller with
// --http1-requests (its requests over HTTP/1.1, driver.Options.HTTP1Requests).
// -tool-env=NAME=VALUE,… adds
// variables to the measured tool's environment (GOMAXPROCS=2: the Go runtime's settings
// without a rebuild), and the run logs the tool's GOMAXPROCS from its /metrics
// (GoMaxProcs).
// -window-trace=FILE fetches an execution trace of the controller, 10 s from 20 s into the
// window, from the same listener (go tool trace FILE; its cost counts in the window's CPU).
// -window-cpuprofile=DIR fetches the controller's CPU profile over the window from its
// --pprof-addr in consecutive 5 s slices (DIR/cpu-NNN.pb.gz; go tool pprof -top DIR/*.pb.gz
// merges them). -heapprofile=FILE fetches its heap profile (after a garbage collection) from
// the same server once every release has succeeded (go tool pprof -sample_index=inuse_space
// -top FILE), and its text with the runtime's memory statistics to FILE.txt (the run logs
// heap in use, stacks, memory obtained from the OS and the next collection's goal).
// -idle=D (default 30s; 0 skips it) measures the tool for D once every target is initialized
// and before the new images: its CPU and its requests by kind, with none releasing; the run
// then also logs the window's CPU per step less that idle rate, and after the window measures
// the same again with every release succeeded.
package scale
