#!/usr/bin/env bash
# Prints the product version: the workspace version in Cargo.toml (one source for the image tag,
# the CSV and the Helm chart).
. "$(dirname "$0")/lib.sh"
awk '/^\[workspace.package\]/ { in_ws = 1; next } /^\[/ { in_ws = 0 } in_ws && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$ROOT_DIR/Cargo.toml"
