#!/usr/bin/env bash
# `make helm-lint` (run by `make test`): the Helm chart in config/helm/strimzi-backup-operator is
# linted and rendered with its default values and with each alternative, then compared with the
# plain install (config/default) in the parts that must agree. No cluster needed.
#
#   1. `helm lint --strict` and `helm template` of each scenario below (values files written here);
#      values that must be refused (licence twice, an unknown certificate mode) must fail.
#   2. NOTES.txt (`helm install --dry-run=client`) must not show the licence key.
#   3. The consistency check (python3 + PyYAML): the chart rendered with default values as release
#      strimzi-backup-operator in namespace strimzi-backup-system (the names config/default uses)
#      against `kubectl kustomize config/default` (hack/bundle/kustomize.py, same image):
#        - every object of config/default (but the Namespace) exists in the chart; the
#          editor/viewer ClusterRoles are named <fullname>-<name> in the chart;
#        - RBAC: the rules (and aggregation labels) of every role, roleRef and subjects of every
#          binding;
#        - the Deployment: replicas, the operator container whole (image, args, env names and
#          values, ports, probes, resources, securityContext, volumeMounts; not imagePullPolicy),
#          the pod's securityContext, serviceAccountName, terminationGracePeriodSeconds, volumes;
#        - Services: ports, and the chart's selector includes config/default's;
#        - the webhook configurations: names and, per webhook, name, clientConfig.service (name,
#          namespace, path, port), rules, failurePolicy, matchPolicy, sideEffects,
#          admissionReviewVersions, timeoutSeconds, reinvocationPolicy, namespaceSelector;
#        - with webhook.certs.mode=certManager also the Issuer and Certificate specs and the
#          cert-manager.io/inject-ca-from annotations;
#        - the CRDs: chart crds/ byte-for-byte equal to config/crd/bases, and equal to the CRDs of
#          config/default's rendering;
#        - with monitoring on, the ServiceMonitor's endpoints and jobLabel against
#          config/prometheus/monitor.yaml, the PrometheusRule's groups against
#          config/prometheus/rules.yaml and the dashboard against config/grafana (when they exist).
#      Every difference is printed as a unified diff of the two sides; any makes the script fail.
# Environment: HELM (a helm binary; default: hack/tools.sh helm), KEEP=1 keeps the work directory.
. "$(dirname "$0")/lib.sh"
helm_from_env=${HELM:-}
# shellcheck source=tools.sh
. "$HACK_DIR/tools.sh"
cd "$ROOT_DIR"

if [[ -n $helm_from_env ]]; then
  HELM=$helm_from_env
else
  "$HACK_DIR/tools.sh" helm
fi
"$HACK_DIR/tools.sh" kubernetes
[[ -x $HELM ]] || die "helm not found at $HELM"
KUBECTL_BIN=$K8S_BIN/kubectl

CHART=config/helm/strimzi-backup-operator
RELEASE=strimzi-backup-operator
NAMESPACE=strimzi-backup-system
version=$("$HACK_DIR/version.sh")

work=$(mktemp -d "${TMPDIR:-/tmp}/helm-check.XXXXXX")
[[ ${KEEP:-} != 1 ]] || log "work directory: $work"
trap '[[ ${KEEP:-} == 1 ]] || rm -rf "$work"' EXIT
# Helm's own state (repositories, cache) out of the user's home.
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data

failures=0
fail() { printf '[%s] FAIL: %s\n' "$(date +%H:%M:%S)" "$*" >&2; failures=$((failures + 1)); }

# The chart's version follows the product's.
chart_version=$(awk '/^version:/ { print $2 }' "$CHART/Chart.yaml")
app_version=$(awk '/^appVersion:/ { gsub(/"/, "", $2); print $2 }' "$CHART/Chart.yaml")
if [[ $chart_version != "$version" || $app_version != "$version" ]]; then
  fail "Chart.yaml has version $chart_version, appVersion $app_version; hack/version.sh says $version: run hack/helm-sync.sh"
fi

# Scenarios: name and values (YAML). The licence is a made-up token: the chart does not check it.
LICENSE_TOKEN=eyJpZCI6ImhlbG0tY2hlY2sifQ.c2lnbmF0dXJlLW5vdC1jaGVja2Vk
declare -A scenarios=(
  [default]=''
  [watch-namespaces]=$'watchNamespaces: [team-a, team-b]\nlogLevel: debug\nextraEnv: [{name: HTTPS_PROXY, value: "http://proxy.example.com:3128"}]'
  [self-signed]=$'webhook: {certs: {mode: selfSigned, selfSigned: {validityDays: 365}}}'
  [cert-manager]=$'webhook: {certs: {mode: certManager}}'
  [webhook-off]=$'webhook: {enabled: false}'
  [monitoring]=$'metrics: {serviceMonitor: {enabled: true, labels: {release: prometheus}}, prometheusRule: {enabled: true}}\ngrafanaDashboard: {enabled: true, annotations: {grafana_folder: Kafka}}'
  [license-key]="license: {key: $LICENSE_TOKEN}"
  [license-existing]=$'license: {existingSecret: my-licence}'
  [scheduling]=$'replicaCount: 2\nimage: {digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", pullSecrets: [{name: registry}]}\npriorityClassName: system-cluster-critical\nnodeSelector: {kubernetes.io/os: linux}\ntolerations: [{key: dedicated, operator: Exists}]\naffinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app.kubernetes.io/name: strimzi-backup-operator}}}}]}}\npodAnnotations: {example.com/team: kafka}'
)
# Values that must be refused, and what the error must say.
declare -A refused=(
  [license-twice]=$'license: {key: abc, existingSecret: other}'
  [unknown-mode]=$'webhook: {certs: {mode: manual}}'
  [bad-failure-policy]=$'webhook: {failurePolicy: Sometimes}'
)
declare -A refused_because=(
  [license-twice]='set either existingSecret or key'
  [unknown-mode]='/webhook/certs/mode'
  [bad-failure-policy]='/webhook/failurePolicy'
)

optional_missing=()
[[ -f $CHART/files/prometheus/rules.yaml ]] || optional_missing+=(files/prometheus/rules.yaml)
[[ -f $CHART/files/grafana/strimzi-backup-operator.json ]] || optional_missing+=(files/grafana/strimzi-backup-operator.json)

mkdir -p "$work/values" "$work/rendered"
for name in $(printf '%s\n' "${!scenarios[@]}" | sort); do
  values=$work/values/$name.yaml
  printf '%s\n' "${scenarios[$name]}" >"$values"
  if [[ $name == monitoring && ${#optional_missing[@]} -gt 0 ]]; then
    log "skipping scenario monitoring: ${optional_missing[*]} not in the chart yet (config/ lacks them; re-run hack/helm-sync.sh when it has them)"
    continue
  fi
  if ! out=$("$HELM" lint --strict "$CHART" --namespace "$NAMESPACE" -f "$values" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "helm lint --strict ($name)"
  fi
  if ! "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$values" \
    >"$work/rendered/$name.yaml" 2>"$work/rendered/$name.err"; then
    cat "$work/rendered/$name.err" >&2
    fail "helm template ($name)"
  fi
  log "scenario $name: lint and template passed"
done

# The oldest Kubernetes the chart supports renders too (kubeVersion >=1.29.0-0).
"$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version 1.29.0 >/dev/null ||
  fail "helm template --kube-version 1.29.0"

for name in $(printf '%s\n' "${!refused[@]}" | sort); do
  values=$work/values/refused-$name.yaml
  printf '%s\n' "${refused[$name]}" >"$values"
  if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$values" >/dev/null 2>"$work/refused.err"; then
    fail "values $name (${refused[$name]}) were accepted"
  elif ! grep -qF "${refused_because[$name]}" "$work/refused.err"; then
    cat "$work/refused.err" >&2
    fail "values $name refused without naming ${refused_because[$name]}"
  else
    log "values $name refused: $(grep -v -e '^$' -e 'Use --debug' "$work/refused.err" | tail -n1)"
  fi
done

# NOTES.txt says how to check the operator and never shows the licence. `helm template` does not
# print NOTES and `helm install --dry-run` needs a cluster, so a copy of the chart renders them
# into a manifest through tpl (same values, same named templates).
cp -r "$CHART" "$work/notes-chart"
cp "$CHART/templates/NOTES.txt" "$work/notes-chart/notes-check.txt"
printf '%s\n' 'apiVersion: v1' 'kind: NotesCheck' 'metadata: {name: notes}' \
  'notes: {{ tpl (.Files.Get "notes-check.txt") . | toJson }}' >"$work/notes-chart/templates/notes-check.yaml"
for name in default license-key license-existing watch-namespaces cert-manager; do
  if ! notes=$("$HELM" template "$RELEASE" "$work/notes-chart" --namespace "$NAMESPACE" \
    -f "$work/values/$name.yaml" --show-only templates/notes-check.yaml 2>&1); then
    printf '%s\n' "$notes" >&2
    fail "NOTES.txt does not render ($name)"
    continue
  fi
  ! grep -qF "$LICENSE_TOKEN" <<<"$notes" || fail "NOTES.txt shows the licence key ($name)"
  grep -qF "kubectl -n $NAMESPACE rollout status deployment/$RELEASE" <<<"$notes" ||
    fail "NOTES.txt does not say how to check that the operator runs ($name)"
done
log "NOTES.txt renders, says how to check the operator and never shows the licence"

# config/default, with the chart's default image.
python3 "$HACK_DIR/bundle/kustomize.py" --config config --overlay default \
  --image "quay.io/strimzi-backup/strimzi-backup-operator:$app_version" --kubectl "$KUBECTL_BIN" \
  >"$work/config-default.yaml" || die "kubectl kustomize config/default failed"

if [[ -f $work/rendered/default.yaml && -f $work/rendered/cert-manager.yaml ]]; then
  monitoring=$work/rendered/monitoring.yaml
  [[ -f $monitoring ]] || monitoring=
  if ! python3 - "$work/config-default.yaml" "$work/rendered/default.yaml" \
    "$work/rendered/cert-manager.yaml" "$CHART" config "${monitoring}" <<'PY'; then
import difflib
import json
import sys
from pathlib import Path

import yaml

config_path, default_path, cert_manager_path, chart_dir, config_dir, monitoring_path = sys.argv[1:7]
chart_dir, config_dir = Path(chart_dir), Path(config_dir)
FULLNAME = "strimzi-backup-operator"
problems = []


def load(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def index(docs):
    return {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")): d for d in docs}


def dump(value):
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, width=1000).splitlines()


def same(what, config_value, chart_value, config_name="config/default", chart_name="chart"):
    if config_value != chart_value:
        diff = "\n".join(difflib.unified_diff(dump(config_value), dump(chart_value), config_name, chart_name, lineterm=""))
        problems.append(f"{what} differs:\n{diff}")


def chart_name_of(kind, name):
    """The chart's name for an object of config/default (same but for the users' roles)."""
    if kind == "ClusterRole" and (name.endswith("-editor") or name.endswith("-viewer")):
        return f"{FULLNAME}-{name}"
    return name


def compare(config_docs, chart_docs, cert_manager, scenario):
    chart = index(chart_docs)
    for doc in config_docs:
        kind, name, ns = doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace")
        if kind in ("Namespace", "CustomResourceDefinition"):
            continue
        if not cert_manager and kind in ("Certificate", "Issuer"):
            continue
        what = f"[{scenario}] {kind} {name}"
        other = chart.get((kind, chart_name_of(kind, name), ns))
        if other is None:
            problems.append(f"{what} of config/default is missing from the chart")
            continue
        if kind in ("ClusterRole", "Role"):
            same(f"{what}: rules", doc["rules"], other["rules"])
            agg = lambda d: {k: v for k, v in d["metadata"].get("labels", {}).items() if k.startswith("rbac.authorization.k8s.io/")}
            same(f"{what}: aggregation labels", agg(doc), agg(other))
        elif kind in ("ClusterRoleBinding", "RoleBinding"):
            same(f"{what}: roleRef", doc["roleRef"], other["roleRef"])
            same(f"{what}: subjects", doc["subjects"], other["subjects"])
        elif kind == "Deployment":
            same(f"{what}: replicas", doc["spec"].get("replicas"), other["spec"].get("replicas"))
            pod, chart_pod = doc["spec"]["template"]["spec"], other["spec"]["template"]["spec"]
            for field in ("securityContext", "serviceAccountName", "terminationGracePeriodSeconds", "volumes"):
                same(f"{what}: pod {field}", pod.get(field), chart_pod.get(field))
            containers = {c["name"]: c for c in chart_pod["containers"]}
            for c in pod["containers"]:
                mine = dict(containers.get(c["name"], {}))
                mine.pop("imagePullPolicy", None)
                same(f"{what}: container {c['name']}", c, mine)
            annotations = other["spec"]["template"]["metadata"].get("annotations", {})
            for k, v in doc["spec"]["template"]["metadata"].get("annotations", {}).items():
                same(f"{what}: pod annotation {k}", v, annotations.get(k))
        elif kind == "Service":
            same(f"{what}: ports", doc["spec"]["ports"], other["spec"]["ports"])
            selector = other["spec"].get("selector", {})
            same(f"{what}: selector (config/default's labels)", doc["spec"]["selector"],
                 {k: selector.get(k) for k in doc["spec"]["selector"]})
        elif kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            fields = ("name", "clientConfig", "rules", "failurePolicy", "matchPolicy", "sideEffects",
                      "admissionReviewVersions", "timeoutSeconds", "reinvocationPolicy", "namespaceSelector",
                      "objectSelector")

            def hooks(d):
                out = []
                for w in d["webhooks"]:
                    w = {k: w.get(k) for k in fields}
                    w["clientConfig"] = {"service": w["clientConfig"]["service"]}
                    out.append(w)
                return out

            same(f"{what}: webhooks", hooks(doc), hooks(other))
            if cert_manager:
                key = "cert-manager.io/inject-ca-from"
                same(f"{what}: annotation {key}", doc["metadata"]["annotations"].get(key),
                     other["metadata"].get("annotations", {}).get(key))
        elif kind in ("Certificate", "Issuer"):
            same(f"{what}: spec", doc["spec"], other["spec"])
    # And nothing cluster-wide or privileged the plain install does not have.
    config_keys = {(d["kind"], chart_name_of(d["kind"], d["metadata"]["name"])) for d in config_docs}
    for d in chart_docs:
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                         "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            if (d["kind"], d["metadata"]["name"]) not in config_keys:
                problems.append(f"[{scenario}] the chart has {d['kind']} {d['metadata']['name']}, config/default has not")


config_docs = load(config_path)
compare(config_docs, load(default_path), False, "default values")
compare(config_docs, load(cert_manager_path), True, "webhook.certs.mode=certManager")

# CRDs: the chart's copies are config/crd/bases byte for byte, and what config/default renders.
bases = {p.name: p for p in (config_dir / "crd/bases").glob("*.yaml")}
copies = {p.name: p for p in (chart_dir / "crds").glob("*.yaml")}
if sorted(bases) != sorted(copies):
    problems.append(f"CRD files differ: config/crd/bases has {sorted(bases)}, the chart's crds/ {sorted(copies)} (run hack/helm-sync.sh)")
for name in sorted(set(bases) & set(copies)):
    a, b = bases[name].read_text(), copies[name].read_text()
    if a != b:
        diff = "\n".join(list(difflib.unified_diff(a.splitlines(), b.splitlines(), f"config/crd/bases/{name}", f"crds/{name}", lineterm=""))[:60])
        problems.append(f"CRD {name} differs (run hack/helm-sync.sh):\n{diff}")
rendered_crds = {d["metadata"]["name"]: d for d in config_docs if d["kind"] == "CustomResourceDefinition"}
chart_crds = {}
for p in copies.values():
    for d in load(p):
        chart_crds[d["metadata"]["name"]] = d
same("CRDs (config/default's rendering vs the chart's crds/)", rendered_crds, chart_crds)

# Monitoring, against config/prometheus and config/grafana when they exist.
if monitoring_path:
    chart = load(monitoring_path)
    by_kind = {d["kind"]: d for d in chart}
    monitor_file = config_dir / "prometheus/monitor.yaml"
    if monitor_file.exists():
        monitor = yaml.safe_load(monitor_file.read_text())
        mine = by_kind.get("ServiceMonitor")
        if mine is None:
            problems.append("[monitoring] no ServiceMonitor rendered")
        else:
            for field in ("endpoints", "jobLabel"):
                same(f"ServiceMonitor {field}", monitor["spec"][field], mine["spec"][field], "config/prometheus/monitor.yaml")
            wanted = monitor["spec"]["selector"]["matchLabels"]
            got = mine["spec"]["selector"]["matchLabels"]
            same("ServiceMonitor selector (config's labels)", wanted, {k: got.get(k) for k in wanted}, "config/prometheus/monitor.yaml")
    rules_file = config_dir / "prometheus/rules.yaml"
    if rules_file.exists():
        rules = yaml.safe_load(rules_file.read_text())
        mine = by_kind.get("PrometheusRule")
        if mine is None:
            problems.append("[monitoring] no PrometheusRule rendered")
        else:
            same("PrometheusRule groups", rules["spec"]["groups"], mine["spec"]["groups"], "config/prometheus/rules.yaml")
    dashboard_file = config_dir / "grafana/strimzi-backup-operator.json"
    if dashboard_file.exists():
        mine = by_kind.get("ConfigMap")
        if mine is None:
            problems.append("[monitoring] no dashboard ConfigMap rendered")
        else:
            text = mine["data"]["strimzi-backup-operator.json"]
            if text.rstrip("\n") != dashboard_file.read_text().rstrip("\n"):
                problems.append("the dashboard ConfigMap's JSON is not config/grafana/strimzi-backup-operator.json (run hack/helm-sync.sh)")
            json.loads(text)
            if mine["metadata"]["labels"].get("grafana_dashboard") != "1":
                problems.append('the dashboard ConfigMap lacks the label grafana_dashboard: "1"')

if problems:
    print(f"The chart does not match config/ ({len(problems)} difference(s)):\n", file=sys.stderr)
    for p in problems:
        print(p + "\n", file=sys.stderr)
    sys.exit(1)
print("consistency: the chart's RBAC, Deployment, Services, webhooks, certificates, CRDs"
      + (" and monitoring" if monitoring_path else "") + " match config/")
PY
    fail "the chart does not match config/ (differences above)"
  fi
else
  fail "the default or cert-manager rendering failed: no consistency check"
fi

# What each alternative must change (the same script reads every rendering).
python3 - "$work/rendered" "$LICENSE_TOKEN" <<'PY' || fail "the alternatives do not render as they should (above)"
import base64
import sys
from pathlib import Path

import yaml

rendered, token = Path(sys.argv[1]), sys.argv[2]
problems = []


def docs(name):
    path = rendered / f"{name}.yaml"
    return [d for d in yaml.safe_load_all(path.read_text()) if d] if path.exists() else None


def check(scenario, ok, message):
    if not ok:
        problems.append(f"[{scenario}] {message}")


def container(ds):
    deployment = next(d for d in ds if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env(ds):
    return {e["name"]: e.get("value") for e in container(ds)["env"]}


def kinds(ds):
    return [d["kind"] for d in ds]


if (ds := docs("watch-namespaces")) is not None:
    s = "watch-namespaces"
    bindings = sorted(d["metadata"]["namespace"] for d in ds if d["kind"] == "RoleBinding" and d["roleRef"]["kind"] == "ClusterRole")
    check(s, bindings == ["team-a", "team-b"], f"RoleBindings of the controllers' ClusterRole in {bindings}, not team-a and team-b")
    check(s, "ClusterRoleBinding" not in kinds(ds), "a ClusterRoleBinding although namespaces are listed")
    e = env(ds)
    check(s, e.get("STRIMZI_BACKUP_NAMESPACE") == "team-a,team-b", f"STRIMZI_BACKUP_NAMESPACE is {e.get('STRIMZI_BACKUP_NAMESPACE')!r}")
    check(s, e.get("STRIMZI_BACKUP_LOG_LEVEL") == "debug", "logLevel is not STRIMZI_BACKUP_LOG_LEVEL")
    check(s, e.get("HTTPS_PROXY") == "http://proxy.example.com:3128", "extraEnv is not in the env")
    for d in ds:
        if d["kind"].endswith("WebhookConfiguration"):
            for w in d["webhooks"]:
                sel = w.get("namespaceSelector", {})
                want = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]}
                check(s, sel == want, f"webhook {w['name']} has namespaceSelector {sel}")

if (ds := docs("self-signed")) is not None:
    s = "self-signed"
    secret = next((d for d in ds if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-webhook-cert")), None)
    check(s, secret is not None and set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}, "no Secret with ca.crt, tls.crt, tls.key")
    if secret:
        ca = secret["data"]["ca.crt"]
        for d in ds:
            if d["kind"].endswith("WebhookConfiguration"):
                check(s, all(w["clientConfig"].get("caBundle") == ca for w in d["webhooks"]), f"{d['kind']}: caBundle is not the Secret's ca.crt")
        tmpl = next(d for d in ds if d["kind"] == "Deployment")["spec"]["template"]["metadata"]
        check(s, "checksum/webhook-cert" in tmpl.get("annotations", {}), "no checksum/webhook-cert annotation on the pods")
        pem = base64.b64decode(secret["data"]["tls.crt"]).decode()
        check(s, pem.startswith("-----BEGIN CERTIFICATE-----"), "tls.crt is not a PEM certificate")
    check(s, "Certificate" not in kinds(ds) and "Issuer" not in kinds(ds), "cert-manager objects in selfSigned mode")

if (ds := docs("cert-manager")) is not None:
    s = "cert-manager"
    check(s, "Certificate" in kinds(ds) and "Issuer" in kinds(ds), "no Certificate and Issuer")
    check(s, not any(d["kind"] == "Secret" for d in ds), "a Secret in certManager mode")
    for d in ds:
        if d["kind"].endswith("WebhookConfiguration"):
            check(s, all("caBundle" not in w["clientConfig"] for w in d["webhooks"]), f"{d['kind']}: a caBundle next to the CA injector")

if (ds := docs("webhook-off")) is not None:
    s = "webhook-off"
    check(s, not any(k.endswith("WebhookConfiguration") or k in ("Certificate", "Issuer") for k in kinds(ds)), "webhook objects rendered")
    check(s, not any(d["kind"] == "Secret" for d in ds), "a certificate Secret rendered")
    c = container(ds)
    check(s, c["args"] == ["operator", "--disable-webhook"], f"args {c['args']}")
    check(s, "volumeMounts" not in c, "the certificate is still mounted")
    services = [d["metadata"]["name"] for d in ds if d["kind"] == "Service"]
    check(s, services == ["strimzi-backup-operator-metrics"], f"Services {services}")

if (ds := docs("license-key")) is not None:
    s = "license-key"
    secret = next((d for d in ds if d["kind"] == "Secret" and d["metadata"]["name"] == "strimzi-backup-license"), None)
    check(s, secret is not None, "no Secret strimzi-backup-license")
    if secret:
        check(s, base64.b64decode(secret["data"]["license.key"]).decode() == token, "license.key is not the token")
    check(s, "STRIMZI_BACKUP_LICENSE_SECRET" not in env(ds), "STRIMZI_BACKUP_LICENSE_SECRET set for the default name")

if (ds := docs("license-existing")) is not None:
    s = "license-existing"
    check(s, not any(d["kind"] == "Secret" and "license" in d["metadata"]["name"] for d in ds), "a licence Secret created")
    check(s, env(ds).get("STRIMZI_BACKUP_LICENSE_SECRET") == "my-licence", "STRIMZI_BACKUP_LICENSE_SECRET is not my-licence")
    role = next(d for d in ds if d["kind"] == "Role")
    names = [n for r in role["rules"] if "secrets" in r["resources"] for n in r.get("resourceNames", [])]
    check(s, names == ["my-licence"], f"the Role lets the operator read Secrets {names}, not my-licence")

if (ds := docs("scheduling")) is not None:
    s = "scheduling"
    d = next(d for d in ds if d["kind"] == "Deployment")
    pod = d["spec"]["template"]["spec"]
    check(s, d["spec"]["replicas"] == 2, "replicaCount")
    image = "quay.io/strimzi-backup/strimzi-backup-operator@sha256:" + "0123456789abcdef" * 4
    check(s, container(ds)["image"] == image and env(ds)["STRIMZI_BACKUP_IMAGE"] == image, "image digest not in image and STRIMZI_BACKUP_IMAGE")
    for field in ("imagePullSecrets", "priorityClassName", "nodeSelector", "tolerations", "affinity"):
        check(s, field in pod, f"{field} not in the pod spec")
    check(s, d["spec"]["template"]["metadata"]["annotations"].get("example.com/team") == "kafka", "podAnnotations")

if (ds := docs("monitoring")) is not None:
    s = "monitoring"
    for k in ("ServiceMonitor", "PrometheusRule", "ConfigMap"):
        check(s, k in kinds(ds), f"no {k}")
    monitor = next((d for d in ds if d["kind"] == "ServiceMonitor"), None)
    if monitor:
        check(s, monitor["metadata"]["labels"].get("release") == "prometheus", "serviceMonitor.labels not on the ServiceMonitor")

for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

if [[ $failures -gt 0 ]]; then
  die "helm-check: $failures failure(s)"
fi
log "helm-check: chart $CHART $chart_version lints, renders and matches config/"
