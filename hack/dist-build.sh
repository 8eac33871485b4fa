#!/usr/bin/env bash
# `make dist-build`: the operator binary exactly as the Dockerfile builds it — profile `dist` (fat
# LTO, one codegen unit, stripped), the operator package alone, so no test feature (and no
# test licence key) is compiled in — copied to target/dist-bin/ for the end-to-end tests of the
# shipped build (test/tests/e2e/shipped_build.rs). The build directory is kept in the cache, outside
# the clone: the dependencies are built once, later runs rebuild only this workspace's crate.
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"

target=${DIST_TARGET_DIR:-$CACHE_DIR/dist-target}
log "building the dist profile into $target (first run ~15 min on 2 cores, then only this crate)"
run_logged "cargo build --profile dist" "$target/build.log" \
  env CARGO_TARGET_DIR="$target" cargo build --locked --profile dist -p strimzi-backup-operator
install -D -m 0755 "$target/dist/strimzi-backup-operator" "$ROOT_DIR/target/dist-bin/strimzi-backup-operator"
log "target/dist-bin/strimzi-backup-operator: $(du -h "$ROOT_DIR/target/dist-bin/strimzi-backup-operator" | cut -f1)"
# The guard in src/main.rs: an optimized build with the test licence key must not compile. Checked
# (no code generation) in the same cached directory: the dependencies' metadata once, then only
# this crate's.
log "checking that the dist profile refuses feature test-license"
if out=$(env CARGO_TARGET_DIR="$target" cargo check --locked --profile dist -p strimzi-backup-operator \
  --bin strimzi-backup-operator --features test-license 2>&1); then
  die "a dist build with feature test-license compiled: the test licence key would be trusted"
fi
grep -q "feature \`test-license\` trusts the public test licence key" <<<"$out" ||
  die "the dist build with feature test-license failed, but not at the guard: $(tail -n 20 <<<"$out")"
log "the dist profile refuses feature test-license"

