#!/usr/bin/env python3
"""The Helm chart against config/ (hack/helm-check.sh step 3): the chart rendered with default
values (and with cert-manager certificates, and with monitoring on) compared with config/default's
rendering in the parts that must agree. Arguments: config/default's rendering, the chart's default
and cert-manager renderings, the chart directory, the config directory, the monitoring rendering.
Prints a unified diff per difference; exits 1 on any."""
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
    if kind == "ClusterRole" and name == "strimzi-backup-restorer":
        return f"{FULLNAME}-restorer"
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
        elif kind == "PodDisruptionBudget":
            same(f"{what}: minAvailable", doc["spec"].get("minAvailable"), other["spec"].get("minAvailable"))
        elif kind == "NetworkPolicy":
            same(f"{what}: policyTypes", doc["spec"]["policyTypes"], other["spec"]["policyTypes"])
            same(f"{what}: ingress", doc["spec"]["ingress"], other["spec"]["ingress"])
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

# Monitoring, against config/prometheus and config/grafana.
by_kind = {d["kind"]: d for d in load(monitoring_path)}


def rendered(kind, what):
    """The chart's object of `kind`, or None with the problem recorded."""
    if kind not in by_kind:
        problems.append(f"[monitoring] no {what} rendered")
    return by_kind.get(kind)


if mine := rendered("ServiceMonitor", "ServiceMonitor"):
    monitor = yaml.safe_load((config_dir / "prometheus/monitor.yaml").read_text())
    for field in ("endpoints", "jobLabel"):
        same(f"ServiceMonitor {field}", monitor["spec"][field], mine["spec"][field], "config/prometheus/monitor.yaml")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    got = mine["spec"]["selector"]["matchLabels"]
    same("ServiceMonitor selector (config's labels)", wanted, {k: got.get(k) for k in wanted}, "config/prometheus/monitor.yaml")
if mine := rendered("PrometheusRule", "PrometheusRule"):
    rules = yaml.safe_load((config_dir / "prometheus/rules.yaml").read_text())
    same("PrometheusRule groups", rules["spec"]["groups"], mine["spec"]["groups"], "config/prometheus/rules.yaml")
if mine := rendered("ConfigMap", "dashboard ConfigMap"):
    text = mine["data"]["strimzi-backup-operator.json"]
    if text.rstrip("\n") != (config_dir / "grafana/strimzi-backup-operator.json").read_text().rstrip("\n"):
        problems.append("the dashboard ConfigMap's JSON is not config/grafana/strimzi-backup-operator.json (run hack/helm-sync.sh)")
    json.loads(text)
    if mine["metadata"]["labels"].get("grafana_dashboard") != "1":
        problems.append('the dashboard ConfigMap lacks the label grafana_dashboard: "1"')

if problems:
    print(f"The chart does not match config/ ({len(problems)} difference(s)):\n", file=sys.stderr)
    for p in problems:
        print(p + "\n", file=sys.stderr)
    sys.exit(1)
print("consistency: the chart's RBAC, Deployment, Services, webhooks, certificates, CRDs and monitoring match config/")
