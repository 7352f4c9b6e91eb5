#!/usr/bin/env bash
# Runs every native Go fuzz target for FUZZTIME each (default 30s). Failing inputs are written
# to the package's testdata/fuzz/<Target>/ and the script stops at the first failure.
set -euo pipefail
FUZZTIME="${FUZZTIME:-30s}"
GO="${GO:-go}"
targets=(
  "./canary FuzzRenderQuery"
  "./canary FuzzCompactQuery"
  "./kube/flagger FuzzLoadCanary"
  "./kube/flagger FuzzLoadObjects"
  "./webhook FuzzVerify"
  "./webhook/notify FuzzPayloads"
  "./metrics FuzzMannWhitney"
  "./metrics FuzzClassify"
)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "== $name ($pkg, $FUZZTIME)"
  "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
done
