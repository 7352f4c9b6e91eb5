#!/usr/bin/env bash
# Builds Flagger from its Go module at FLAGGER_VERSION into ~/.cache/canarykit/flagger/<version>/flagger
# (once; later runs reuse it). `go install` refuses modules with replace directives, so the module
# is downloaded through the Go proxy and built inside a copy of its directory.
set -euo pipefail
GO=${GO:-go}
FLAGGER_VERSION=${FLAGGER_VERSION:-v1.44.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/canarykit/flagger/$FLAGGER_VERSION
bin=$cache/flagger
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$cache"
dir=$(cd "$cache" && "$GO" mod download -json "github.com/fluxcd/flagger@$FLAGGER_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ]; then
	echo "flagger.sh: the Go proxy gave no directory for github.com/fluxcd/flagger@$FLAGGER_VERSION" >&2
	exit 1
fi
rm -rf "$cache/src"
cp -r "$dir" "$cache/src"
chmod -R u+w "$cache/src"
(cd "$cache/src" && "$GO" build -o "$bin.tmp" ./cmd/flagger)
mv "$bin.tmp" "$bin"
echo "$bin"
