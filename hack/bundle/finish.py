#!/usr/bin/env python3
"""Completes the bundle operator-sdk generated, and checks what OperatorHub reviewers check.

operator-sdk builds the CSV from config/manifests but cannot know:
- the icon (config/manifests/icon.svg, embedded as base64);
- the image as `containerImage` and in `relatedImages` (the only image: Jobs run the operator's
  own image, so mirroring it is enough for a disconnected cluster);
- a stable `createdAt` (operator-sdk stamps the current time, which would make every run drift:
  the base CSV's value is kept, set at release);
- the OpenShift versions (`com.redhat.openshift.versions`) in annotations.yaml and
  bundle.Dockerfile.
It also fails when a top-level spec or status field of an owned CRD has no descriptor, or when an
alm-example carries a status, so a new field cannot ship undescribed; when a kind lists no
`resources` (scorecard's olm-crds-have-resources fails on it too); and when a kind users create has
no alm-example. Kinds the operator alone writes are named in the
`operators.operatorframework.io/internal-objects` annotation (KafkaRestorePoint): the console
offers no form for them, so they have no alm-example (and must not have one).
"""
import argparse
import base64
import json
import sys
from pathlib import Path

import yaml


class Literal(str):
    """A multi-line string written as a YAML block scalar (the CSV description)."""


def _literal(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(Literal, _literal)


def dump(doc) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)


def load(path: Path):
    return yaml.safe_load(path.read_text())


INTERNAL_OBJECTS = "operators.operatorframework.io/internal-objects"


def internal_objects(csv) -> set[str]:
    """The CRD names (plural.group) the CSV marks internal."""
    return set(json.loads(csv["metadata"].get("annotations", {}).get(INTERNAL_OBJECTS, "[]")))


def descriptor_problems(csv, crds) -> list[str]:
    problems = []
    internal = internal_objects(csv)
    owned_names = {o["name"] for o in csv["spec"]["customresourcedefinitions"]["owned"]}
    for name in sorted(internal - owned_names):
        problems.append(f"{INTERNAL_OBJECTS} names {name}, which is not an owned CRD")
    by_name = {c["metadata"]["name"]: c for c in crds}
    for owned in csv["spec"]["customresourcedefinitions"]["owned"]:
        crd = by_name.get(owned["name"])
        if crd is None:
            problems.append(f"owned CRD {owned['name']} is not in the bundle")
            continue
        version = next(v for v in crd["spec"]["versions"] if v["name"] == owned["version"])
        props = version["schema"]["openAPIV3Schema"]["properties"]
        for part, key in (("spec", "specDescriptors"), ("status", "statusDescriptors")):
            described = {d["path"] for d in owned.get(key, [])}
            for field in props.get(part, {}).get("properties", {}):
                if field not in described:
                    problems.append(
                        f"{owned['kind']}: {part}.{field} has no entry in {key} of "
                        "config/manifests/bases/strimzi-backup-operator.clusterserviceversion.yaml"
                    )
            for path in sorted(described - set(props.get(part, {}).get("properties", {}))):
                if "." not in path and "[" not in path:
                    problems.append(f"{owned['kind']}: {key} names {part}.{path}, which the CRD does not have")
        if not owned.get("resources"):
            problems.append(f"{owned['kind']}: no resources listed")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--base", required=True, help="the CSV base in config/manifests/bases")
    ap.add_argument("--icon", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--openshift-versions", required=True)
    args = ap.parse_args()

    bundle = Path(args.bundle)
    manifests = bundle / "manifests"
    csv_path = next(manifests.glob("*.clusterserviceversion.yaml"))
    csv = load(csv_path)
    base = load(Path(args.base))
    crds = [load(p) for p in sorted(manifests.glob("*.yaml")) if load(p).get("kind") == "CustomResourceDefinition"]

    meta = csv["metadata"]
    meta["annotations"]["containerImage"] = args.image
    meta["annotations"]["createdAt"] = base["metadata"]["annotations"]["createdAt"]
    csv["spec"]["icon"] = [
        {"base64data": base64.b64encode(Path(args.icon).read_bytes()).decode(), "mediatype": "image/svg+xml"}
    ]
    csv["spec"]["relatedImages"] = [{"name": "strimzi-backup-operator", "image": args.image}]
    csv["spec"]["description"] = Literal(csv["spec"]["description"])

    problems = descriptor_problems(csv, crds)
    examples = json.loads(meta["annotations"].get("alm-examples", "[]"))
    internal = internal_objects(csv)
    kinds = {o["kind"] for o in csv["spec"]["customresourcedefinitions"]["owned"] if o["name"] not in internal}
    for example in examples:
        if "status" in example:
            problems.append(f"alm-example {example['kind']} carries a status")
        if any(o["kind"] == example["kind"] and o["name"] in internal for o in csv["spec"]["customresourcedefinitions"]["owned"]):
            problems.append(f"alm-example {example['kind']}: an internal object (written by the operator only)")
        kinds.discard(example["kind"])
    problems += [f"no alm-example for {k}" for k in sorted(kinds)]
    if problems:
        for p in problems:
            print(f"bundle: {p}", file=sys.stderr)
        return 1
    csv_path.write_text(dump(csv))

    annotations_path = bundle / "metadata" / "annotations.yaml"
    annotations = load(annotations_path)
    annotations["annotations"]["com.redhat.openshift.versions"] = args.openshift_versions
    annotations["annotations"] = {k: v for k, v in annotations["annotations"].items() if v is not None and v != ""}
    annotations_path.write_text(dump(annotations))

    # OLM serves the webhooks through a Service of its own (<deployment>-service, with the
    # certificate it issues); ours only told operator-sdk which deployment serves them.
    for path in manifests.glob("*_v1_service.yaml"):
        if load(path)["metadata"]["name"] == "strimzi-backup-operator-webhook":
            path.unlink()

    dockerfile = Path(args.dockerfile)
    # An empty project_layout (ours is no operator-sdk plugin layout) says nothing: dropped.
    lines = [
        l
        for l in dockerfile.read_text().splitlines()
        if "com.redhat.openshift.versions" not in l and not l.endswith("project_layout=")
    ]
    at = max(i for i, l in enumerate(lines) if l.startswith("LABEL ")) + 1
    lines.insert(at, f"LABEL com.redhat.openshift.versions={args.openshift_versions}")
    dockerfile.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
