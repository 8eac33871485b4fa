#!/usr/bin/env bash
# `make catalog`: a file-based catalog (catalog/strimzi-backup-operator/catalog.yaml) holding
# the package, its channels and this version's bundle, rendered by opm from bundle/ and checked
# with `opm validate`; catalog.Dockerfile serves it (opm's own generator). BUNDLE_IMG names the
# bundle image the catalog points at (the image bundle.Dockerfile builds).
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/tools.sh"
cd "$ROOT_DIR"
"$HACK_DIR/tools.sh" opm
VERSION=${VERSION:-$("$HACK_DIR/version.sh")}
BUNDLE_IMG=${BUNDLE_IMG:-$OPERATOR_IMAGE-bundle:v$VERSION}
package=strimzi-backup-operator
out=catalog/$package

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The package's description is the CSV's.
python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["description"])' \
  bundle/manifests/$package.clusterserviceversion.yaml >"$work/description.md"
"$OPM" init "$package" --default-channel "$(awk -F': ' '/channel.default.v1:/ {print $2}' bundle/metadata/annotations.yaml)" \
  --icon config/manifests/icon.svg --description "$work/description.md" --output yaml >"$work/package.yaml"
"$OPM" render bundle --output yaml >"$work/bundle.yaml"
python3 "$HACK_DIR/bundle/catalog.py" --package "$work/package.yaml" --bundle "$work/bundle.yaml" \
  --annotations bundle/metadata/annotations.yaml --image "$BUNDLE_IMG" >"$work/catalog.yaml"

rm -rf catalog
mkdir -p "$out"
mv "$work/catalog.yaml" "$out/catalog.yaml"
"$OPM" validate catalog
rm -f catalog.Dockerfile
"$OPM" generate dockerfile catalog --base-image "quay.io/operator-framework/opm:$OPM_VERSION" --builder-image "quay.io/operator-framework/opm:$OPM_VERSION" >/dev/null
# opm writes ADD for a local directory; COPY says the same without ADD's URL/tar magic (hadolint DL3020).
sed -i 's|^ADD catalog /configs$|COPY catalog /configs|' catalog.Dockerfile
log "catalog/ valid: $package with bundle $BUNDLE_IMG"
