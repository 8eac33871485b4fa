#!/usr/bin/env bash
# `make bundle`: the OLM bundle in bundle/ (CSV, CRDs, RBAC, Services, webhook definitions,
# metadata, scorecard config) and bundle.Dockerfile, generated from config/ only:
#   kustomize build config/manifests | operator-sdk generate bundle
# then hack/bundle/finish.py fills in what operator-sdk cannot know (icon, image, createdAt,
# relatedImages, OpenShift versions) and checks the descriptors. Deterministic: a second run
# changes nothing, so CI can fail on drift.
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/tools.sh"
cd "$ROOT_DIR"
"$HACK_DIR/tools.sh" kubernetes operator-sdk

VERSION=${VERSION:-$("$HACK_DIR/version.sh")}
IMG=${IMG:-$OPERATOR_IMAGE:$VERSION}
# OperatorHub practice: every release goes to `alpha`; `stable`, the default, gets the releases
# meant for production. OPENSHIFT_VERSIONS "v4.16" means 4.16 and later (minKubeVersion 1.29).
BUNDLE_CHANNELS=${BUNDLE_CHANNELS:-alpha,stable}
BUNDLE_DEFAULT_CHANNEL=${BUNDLE_DEFAULT_CHANNEL:-stable}
OPENSHIFT_VERSIONS=${OPENSHIFT_VERSIONS:-v4.16}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
manifests=$work/manifests.yaml
python3 "$HACK_DIR/bundle/kustomize.py" --config config --image "$IMG" --kubectl "$K8S_BIN/kubectl" \
  --overlay manifests >"$manifests"

rm -rf bundle/manifests bundle/metadata bundle/tests
# operator-sdk reads manifests from stdin only when it is a pipe (hence cat).
# shellcheck disable=SC2002
cat "$manifests" | "$OPERATOR_SDK" generate bundle --quiet --overwrite --package strimzi-backup-operator \
  --version "$VERSION" --channels "$BUNDLE_CHANNELS" --default-channel "$BUNDLE_DEFAULT_CHANNEL" \
  --output-dir bundle
# operator-sdk writes bundle.Dockerfile into the working directory.
python3 "$HACK_DIR/bundle/finish.py" --bundle bundle --dockerfile bundle.Dockerfile \
  --base config/manifests/bases/strimzi-backup-operator.clusterserviceversion.yaml --icon config/manifests/icon.svg --image "$IMG" --openshift-versions "$OPENSHIFT_VERSIONS"
log "bundle/ for strimzi-backup-operator.v$VERSION ($IMG)"
