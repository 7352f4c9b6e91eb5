#!/usr/bin/env bash
# Runs every native Go fuzz target for FUZZTIME each (default 30s). Every target runs even when
# one fails; a failing input is written to the package's testdata/fuzz/<Target>/, shown here,
# and the script exits 1 at the end.
#
# FUZZMINIMIZETIME (default 1s) bounds how long the fuzzer minimizes an input that finds new
# coverage or fails. Go's default, 60s, stalls the loaders' targets: their seeds are ~2 KB
# manifests, removing bytes one at a time runs the target millions of times, and no new input
# is tried meanwhile (FuzzLoadCanary made ~30 executions in 20s, then nothing; with 1s it
# explores). A failing input is written whether or not its minimization finished.
#
# Go's fuzz coordinator before Go 1.27 can report its own -fuzztime deadline as a failure: the
# target fails with "context deadline exceeded" at the end of its time and no input is written
# (the deadline reaches the coordinator before its workers' context is cancelled). Such a run is
# run once more; only a second failure counts.
set -uo pipefail
FUZZTIME="${FUZZTIME:-30s}"
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-1s}"
GO="${GO:-go}"
targets=(
  "./canary FuzzRenderQuery"
  "./canary FuzzCompactQuery"
  "./canary FuzzPromQLVariableProblems"
  "./kube/flagger FuzzLoadCanary"
  "./kube/flagger FuzzLoadObjects"
  "./webhook FuzzVerify"
  "./webhook/notify FuzzPayloads"
  "./metrics FuzzMannWhitney"
  "./metrics FuzzClassify"
  "./metrics FuzzFastInstant"
)
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
failed=()
fuzz() { # pkg name
  "$GO" test -run '^$' -fuzz "^${2}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$1" 2>&1 | tee "$out"
}
# deadline_only: the run failed with the coordinator's deadline and wrote no input
deadline_only() {
  grep -q '^    context deadline exceeded$' "$out" && ! grep -q 'Failing input written to' "$out"
}
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "== $name ($pkg, $FUZZTIME)"
  began=$SECONDS
  if fuzz "$pkg" "$name"; then
    echo "-- $name: $((SECONDS - began))s with its build"
    continue
  fi
  if deadline_only; then
    echo "-- $name: the fuzz coordinator reported its own deadline, no input written; once more"
    if fuzz "$pkg" "$name"; then
      echo "-- $name: $((SECONDS - began))s with its build, run twice"
      continue
    fi
  fi
  failed+=("$name")
  # "Failing input written to testdata/fuzz/<Target>/<hash>", relative to the package
  input="$(sed -n 's/^.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*$/\1/p' "$out" | tail -n 1)"
  if [[ -n "$input" && -f "$pkg/$input" ]]; then
    echo "--- failing input of $name ($pkg/$input, first 8 KiB):"
    head -c 8192 "$pkg/$input"
    echo
    echo "--- re-run: $GO test -run '^$name/$(basename "$input")\$' $pkg"
  else
    echo "--- $name failed without writing an input (build error or crash of the fuzzer)"
  fi
done
if ((${#failed[@]})); then
  echo "FAIL: ${failed[*]}"
  exit 1
fi
echo "every fuzz target ran $FUZZTIME without a failure ($SECONDS s in all)"
