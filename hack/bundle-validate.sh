#!/usr/bin/env bash
# `make bundle-validate`: operator-sdk's bundle validation with the optional operatorframework
# suite (OperatorHub metadata, good practices, deprecated APIs, alpha API usage, …). Any error or
# warning fails, except the fixed notice that the `operatorhub` validator is deprecated, which it
# prints whatever the bundle holds, and the missing example of a kind the CSV marks internal
# (hack/bundle/validate_report.py says why).
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/tools.sh"
cd "$ROOT_DIR"
"$HACK_DIR/tools.sh" operator-sdk
out=$("$OPERATOR_SDK" bundle validate ./bundle --select-optional suite=operatorframework --output json-alpha1 2>&1) || {
  echo "$out" >&2
  die "operator-sdk bundle validate failed"
}
echo "$out" | python3 "$HACK_DIR/bundle/validate_report.py" --bundle bundle
