#!/usr/bin/env python3
"""What each alternative values scenario of the Helm chart must change (hack/helm-check.sh):
RoleBindings per watched namespace, the licence Secret, the caBundles of self-signed certificates,
no webhook objects when off, and so on. Arguments: the directory of renderings, the licence token
used in the licence scenario (which must never appear outside its Secret)."""
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
    # Beside the licence, the Role names the operator's own Secrets: the audit log's connection
    # (audit.secretName) and the restore authorization key it makes (restore access policy).
    own = {"strimzi-backup-audit", "strimzi-backup-restore-authorization"}
    licence = [n for n in names if n not in own]
    check(s, licence == ["my-licence"], f"the Role lets the operator read Secrets {names}, not my-licence")

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
