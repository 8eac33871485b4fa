#!/usr/bin/env bash
# `make helm-lint` (run by `make test`): the Helm chart in config/helm/strimzi-backup-operator is
# linted and rendered with its default values and with each alternative, then compared with the
# plain install (config/default) in the parts that must agree. No cluster needed.
#
#   1. `helm lint --strict` and `helm template` of each scenario below (values files written here);
#      values that must be refused (licence twice, an unknown certificate mode) must fail.
#   2. NOTES.txt, rendered through a copy of the chart, must not show the licence key.
#   3. The consistency check (python3 + PyYAML): the chart rendered with default values as release
#      strimzi-backup-operator in namespace strimzi-backup-system (the names config/default uses)
#      against `kubectl kustomize config/default` (hack/bundle/kustomize.py, same image):
#        - every object of config/default (but the Namespace) exists in the chart; the
#          editor/viewer ClusterRoles are named <fullname>-<name> in the chart, the
#          restorer role strimzi-backup-restorer <fullname>-restorer;
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
#          config/prometheus/rules.yaml and the dashboard against config/grafana.
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

mkdir -p "$work/values" "$work/rendered"
for name in $(printf '%s\n' "${!scenarios[@]}" | sort); do
  values=$work/values/$name.yaml
  printf '%s\n' "${scenarios[$name]}" >"$values"
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
  --image "$OPERATOR_IMAGE:$app_version" --kubectl "$KUBECTL_BIN" \
  >"$work/config-default.yaml" || die "kubectl kustomize config/default failed"

if ! python3 "$HACK_DIR/helm/consistency.py" "$work/config-default.yaml" "$work/rendered/default.yaml" \
  "$work/rendered/cert-manager.yaml" "$CHART" config "$work/rendered/monitoring.yaml"; then
  fail "the chart does not match config/ (differences above)"
fi

# What each alternative must change (the same script reads every rendering).
python3 "$HACK_DIR/helm/alternatives.py" "$work/rendered" "$LICENSE_TOKEN" || fail "the alternatives do not render as they should (above)"

if [[ $failures -gt 0 ]]; then
  die "helm-check: $failures failure(s)"
fi
log "helm-check: chart $CHART $chart_version lints, renders and matches config/"
