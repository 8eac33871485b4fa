#!/usr/bin/env python3
"""Assembles the file-based catalog of the package: the olm.package from `opm init`, one
olm.channel per channel of the bundle (annotations.yaml), and the olm.bundle from `opm render`
of bundle/, pointed at the bundle image (a rendered directory names its local path instead)."""
import argparse
import sys

import yaml


def _str(dumper, value):
    """Multi-line strings (the package description) as block scalars, readable in review."""
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


yaml.SafeDumper.add_representer(str, _str)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--package", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--annotations", required=True)
    ap.add_argument("--image", required=True)
    args = ap.parse_args()

    package = yaml.safe_load(open(args.package))
    bundles = [d for d in yaml.safe_load_all(open(args.bundle)) if d and d.get("schema") == "olm.bundle"]
    if len(bundles) != 1:
        print(f"catalog: expected one olm.bundle from opm render, got {len(bundles)}", file=sys.stderr)
        return 1
    bundle = bundles[0]
    bundle["image"] = args.image
    annotations = yaml.safe_load(open(args.annotations))["annotations"]
    channels = annotations["operators.operatorframework.io.bundle.channels.v1"].split(",")
    docs = [package]
    for channel in sorted(channels):
        docs.append(
            {
                "schema": "olm.channel",
                "package": package["name"],
                "name": channel,
                "entries": [{"name": bundle["name"]}],
            }
        )
    docs.append(bundle)
    sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False, width=100, allow_unicode=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
