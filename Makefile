# canarykit — developer commands. `make test` is the one CI runs (through .ci/run).
GO          ?= go
GOTESTFLAGS ?= -race
PKGS        ?= ./...
# go test's default of 10 minutes per test binary is too short for the end-to-end package
# under -race on 2 cores; a hung test still ends the run.
GOTESTTIMEOUT ?= 40m

.PHONY: test testenv unit quickstart bench bench-scale bench-compare size-check fmt-check vet fuzz

# Every tier: installs/builds the test bed (idempotent, cached), then runs all tests.
test: testenv
	$(GO) test $(GOTESTFLAGS) -timeout $(GOTESTTIMEOUT) -count=1 $(PKGS)

# Unit and simulation tiers only; integration tests skip (and say how to get the bed) unless CI=true.
unit:
	$(GO) test $(GOTESTFLAGS) -timeout $(GOTESTTIMEOUT) $(PKGS)

# Installs etcd + Prometheus (Debian) and builds kube-apiserver + kube-controller-manager (Go proxy);
# a KUBEBUILDER_ASSETS of the bed's minor version saves building kube-apiserver.
testenv:
	./hack/testenv.sh

# Native Go fuzzing: each target for FUZZTIME (e.g. make fuzz FUZZTIME=10m). Their seed corpora
# (testdata/fuzz/ and f.Add) also run as plain tests in every `go test`.
# FUZZMINIMIZETIME bounds the minimization of each new input (see hack/fuzz.sh).
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 1s
fuzz:
	FUZZTIME=$(FUZZTIME) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) GO=$(GO) ./hack/fuzz.sh

quickstart:
	$(GO) run ./examples/quickstart

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# The scale harness (internal/scale, build tag "scale"): N targets released at once on the test
# bed by examples/flagger-controller run as its own process; prints one "scale tool=… rollouts=N …"
# line (figures defined in internal/scale/measure.go, read from /proc by proc.go; -v: go test shows a passing test's output).
# SCALEFLAGS adds harness flags, e.g. SCALEFLAGS='-window-cpuprofile=/tmp/cpu -qps=400' (the
# window's CPU profile in 5 s slices: go tool pprof -top /tmp/cpu/*.pb.gz; -heapprofile=FILE: the
# controller's heap profile once every release has succeeded).
# TOOL=floor runs internal/scale/floor instead: a step's least work on net/http alone, the
# lower bound of cpu_ms_per_step and req_per_step on the machine.
N ?= 20
TOOL ?= canarykit
SCALEFLAGS ?=
bench-scale: testenv
	$(GO) test -tags scale -count=1 -timeout 0 -v -run '^TestScale$$' ./internal/scale -args -rollouts=$(N) -tool=$(TOOL) $(SCALEFLAGS)

# The same run for canarykit, then for Flagger (built from its Go module by hack/flagger.sh).
bench-compare: testenv
	./hack/flagger.sh
	$(GO) test -tags scale -count=1 -timeout 0 -v -run '^TestScale$$' ./internal/scale -args -rollouts=$(N) -tool=canarykit $(SCALEFLAGS)
	$(GO) test -tags scale -count=1 -timeout 0 -v -run '^TestScale$$' ./internal/scale -args -rollouts=$(N) -tool=flagger $(SCALEFLAGS)

# Fails when a tracked file passes 1 MiB (a built binary committed by mistake, say).
size-check:
	@big=$$(git ls-files -z | xargs -0 -r du -k --apparent-size 2>/dev/null | awk '$$1 > 1024 {print}'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MiB (KiB, path):"; echo "$$big"; exit 1; fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
