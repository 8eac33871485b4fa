#!/usr/bin/env bash
# Copies what the Helm chart shares with config/ into config/helm/strimzi-backup-operator (part of
# `make generate`, so `make manifests-check` fails when the chart drifts from config/):
#   crds/                 <- config/crd/bases/*.yaml (Helm installs crds/ on first install)
#   files/rbac/           <- the rules of config/rbac: all-namespaces/role.yaml (controllers),
#                            leader_election_role.yaml, the editor, viewer and restorer roles
#   files/prometheus/     <- config/prometheus/rules.yaml (the PrometheusRule's groups)
#   files/grafana/        <- config/grafana/strimzi-backup-operator.json (the dashboard)
#   Chart.yaml            <- version and appVersion (and the Artifact Hub image tag) from hack/version.sh
# The copies are verbatim; the templates read them with .Files.Get.
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"

CHART=config/helm/strimzi-backup-operator
version=$("$HACK_DIR/version.sh")
[[ -n $version ]] || die "hack/version.sh printed no version"

# sync_dir DEST SOURCE...: DEST holds exactly copies of the SOURCE files.
sync_dir() {
  local dest=$1 src; shift
  for src in "$@"; do [[ -f $src ]] || die "helm-sync: $src is missing"; done
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$@" "$dest/"
  chmod 644 "$dest"/*
}

shopt -s nullglob
crds=(config/crd/bases/*.yaml)
[[ ${#crds[@]} -gt 0 ]] || die "no CRDs in config/crd/bases: run 'make manifests' first"
sync_dir "$CHART/crds" "${crds[@]}"

user_roles=(config/rbac/*_editor_role.yaml config/rbac/*_viewer_role.yaml config/rbac/*_restorer_role.yaml)
[[ ${#user_roles[@]} -gt 0 ]] || die "no editor/viewer roles in config/rbac"
sync_dir "$CHART/files/rbac" config/rbac/all-namespaces/role.yaml config/rbac/leader_election_role.yaml "${user_roles[@]}"

sync_dir "$CHART/files/prometheus" config/prometheus/rules.yaml
sync_dir "$CHART/files/grafana" config/grafana/strimzi-backup-operator.json

# version and appVersion, and the image of the Artifact Hub annotation.
sed -E -i \
  -e "s/^version: .*/version: $version/" \
  -e "s/^appVersion: .*/appVersion: \"$version\"/" \
  -e "s#^(      image: quay\.io/strimzi-backup/strimzi-backup-operator:).*#\1$version#" \
  "$CHART/Chart.yaml"

log "helm-sync: $CHART in step with config/ (version $version)"
