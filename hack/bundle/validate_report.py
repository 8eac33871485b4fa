#!/usr/bin/env python3
"""Reads `operator-sdk bundle validate --output json-alpha1` on stdin; fails on any error or
warning. Two exceptions:
- the fixed notice that the `operatorhub` validator itself is deprecated (in favour of the
  OperatorHub.io one), which says nothing about the bundle;
- "provided API should have an example annotation" for a kind the CSV (given with --bundle) marks
  internal (`operators.operatorframework.io/internal-objects`): the operator alone writes those
  (KafkaRestorePoint), so an example would offer users an object they must not create. Any other
  kind without an example still fails (hack/bundle/finish.py refuses it already)."""
import argparse
import json
import re
import sys
from pathlib import Path

import yaml

DEPRECATION_NOTICE = "is deprecated"
NO_EXAMPLE = "provided API should have an example annotation"
INTERNAL_OBJECTS = "operators.operatorframework.io/internal-objects"


def internal_kinds(bundle: Path) -> set[tuple[str, str]]:
    """(group/version, kind) of every owned CRD the bundle's CSV marks internal."""
    csv = yaml.safe_load(next((bundle / "manifests").glob("*.clusterserviceversion.yaml")).read_text())
    internal = set(json.loads(csv["metadata"].get("annotations", {}).get(INTERNAL_OBJECTS, "[]")))
    return {
        (f"{o['name'].split('.', 1)[1]}/{o['version']}", o["kind"])
        for o in csv["spec"]["customresourcedefinitions"]["owned"]
        if o["name"] in internal
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bundle", required=True, help="the bundle directory that was validated")
    args = ap.parse_args()
    internal = internal_kinds(Path(args.bundle))

    text = sys.stdin.read()
    start = text.find("{")
    if start < 0:
        print(text, file=sys.stderr)
        print("bundle validate: no JSON report", file=sys.stderr)
        return 1
    report, _ = json.JSONDecoder().raw_decode(text[start:])
    problems = []
    for out in report.get("outputs") or []:
        message = out.get("message", "")
        if out.get("type") == "warning" and "operatorhub" in message.lower() and DEPRECATION_NOTICE in message:
            print(f"bundle validate: ignored notice: {message}")
            continue
        about = re.search(r"Value ([^ ,]+), Kind=([^: ]+): " + re.escape(NO_EXAMPLE), message)
        if out.get("type") == "warning" and about and (about.group(1), about.group(2)) in internal:
            print(f"bundle validate: internal object, no example by design: {message}")
            continue
        problems.append(f"{out.get('type')}: {message}")
    for p in problems:
        print(f"bundle validate: {p}", file=sys.stderr)
    if problems or not report.get("passed"):
        print("bundle validate: FAILED", file=sys.stderr)
        return 1
    print("bundle validate: passed (suite=operatorframework), no errors, no warnings but the above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
