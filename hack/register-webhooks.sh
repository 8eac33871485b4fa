#!/usr/bin/env bash
# Registers the operator's admission webhooks with the local API server by URL, for an operator
# run as a host process (`operator --webhook-self-signed`, as `make demo` and the tests run it).
# In a cluster, OLM (the CSV's webhookdefinitions) or config/webhook with cert-manager does this.
#
#   hack/register-webhooks.sh --url https://127.0.0.1:9443 --ca-file DIR/ca.crt \
#       [--name strimzi-backup-operator] [--namespace-label KEY=VALUE]
#   hack/register-webhooks.sh --delete [--name strimzi-backup-operator]
#
# --ca-file is the CA the webhook's certificate chains to (the self-signed bootstrap writes it as
# ca.crt in the certificate directory); a file with several CAs works, e.g. during a rotation.
# --namespace-label limits the webhooks to namespaces with that label (the tests use it so that a
# test's webhooks never judge another test's objects). Uses $KUBECTL and $KUBECONFIG, or the local
# environment's (.local-env/env).
. "$(dirname "$0")/lib.sh"

NAME=strimzi-backup-operator URL= CA_FILE= LABEL= DELETE=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --url) URL=${2:-}; shift 2 ;;
    --ca-file) CA_FILE=${2:-}; shift 2 ;;
    --name) NAME=${2:-}; shift 2 ;;
    --namespace-label) LABEL=${2:-}; shift 2 ;;
    --delete) DELETE=1; shift ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done
if [[ -z ${KUBECTL:-} || -z ${KUBECONFIG:-} ]]; then
  [[ -f $ENV_DIR/env ]] || die "KUBECTL/KUBECONFIG unset and no local environment ($ENV_DIR/env): run make env-up"
  # shellcheck disable=SC1091
  . "$ENV_DIR/env"
fi
export KUBECONFIG

if [[ $DELETE == 1 ]]; then
  "$KUBECTL" delete --ignore-not-found mutatingwebhookconfiguration "$NAME" >/dev/null
  "$KUBECTL" delete --ignore-not-found validatingwebhookconfiguration "$NAME" >/dev/null
  exit 0
fi
[[ $URL =~ ^https://[^/]+$ ]] || die "--url must be https://HOST:PORT (no path), not '$URL'"
[[ -s $CA_FILE ]] || die "--ca-file '$CA_FILE' is missing or empty (the operator writes ca.crt with --webhook-self-signed)"
CA_BUNDLE=$(base64 -w0 <"$CA_FILE")
SELECTOR="{}"
if [[ -n $LABEL ]]; then
  [[ $LABEL =~ ^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$ ]] || die "--namespace-label must be KEY=VALUE, not '$LABEL'"
  SELECTOR="{matchLabels: {\"${BASH_REMATCH[1]}\": \"${BASH_REMATCH[2]}\"}}"
fi

# One webhook per kind and operation, at the kubebuilder paths the operator serves (admission::KINDS;
# src/admission/tests.rs holds this list to it).
webhooks() {
  local op=$1 kind plural
  for kind in KafkaBackup KafkaRestore KafkaOffsetReset KafkaBackupLocation KafkaRestoreDrill KafkaBackupSchedule KafkaDataErasure; do
    plural=$(tr '[:upper:]' '[:lower:]' <<<"$kind")
    cat <<YAML
  - name: ${op:0:1}${plural}.kafkabackup.com
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    matchPolicy: Equivalent
    timeoutSeconds: 10
    namespaceSelector: $SELECTOR
    clientConfig:
      url: $URL/$op-kafkabackup-com-v1alpha1-$plural
      caBundle: $CA_BUNDLE
    rules:
      - apiGroups: [kafkabackup.com]
        apiVersions: [v1alpha1]
        operations: [CREATE, UPDATE]
        resources: [${plural}s]
        scope: Namespaced
YAML
    if [[ $op == mutate ]]; then echo "    reinvocationPolicy: IfNeeded"; fi
  done
}

{
  printf 'apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: %s}\nwebhooks:\n' "$NAME"
  webhooks mutate
  printf -- '---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: %s}\nwebhooks:\n' "$NAME"
  webhooks validate
} | "$KUBECTL" apply --server-side --force-conflicts --field-manager strimzi-backup-hack -f - >/dev/null
log "webhooks $NAME registered at $URL"
