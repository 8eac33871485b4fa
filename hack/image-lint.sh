#!/usr/bin/env bash
# `make image-lint`: hadolint (.hadolint.yaml: every warning fails) on each Dockerfile.
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/tools.sh"
cd "$ROOT_DIR"
"$HACK_DIR/tools.sh" hadolint
files=(Dockerfile)
for f in bundle.Dockerfile catalog.Dockerfile; do [[ -f $f ]] && files+=("$f"); done
"$HADOLINT" --config .hadolint.yaml "${files[@]}"
log "hadolint: ${files[*]} clean"
