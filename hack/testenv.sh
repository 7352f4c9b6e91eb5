#!/usr/bin/env bash
# Makes the integration test bed's binaries available; idempotent and quick when already done.
#
#   etcd, prometheus                       Debian packages etcd-server and prometheus (binaries
#                                          only: the Debian services are not started)
#   kube-apiserver, kube-controller-manager built from the k8s.io/kubernetes module pinned in
#                                          internal/testenv/tools/go.mod, cached per version in
#                                          ${CANARYKIT_TESTENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/canarykit/testenv}/k8s-<version>/
#
# With KUBEBUILDER_ASSETS naming a directory of controller-runtime's setup-envtest (etcd,
# kube-apiserver, kubectl) whose kube-apiserver is of the pinned minor version (any patch), its
# kube-apiserver and etcd are used and only kube-controller-manager is built. The first build
# prints its steps and their times; `hack/testenv.sh --plan` says what would be built.
#
# internal/testenv finds the binaries in the same places.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/internal/testenv/tools"
start=$SECONDS
# seconds between two progress lines while compiling
progress="${CANARYKIT_TESTENV_PROGRESS:-30}"

log() { printf 'testenv: %s\n' "$*"; }

# as_root runs a command as root: directly, through sudo, or not at all (with the reason).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		log "need root (or sudo) to run: $*" >&2
		return 1
	fi
}

install_debian_packages() {
	if [ -x /usr/bin/etcd ] && [ -x /usr/bin/prometheus ]; then
		log "etcd and prometheus already installed"
		return
	fi
	local t0=$SECONDS
	log "installing etcd-server and prometheus from Debian"
	# A policy-rc.d answering 101 keeps the packages' maintainer scripts from starting the
	# services; the test bed runs its own processes on free loopback ports.
	local policy=/usr/sbin/policy-rc.d created=""
	if [ ! -e "$policy" ]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
		created=1
	fi
	local rc=0
	as_root apt-get update -qq || rc=$?
	if [ "$rc" -eq 0 ]; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			etcd-server prometheus >/dev/null || rc=$?
	fi
	if [ -n "$created" ]; then
		as_root rm -f "$policy"
	fi
	if [ "$rc" -ne 0 ]; then
		log "apt-get failed (exit $rc)" >&2
		exit "$rc"
	fi
	log "apt packages installed in $((SECONDS - t0)) s"
}

# fits says whether $1 (a KUBEBUILDER_ASSETS directory, as setup-envtest lays it out) holds a
# kube-apiserver of the bed's minor version ($2, e.g. v1.34): any patch fits, another minor does
# not (the bed's kube-controller-manager, built at the pinned version, must not be newer than
# the apiserver). It prints why. internal/testenv.AssetsFit applies the same rule.
fits() {
	local assets="$1" minor="$2" out
	if [ ! -x "$assets/kube-apiserver" ]; then
		echo "$assets has no executable kube-apiserver"
		return 1
	fi
	if ! out="$("$assets/kube-apiserver" --version 2>/dev/null)"; then
		echo "$assets/kube-apiserver --version failed"
		return 1
	fi
	case "$out" in
	"Kubernetes $minor."[0-9]*)
		echo "$assets/kube-apiserver is ${out#Kubernetes }"
		return 0
		;;
	esac
	echo "$assets/kube-apiserver is ${out#Kubernetes }; the bed needs $minor.x"
	return 1
}

# built says whether $1 is a binary of Kubernetes version $2.
built() {
	[ -x "$1" ] && "$1" --version 2>/dev/null | grep -qx "Kubernetes $2"
}

# compile builds one command of k8s.io/kubernetes into $dir, printing how far it got every
# $progress seconds (go build -v names each package it compiles) and how long it took.
compile() {
	local name="$1" step="$2" t0=$SECONDS total log pid n
	total="$(cd "$tools" && go list -deps "k8s.io/kubernetes/cmd/$name" 2>/dev/null | wc -l)"
	log "step $step: compiling $name (up to $total packages)"
	log_file="$(mktemp "$dir/.build-$name.XXXXXX.log")"
	(cd "$tools" && CGO_ENABLED=0 go build -v -trimpath -ldflags "$ldflags" -o "$tmp/$name" \
		"k8s.io/kubernetes/cmd/$name") 2>"$log_file" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for _ in $(seq "$progress"); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		if kill -0 "$pid" 2>/dev/null; then
			n="$(grep -c . "$log_file" || true)"
			log "  still compiling $name: $n of up to $total packages compiled, $((SECONDS - t0)) s"
		fi
	done
	if ! wait "$pid"; then
		tail -n 30 "$log_file" >&2
		rm -f "$log_file"
		rm -rf "$tmp"
		log "building $name failed" >&2
		exit 1
	fi
	rm -f "$log_file"
	mv -f "$tmp/$name" "$dir/"
	log "step $step: $name compiled in $((SECONDS - t0)) s"
}

# plan_kubernetes decides where kube-apiserver and kube-controller-manager come from, says so,
# and announces a build from source before anything else happens.
plan_kubernetes() {
	version="$(cd "$tools" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
	major="${version#v}"
	major="${major%%.*}"
	minor="${version#v*.}"
	minor="${minor%%.*}"
	dir="${CANARYKIT_TESTENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/canarykit/testenv}/k8s-$version"

	apiserver="" builds=()
	local why
	if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
		if why="$(fits "$KUBEBUILDER_ASSETS" "v$major.$minor")"; then
			apiserver="$KUBEBUILDER_ASSETS/kube-apiserver"
			log "plan: kube-apiserver from KUBEBUILDER_ASSETS ($why)"
		else
			log "plan: KUBEBUILDER_ASSETS not used: $why"
		fi
	fi
	if [ -z "$apiserver" ]; then
		if built "$dir/kube-apiserver" "$version"; then
			log "plan: kube-apiserver $version already built"
		else
			builds+=(kube-apiserver)
		fi
	fi
	if built "$dir/kube-controller-manager" "$version"; then
		log "plan: kube-controller-manager $version already built"
	else
		builds+=(kube-controller-manager)
	fi
	if [ "${#builds[@]}" -gt 0 ]; then
		log "plan: build ${builds[*]} $version from source"
	fi
	if [ -n "$plan_only" ] || [ "${#builds[@]}" -eq 0 ]; then
		return
	fi
	log "--------------------------------------------------------------------------------"
	log "Building Kubernetes $version from source (${builds[*]}) into $dir:"
	log "the first run on this machine (or after the pinned version changed) takes minutes,"
	log "about 5 on a quiet machine, 22 were measured on a busy 2-core one. Later runs reuse the build."
	if [ -z "$apiserver" ]; then
		log "(KUBEBUILDER_ASSETS naming setup-envtest's v$major.$minor.x binaries saves building kube-apiserver.)"
	fi
	log "--------------------------------------------------------------------------------"
}

# build_kubernetes carries out the plan.
build_kubernetes() {
	if [ "${#builds[@]}" -gt 0 ]; then
		local t0=$SECONDS
		mkdir -p "$dir"
		tmp="$(mktemp -d "$dir/.build.XXXXXX")"
		ldflags="-s -w"
		ldflags+=" -X k8s.io/component-base/version.gitVersion=$version"
		ldflags+=" -X k8s.io/component-base/version.gitMajor=$major"
		ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
		ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
		local steps=$((${#builds[@]} + 1)) step=1 t1=$SECONDS
		log "step $step/$steps: downloading k8s.io/kubernetes $version and its modules"
		if ! (cd "$tools" && go mod download); then
			rm -rf "$tmp"
			log "download failed" >&2
			exit 1
		fi
		log "step $step/$steps: downloaded in $((SECONDS - t1)) s"
		for b in "${builds[@]}"; do
			step=$((step + 1))
			compile "$b" "$step/$steps"
		done
		rm -rf "$tmp"
		log "built ${builds[*]} in $((SECONDS - t0)) s"
	fi
	log "kube-apiserver:          ${apiserver:-$dir/kube-apiserver}"
	log "kube-controller-manager: $dir/kube-controller-manager"
	if [ -n "$apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
		log "etcd (for the bed):      $KUBEBUILDER_ASSETS/etcd (KUBEBUILDER_ASSETS)"
	fi
}

# The Gateway API CRDs are read from this module at test time (internal/testenv/gatewayapi.go).
fetch_gateway_api() {
	local version
	version="$(sed -n 's/^const GatewayAPIVersion = "\(.*\)"$/\1/p' "$root/internal/testenv/gatewayapi.go")"
	(cd "$root" && go mod download "sigs.k8s.io/gateway-api@$version")
	log "gateway-api CRDs:        sigs.k8s.io/gateway-api@$version in the module cache"
}

# Flagger's CRDs (Canary, MetricTemplate, AlertProvider) are read from this module at test time
# (internal/testenv/flaggercrd.go).
fetch_flagger() {
	local version
	version="$(sed -n 's/^const FlaggerVersion = "\(.*\)"$/\1/p' "$root/internal/testenv/flaggercrd.go")"
	(cd "$root" && go mod download "github.com/fluxcd/flagger@$version")
	log "flagger CRDs:            github.com/fluxcd/flagger@$version in the module cache"
}

# Istio's CRDs are read from this module at test time (internal/testenv/istio.go).
fetch_istio_api() {
	local version
	version="$(sed -n 's/^const IstioAPIVersion = "\(.*\)"$/\1/p' "$root/internal/testenv/istio.go")"
	(cd "$root" && go mod download "istio.io/api@$version")
	log "Istio CRDs:              istio.io/api@$version in the module cache"
}

# KEDA's ScaledObject CRD is read from this module at test time (internal/testenv/keda.go).
fetch_keda() {
	local version
	version="$(sed -n 's/^const KEDAVersion = "\(.*\)"$/\1/p' "$root/internal/testenv/keda.go")"
	(cd "$root" && go mod download "github.com/kedacore/keda/v2@$version")
	log "KEDA CRDs:               github.com/kedacore/keda/v2@$version in the module cache"
}

# --plan prints where each Kubernetes binary would come from, and does nothing.
plan_only=""
if [ "${1:-}" = "--plan" ]; then
	plan_only=1
	plan_kubernetes
	exit 0
fi

plan_kubernetes
install_debian_packages
build_kubernetes
fetch_gateway_api
fetch_istio_api
fetch_flagger
fetch_keda
log "etcd:                    $(command -v etcd || echo /usr/bin/etcd) ($(etcd --version 2>/dev/null | head -1))"
log "prometheus:              $(command -v prometheus || echo /usr/bin/prometheus)"
log "ready in $((SECONDS - start)) s"
