#!/usr/bin/env bash
# `make test`: static checks and unit tests, then the end-to-end suite in a local environment this
# script brings up and takes down again (also on failure). An environment that was already up
# when the run started is reused and left running.
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"

step() { log "=== $*"; }

step "tools (cached after the first run)"
"$HACK_DIR/tools.sh" all
step "format";    make --no-print-directory fmt-check
step "clippy";    make --no-print-directory clippy
step "generated files"; make --no-print-directory manifests-check
step "packaging: hadolint, bundle validation, scorecard, monitoring rules, Helm chart"
make --no-print-directory ship-check
step "unit tests"; make --no-print-directory unit
# The shipped build (profile dist, as the Dockerfile builds it) for shipped_build.rs; its build
# directory is cached outside the clone.
step "the dist build"; make --no-print-directory dist-build
# Built before the environment starts, so its disk-space check sees what the build left.
step "build the end-to-end tests"; make --no-print-directory e2e-build

owned=true
if running_pid apiserver >/dev/null; then
  owned=false
  log "local environment already running: reusing it and leaving it up"
fi
cleanup() {
  local rc=$?
  if [[ $rc -ne 0 && -d $LOG_DIR ]]; then
    log "tests failed; component logs are in $LOG_DIR and pod logs in $ENV_DIR/harness/pods"
    tail -n 20 "$LOG_DIR/harness.log" 2>/dev/null | sed 's/^/  harness| /' >&2 || true
    if problem=$(disk_space_problem "$ENV_DIR"); then log "the disk filled up during the run: $problem"; fi
  fi
  if $owned; then
    step "environment down"
    "$HACK_DIR/env-down.sh" || true
  fi
  exit "$rc"
}
trap cleanup EXIT

if $owned; then
  # Start from empty data dirs so every run sees the same cluster; this run's logs stay after it.
  "$HACK_DIR/env-down.sh" --purge
fi
step "environment up"; make --no-print-directory env-up
step "end-to-end tests"; make --no-print-directory e2e
# The README promises `make demo` works: run it here so a change that breaks it fails the suite.
step "the demo"; "$HACK_DIR/demo.sh"
step "all tests passed"
