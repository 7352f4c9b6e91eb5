#!/usr/bin/env bash
# Makes the integration test bed's binaries available; idempotent and quick when already done.
#
#   etcd, prometheus                       Debian packages etcd-server and prometheus (binaries
#                                          only: the Debian services are not started)
#   kube-apiserver, kube-controller-manager built from the k8s.io/kubernetes module pinned in
#                                          internal/testenv/tools/go.mod, cached per version in
#                                          ${CANARYKIT_TESTENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/canarykit/testenv}/k8s-<version>/
#
# internal/testenv finds the binaries in the same places without any environment variable.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/internal/testenv/tools"
start=$SECONDS

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

build_kubernetes() {
	local version major minor dir
	version="$(cd "$tools" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
	major="${version#v}"
	major="${major%%.*}"
	minor="${version#v*.}"
	minor="${minor%%.*}"
	dir="${CANARYKIT_TESTENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/canarykit/testenv}/k8s-$version"

	if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/kube-controller-manager" ] &&
		"$dir/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $version"; then
		log "kube-apiserver and kube-controller-manager $version already built"
	else
		local t0=$SECONDS tmp
		log "building kube-apiserver and kube-controller-manager $version (several minutes when cold)"
		mkdir -p "$dir"
		tmp="$(mktemp -d "$dir/.build.XXXXXX")"
		local ldflags="-s -w"
		ldflags+=" -X k8s.io/component-base/version.gitVersion=$version"
		ldflags+=" -X k8s.io/component-base/version.gitMajor=$major"
		ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
		ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
		if ! (cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
			k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager); then
			rm -rf "$tmp"
			log "build failed" >&2
			exit 1
		fi
		mv -f "$tmp/kube-apiserver" "$tmp/kube-controller-manager" "$dir/"
		rm -rf "$tmp"
		log "built in $((SECONDS - t0)) s"
	fi
	log "kube-apiserver:          $dir/kube-apiserver"
	log "kube-controller-manager: $dir/kube-controller-manager"
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

install_debian_packages
build_kubernetes
fetch_gateway_api
fetch_flagger
log "etcd:                    $(command -v etcd || echo /usr/bin/etcd) ($(etcd --version 2>/dev/null | head -1))"
log "prometheus:              $(command -v prometheus || echo /usr/bin/prometheus)"
log "ready in $((SECONDS - start)) s"
