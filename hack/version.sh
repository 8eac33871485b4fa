#!/usr/bin/env bash
# Prints the product version: the workspace version in Cargo.toml (one source for the image tag,
# the CSV and the Helm chart). With --image: the release image of that version.
. "$(dirname "$0")/lib.sh"
version=$(awk '/^\[workspace.package\]/ { in_ws = 1; next } /^\[/ { in_ws = 0 } in_ws && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$ROOT_DIR/Cargo.toml")
if [[ ${1:-} == --image ]]; then echo "$OPERATOR_IMAGE:$version"; else echo "$version"; fi
