#!/usr/bin/env bash
# `make scorecard`: every test in bundle/tests/scorecard/config.yaml, run against bundle/.
# `operator-sdk scorecard` would run each test as a Pod with the bundle untarred at /bundle; the
# tests themselves are the scorecard-test binary of that image (built by hack/tools.sh), which
# reads the bundle from the fixed path /bundle. So each test runs in a private mount namespace
# with bundle/ bind-mounted read-only at /bundle (needs root, as the local environment does).
# Fails unless every test reports "pass"; errors and suggestions are printed.
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/tools.sh"
cd "$ROOT_DIR"
"$HACK_DIR/tools.sh" scorecard-test
[[ $(id -u) -eq 0 ]] || die "scorecard needs root for a private mount namespace (unshare --mount)"
command -v unshare >/dev/null || die "scorecard needs unshare (util-linux)"

mapfile -t tests < <(python3 -c '
import sys, yaml
config = yaml.safe_load(open("bundle/tests/scorecard/config.yaml"))
for stage in config["stages"]:
    for test in stage["tests"]:
        print(test["entrypoint"][1])
')
[[ ${#tests[@]} -gt 0 ]] || die "bundle/tests/scorecard/config.yaml names no tests (run make bundle)"

# The mount point must exist on the host; it is created empty if missing and removed again.
created=false
if [[ ! -d /bundle ]]; then mkdir /bundle; created=true; fi
trap '$created && rmdir /bundle' EXIT

failed=0
for t in "${tests[@]}"; do
  # shellcheck disable=SC2016 # $1..$3 expand in the inner bash
  out=$(unshare --mount --propagation private bash -c \
    'mount --bind -o ro "$1" /bundle && exec "$2" "$3"' _ "$ROOT_DIR/bundle" "$SCORECARD_TEST" "$t" 2>&1) || true
  if ! python3 "$HACK_DIR/bundle/scorecard_report.py" "$t" <<<"$out"; then failed=$((failed + 1)); fi
done
[[ $failed -eq 0 ]] || die "scorecard: $failed of ${#tests[@]} tests did not pass"
log "scorecard: all ${#tests[@]} tests passed"
