#!/usr/bin/env python3
"""Builds a kustomize overlay of config/ for a given operator image, without touching config/.

`kustomize edit set image` would rewrite config/manager/kustomization.yaml in place (and show up
as drift); this copies config/ to a temporary directory, sets the image there and runs
`kubectl kustomize` (kustomize v5, built into kubectl) on the overlay. The manager's replacement
copies the image into STRIMZI_BACKUP_IMAGE.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def split_image(image: str) -> tuple[str, str]:
    """`registry/name:tag` -> (`registry/name`, `tag`); a digest stays whole in the tag part."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", required=True, help="the config/ directory")
    ap.add_argument("--overlay", required=True, help="overlay under config/, e.g. default")
    ap.add_argument("--image", required=True)
    ap.add_argument("--kubectl", required=True)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config"
        shutil.copytree(args.config, config)
        kustomization = config / "manager" / "kustomization.yaml"
        doc = yaml.safe_load(kustomization.read_text())
        name, tag = split_image(args.image)
        for entry in doc["images"]:
            entry["newName"] = name
            entry.pop("newTag", None)
            entry.pop("digest", None)
            if tag.startswith("@"):
                entry["digest"] = tag[1:]
            else:
                entry["newTag"] = tag
        kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))
        out = subprocess.run([args.kubectl, "kustomize", str(config / args.overlay)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            return out.returncode
        sys.stdout.write(out.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
