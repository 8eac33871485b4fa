#!/usr/bin/env bash
# Checks the monitoring manifests with promtool (hack/tools.sh promtool, cached after the first
# build):
#   1. the PrometheusRule's groups (config/prometheus/rules.yaml, `spec:` written out as a rule
#      file): `promtool check rules`;
#   2. its alerts against input series: `promtool test rules test/prometheus/rules_test.yaml`;
#   3. the PromQL of every panel and template variable of config/grafana/strimzi-backup-operator.json,
#      Grafana's variables replaced by plain values, parsed as recording rules: `promtool check rules`.
# That the metrics these name exist is checked by the Rust unit test
# operator::metrics::tests::the_monitoring_manifests_name_exported_metrics (`make unit`).
#   hack/check-monitoring.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$ROOT_DIR"

RULES=config/prometheus/rules.yaml
TESTS=test/prometheus/rules_test.yaml
DASHBOARD=config/grafana/strimzi-backup-operator.json

"$HACK_DIR/tools.sh" promtool
[[ -n ${PROMTOOL:-} && -x $PROMTOOL ]] || die "hack/tools.sh did not provide promtool (PROMTOOL='${PROMTOOL:-}')"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The rule file: the PrometheusRule's spec (a `groups:` list). With PyYAML when there is one;
# otherwise from the text, which is ours and laid out so that this works: `spec:` is the last
# top-level key and everything under it is indented by two more spaces.
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$RULES" "$work/rules.yaml" <<'PY'
import sys, yaml
with open(sys.argv[1]) as f:
    rule = yaml.safe_load(f)
assert rule["kind"] == "PrometheusRule", rule["kind"]
with open(sys.argv[2], "w") as f:
    yaml.safe_dump({"groups": rule["spec"]["groups"]}, f, sort_keys=False, width=1000)
PY
else
  [[ $(grep -c '^[^ #]' "$RULES") -gt 0 && $(grep '^[^ #]' "$RULES" | tail -n1) == "spec:" ]] ||
    die "$RULES: without PyYAML its spec is read from the text, which needs spec: as the last top-level key"
  sed -n '/^spec:$/,$p' "$RULES" | tail -n +2 | sed 's/^  //' >"$work/rules.yaml"
fi
head -n1 "$work/rules.yaml" | grep -qx 'groups:' || die "$RULES: no spec.groups found"

log "promtool check rules $RULES"
"$PROMTOOL" check rules "$work/rules.yaml"

# promtool reads the test's rule_files next to it: the test beside the extracted rules.
log "promtool test rules $TESTS"
cp "$TESTS" "$work/rules_test.yaml"
"$PROMTOOL" test rules "$work/rules_test.yaml"

# The dashboard's queries: panel targets' `expr` and query variables (label_values(selector, l)
# becomes the selector). Grafana's variables become values that parse: a regex for the
# multi-value ones, durations for the intervals.
log "promtool check rules (the PromQL of $DASHBOARD)"
python3 - "$DASHBOARD" "$work/dashboard-rules.yaml" <<'PY'
import json, re, sys

with open(sys.argv[1]) as f:
    dashboard = json.load(f)
assert dashboard["schemaVersion"] >= 39, dashboard["schemaVersion"]
variables = {v["name"]: v for v in dashboard["templating"]["list"]}
assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
exprs = []

def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))

for p in panels(dashboard["panels"]):
    for t in p.get("targets", []):
        exprs.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
for v in dashboard["templating"]["list"]:
    if v["type"] == "query":
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q, re.S)
        exprs.append((f"variable {v['name']}", m.group(1) if m else q))
replace = {"__rate_interval": "2m", "__interval": "1m", "__range": "1d", "window": "1d"}

def value(m):
    name = m.group(1) or m.group(2)
    return replace.get(name, ".*")

with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (where, expr) in enumerate(exprs):
        expr = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)
        f.write(f"      # {where}\n      - record: dashboard:query_{i}\n        expr: {json.dumps(expr)}\n")
print(f"{len(exprs)} queries", file=sys.stderr)
PY
"$PROMTOOL" check rules "$work/dashboard-rules.yaml"
log "monitoring manifests OK"
