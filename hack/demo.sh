#!/usr/bin/env bash
# `make demo`: the operator end to end on the local environment, as a user would see it.
#
#   1. starts the local environment (`make env-up`; parts already running are left alone)
#   2. installs our CRDs and Strimzi 0.51's Kafka and KafkaUser CRDs (hack/strimzi-crds.sh)
#   3. recreates namespace `demo` with a Ready Strimzi `Kafka` `my-cluster` whose plain listener is
#      the local broker, and a Secret with the MinIO credentials
#   4. runs the operator (target/debug/strimzi-backup-operator operator) in the background,
#      watching `demo`; its Jobs run through the real job controller and the pod harness; its
#      admission webhooks (self-signed certificate) are registered for namespace `demo` with
#      hack/register-webhooks.sh, and a bad KafkaBackup is refused by them
#   5. produces a batch of orders into topic `demo-orders` and commits offsets of consumer group
#      `order-processor` (half of it)
#   6. applies a KafkaBackup (the nightly sample, pointed at the local broker and MinIO) and runs
#      it now with the trigger annotation; then notes a point in time, produces a second batch,
#      moves the group on and runs the backup again
#   7. applies a point-in-time KafkaRestore into `demo-orders-restored`, group translated, with a
#      rollback snapshot
#   8. applies a dry-run KafkaOffsetReset
#   9. applies a KafkaRestoreDrill of the backup: its newest restore point restored into scratch
#      topics, compared record for record, timed, and the scratch topics deleted again
#  10. prints `kubectl get kb,kr,kor,krd`, the backup's restore points (`kubectl kafkabackup
#      list`), the drill's evidence, the restore's status and the record counts and offsets
#
# Rerunnable: each run starts from a fresh namespace, fresh topics and groups and an empty storage
# prefix. The resources, topics and backup stay afterwards for a look around.
#
# Knobs (environment):
#   DEMO_RECORDS        records per batch (default 15000; two batches)
#   DEMO_METRICS_PORT   the operator's /metrics port (default: the first free of 39090-39099)
#   DEMO_WEBHOOK_PORT   the operator's webhook port (default: the first free of 39443-39452)
#   DEMO_KEEP_OPERATOR  1: leave the operator running after the demo (default: stopped at exit)
#   DEMO_TIMEOUT        seconds to wait for each of backup, restore, offset reset (default 300)
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"

NS=demo
TOPIC=demo-orders
RESTORED=demo-orders-restored
GROUP=order-processor
RESTORED_GROUP=order-processor-restored
PARTITIONS=3
RECORDS=${DEMO_RECORDS:-15000}
TIMEOUT=${DEMO_TIMEOUT:-300}
KEEP_OPERATOR=${DEMO_KEEP_OPERATOR:-0}
IMAGE=quay.io/strimzi-backup/strimzi-backup-operator:dev
BIN=$ROOT_DIR/target/debug/strimzi-backup-operator
STORAGE_PREFIX=demo/my-cluster/
WORK=$ENV_DIR/demo
OPERATOR_LOG=$LOG_DIR/demo-operator.log
STARTED=$SECONDS

for v in RECORDS TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "DEMO_$v must be a positive integer, not '${!v}'"
done

if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD= PLAIN=; fi
section() { printf '\n%s=== %s ===%s\n' "$BOLD" "$*" "$PLAIN"; }

# --- the operator process -------------------------------------------------------------------------
OPERATOR_PID=
stop_operator() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_DIR/demo-operator.pid" "$PID_DIR/demo-operator.exe"
  # Without its server, a registered webhook (failurePolicy: Fail) would refuse every write of
  # our kinds in the namespace.
  hack/register-webhooks.sh --delete --name strimzi-backup-demo || true
}

# The first free port of $1..$2, or the one given ($3), for the operator's listener named $4.
pick_port() {
  local from=$1 to=$2 given=$3 what=$4 p
  if [[ -n $given ]]; then
    ! port_in_use "$given" || die "$what port $given is taken by $(port_owner "$given")"
    echo "$given"
    return
  fi
  for p in $(seq "$from" "$to"); do
    if ! port_in_use "$p"; then echo "$p"; return; fi
  done
  die "no free port in 127.0.0.1:$from-$to for the operator's $what"
}

cleanup() {
  local rc=$?
  set +e
  if [[ -n $OPERATOR_PID ]]; then
    # Kept only after a successful run (the last lines say so); a failed run stops it.
    if [[ $KEEP_OPERATOR != 1 || $rc -ne 0 ]]; then stop_operator "$OPERATOR_PID"; fi
  fi
  if [[ $rc -ne 0 ]]; then
    printf '\n' >&2
    log "demo FAILED after $((SECONDS - STARTED))s. Operator log: $OPERATOR_LOG; Kafka tool logs: $WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Fails with the operator log's tail, the resource and its Jobs' pod logs.
fail_with_context() {
  local what=$1 kind=$2 name=$3
  local ready
  printf '\n--- %s %s/%s: status ---\n' "$kind" "$NS" "$name" >&2
  "$KUBECTL" -n "$NS" get "$kind" "$name" -o yaml 2>&1 | sed -n '/^status:/,$p' >&2 || true
  printf '\n--- Jobs and pods in %s ---\n' "$NS" >&2
  "$KUBECTL" -n "$NS" get jobs,pods -o wide >&2 || true
  local pod
  for pod in $("$KUBECTL" -n "$NS" get pods -o name 2>/dev/null); do
    printf '\n--- logs of %s (tail) ---\n' "$pod" >&2
    "$KUBECTL" -n "$NS" logs "$pod" --tail 20 >&2 || true
  done
  printf '\n--- operator log (tail of %s) ---\n' "$OPERATOR_LOG" >&2
  tail -n 40 "$OPERATOR_LOG" >&2 || true
  printf '\n' >&2
  ready=$("$KUBECTL" -n "$NS" get "$kind" "$name" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}' 2>/dev/null) || ready=
  die "$what${ready:+ (Ready: $ready)}"
}

# Polls `kubectl get KIND NAME -o jsonpath=PATH` until it prints one of the wanted values (a `|`
# list); a value in FAILED (a `|` list) or the timeout fails with context.
wait_for_value() {
  local kind=$1 name=$2 path=$3 want=$4 failed=$5 what=$6
  local deadline=$((SECONDS + TIMEOUT)) value last=
  log "waiting for $what (up to ${TIMEOUT}s)"
  while :; do
    value=$("$KUBECTL" -n "$NS" get "$kind" "$name" -o "jsonpath=$path" 2>/dev/null) || value=
    if [[ $value != "$last" ]]; then
      log "  $kind/$name: ${value:-<not yet>}"
      last=$value
    fi
    if [[ -n $value && "|$want|" == *"|$value|"* ]]; then return 0; fi
    if [[ -n $value && "|$failed|" == *"|$value|"* ]]; then
      fail_with_context "waiting for $what: $kind/$name is $value" "$kind" "$name"
    fi
    if ! kill -0 "$OPERATOR_PID" 2>/dev/null; then
      fail_with_context "the operator exited while waiting for $what" "$kind" "$name"
    fi
    if ((SECONDS > deadline)); then
      fail_with_context "timed out after ${TIMEOUT}s waiting for $what (last seen: ${value:-nothing})" "$kind" "$name"
    fi
    sleep 2
  done
}

# --- Kafka tools ----------------------------------------------------------------------------------
KAFKA_TOOL=()
kafka_tool() { "${KAFKA_TOOL[@]}" "$@"; }
topic_cmd() { kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"; }
group_cmd() { kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"; }
# `partition offset` lines of a topic: the latest (-1) or earliest (-2) offsets.
offsets() {
  kafka_tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "$1" --time "$2" |
    awk -F: '{ print $2, $3 }' | sort -n
}
# `partition records` lines: the latest minus the earliest offset of each partition.
record_counts() {
  awk 'NR == FNR { start[$1] = $2; next } { print $1, $2 - start[$1] }' <(offsets "$1" -2) <(offsets "$1" -1)
}
# `partition records` lines: the records a read_committed consumer reads from the beginning. A
# restore writes in transactions, so its partitions end with a commit marker that takes an offset
# but is no record: offsets alone would count one too many.
consumed_counts() {
  kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --topic "$1" --from-beginning --isolation-level read_committed --timeout-ms 10000 \
    --property print.partition=true --property print.value=false 2>>"$WORK/console-consumer.log" |
    awk -F: '$1 == "Partition" { n[$2]++ } END { for (p in n) print p, n[p] }' | sort -n
}
produce_batch() {
  local n=$1 out=$WORK/produce-$2.log
  kafka_tool org.apache.kafka.tools.ProducerPerformance --topic "$TOPIC" --num-records "$n" \
    --payload-file "$WORK/orders.txt" --throughput -1 \
    --producer-props "bootstrap.servers=$KAFKA_BOOTSTRAP" acks=all linger.ms=5 >"$out" 2>&1 ||
    { tail -n 20 "$out" >&2; die "producing batch $2 failed (log: $out)"; }
  log "  $(tail -n 1 "$out" | cut -d, -f1-2)"
}

# ==================================================================================================
section "1. Local environment"
make --no-print-directory env-up
# shellcheck disable=SC1091
. "$ENV_DIR/env"
export KUBECONFIG
[[ -x $BIN ]] || die "$BIN is missing: run 'make build' (make demo does)"
mkdir -p "$WORK" "$LOG_DIR"
# The tools log at WARN to stderr, so their stdout holds only their output.
cat >"$WORK/log4j2.yaml" <<'LOG'
Configuration:
  Appenders:
    Console: {name: STDERR, target: SYSTEM_ERR, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: WARN, AppenderRef: [{ref: STDERR}]}
LOG
KAFKA_TOOL=(java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$WORK/log4j2.yaml" -cp "$KAFKA_HOME/libs/*")

# An operator a previous run left running (DEMO_KEEP_OPERATOR=1) would hold the namespace's Lease.
if pid=$(running_pid demo-operator); then
  log "stopping the operator a previous demo left running (pid $pid)"
  stop_operator "$pid"
fi

# ==================================================================================================
section "2. CRDs"
# Strimzi's real CRDs (generated once into the cache; server-side: the Kafka CRD is too large for
# client-side apply's last-applied annotation).
# shellcheck source=strimzi-crds.sh
. "$HACK_DIR/strimzi-crds.sh"
build_strimzi_crds
"$KUBECTL" apply --server-side --force-conflicts --field-manager strimzi-backup-demo \
  -f config/crd/bases/ -f "$STRIMZI_CRDS_BOTH"
"$KUBECTL" wait --for condition=Established --timeout 60s \
  crd/kafkabackups.kafkabackup.com crd/kafkarestores.kafkabackup.com crd/kafkaoffsetresets.kafkabackup.com \
  crd/kafkabackuplocations.kafkabackup.com crd/kafkarestorepoints.kafkabackup.com \
  crd/kafkarestoredrills.kafkabackup.com crd/kafkas.kafka.strimzi.io crd/kafkausers.kafka.strimzi.io

# ==================================================================================================
section "3. Namespace '$NS' with a Strimzi Kafka 'my-cluster' and the storage credentials"
if "$KUBECTL" get namespace "$NS" >/dev/null 2>&1; then
  log "deleting the previous run's namespace $NS"
  # The KafkaBackup's finalizer is the operator's, which is not running now; with
  # deletionPolicy: Retain it only lets the object go, so let it go here.
  for kb in $("$KUBECTL" -n "$NS" get kafkabackups -o name 2>/dev/null); do
    "$KUBECTL" -n "$NS" patch "$kb" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null || true
  done
  "$KUBECTL" delete namespace "$NS" --wait=false >/dev/null
  deadline=$((SECONDS + 120))
  while "$KUBECTL" get namespace "$NS" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      "$KUBECTL" get namespace "$NS" -o yaml >&2 || true
      "$KUBECTL" -n "$NS" get all >&2 || true
      die "namespace $NS still terminating after 120s (see above what holds it)"
    fi
    sleep 1
  done
fi
"$KUBECTL" create namespace "$NS"
"$KUBECTL" -n "$NS" apply -f - <<EOF
# The Kafka as a Strimzi user writes it (no Strimzi operator runs here: its status is set below as
# the Cluster Operator would); the backup operator only reads that status (Ready, listeners).
apiVersion: kafka.strimzi.io/v1beta2
kind: Kafka
metadata:
  name: my-cluster
  annotations: {strimzi.io/node-pools: enabled, strimzi.io/kraft: enabled}
spec:
  kafka:
    listeners:
      - {name: plain, port: 9092, type: internal, tls: false}
  entityOperator: {topicOperator: {}, userOperator: {}}
---
apiVersion: v1
kind: Secret
metadata:
  name: backup-s3-credentials
stringData:
  AWS_ACCESS_KEY_ID: $MINIO_ACCESS_KEY
  AWS_SECRET_ACCESS_KEY: $MINIO_SECRET_KEY
EOF
"$KUBECTL" -n "$NS" patch kafka.v1beta2.kafka.strimzi.io my-cluster --subresource status --type merge -p \
  "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"listeners\":[{\"name\":\"plain\",\"bootstrapServers\":\"$KAFKA_BOOTSTRAP\"}]}}"
"$KUBECTL" -n "$NS" get kafka my-cluster \
  -o 'custom-columns=KAFKA:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,PLAIN LISTENER:.status.listeners[0].bootstrapServers'

# ==================================================================================================
section "4. The operator"
CERT_DIR=$WORK/webhook-certs
: >"$OPERATOR_LOG"
# Starts the operator on free ports; true once it is ready. A port can still be taken between the
# pick and the operator's bind (by a listener, or as a client socket's ephemeral port: this range
# is inside Linux's 32768-60999); that start fails with "Address already in use" and the next
# attempt picks again, at most three times.
start_operator() {
  port=$(pick_port 39090 39099 "${DEMO_METRICS_PORT:-}" metrics) || exit 1
  webhook_port=$(pick_port 39443 39452 "${DEMO_WEBHOOK_PORT:-}" webhook) || exit 1
  rm -rf "$CERT_DIR"
  METRICS=http://127.0.0.1:$port/metrics
  env -i PATH="$PATH" HOME="$HOME" NO_COLOR=1 KUBECONFIG="$KUBECONFIG" STRIMZI_BACKUP_IMAGE="$IMAGE" \
    STRIMZI_BACKUP_NAMESPACE="$NS" POD_NAMESPACE="$NS" POD_NAME=demo-operator \
    STRIMZI_BACKUP_LOG_LEVEL="${STRIMZI_BACKUP_LOG_LEVEL:-info,kube=warn}" \
    setsid "$BIN" operator --metrics-address "127.0.0.1:$port" --webhook-address "127.0.0.1:$webhook_port" \
    --webhook-self-signed --webhook-cert-dir "$CERT_DIR" >>"$OPERATOR_LOG" 2>&1 </dev/null &
  OPERATOR_PID=$!
  echo "$OPERATOR_PID" >"$PID_DIR/demo-operator.pid"
  echo "$BIN" >"$PID_DIR/demo-operator.exe"
  local deadline=$((SECONDS + 60))
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    if ! kill -0 "$OPERATOR_PID" 2>/dev/null; then
      OPERATOR_PID=
      return 1
    fi
    ((SECONDS < deadline)) || { tail -n 30 "$OPERATOR_LOG" >&2; die "the operator not ready after 60s (log: $OPERATOR_LOG)"; }
    sleep 0.5
  done
}
for attempt in 1 2 3; do
  start_operator && break
  if ((attempt < 3)) && tail -n 1 "$OPERATOR_LOG" | grep -q 'Address already in use'; then
    log "$(tail -n 1 "$OPERATOR_LOG"); starting it again on other ports"
    continue
  fi
  tail -n 30 "$OPERATOR_LOG" >&2
  die "the operator exited at start (log: $OPERATOR_LOG)"
done
echo "operator pid $OPERATOR_PID, watching namespace $NS; log $OPERATOR_LOG; metrics $METRICS"

# The admission webhooks, for this namespace only, trusting the operator's self-signed CA.
"$KUBECTL" label namespace "$NS" kafkabackup.com/webhooks=demo --overwrite >/dev/null
hack/register-webhooks.sh --url "https://127.0.0.1:$webhook_port" --ca-file "$CERT_DIR/ca.crt" \
  --name strimzi-backup-demo --namespace-label kafkabackup.com/webhooks=demo
echo "admission webhooks at https://127.0.0.1:$webhook_port, registered as strimzi-backup-demo"
log "a KafkaBackup with a bad schedule and topic filter, which the webhooks must refuse:"
bad=$(cat <<EOF
apiVersion: kafkabackup.com/v1alpha1
kind: KafkaBackup
metadata: {name: bad-example}
spec:
  strimziClusterRef: {name: my-cluster}
  storage: {type: s3, s3: {bucket: $MINIO_BUCKET, region: $MINIO_REGION}}
  schedule: {cron: '0 2 * * 8', timezone: Europe/Atlantis}
  topics: {include: ['orders-(']}
EOF
)
deadline=$((SECONDS + 30))
while :; do
  # Until the registration is in effect the dry run passes.
  refused=$("$KUBECTL" -n "$NS" apply --dry-run=server -f - <<<"$bad" 2>&1 >/dev/null) && refused=
  if [[ $refused == *"is invalid"* ]]; then break; fi
  ((SECONDS < deadline)) || { tail -n 30 "$OPERATOR_LOG" >&2; die "the webhooks did not refuse the bad KafkaBackup within 30s: ${refused:-accepted}"; }
  sleep 1
done
printf '%s\n' "$refused" | sed 's/^/  /'

# ==================================================================================================
section "5. Data: topic '$TOPIC', two batches of $RECORDS orders, group '$GROUP'"
log "removing the previous run's topics, groups and stored backups"
topic_cmd --delete --if-exists --topic "$TOPIC|$RESTORED" >/dev/null
group_cmd --delete --group "$GROUP" --group "$RESTORED_GROUP" >/dev/null 2>&1 || true
# The backups a previous run stored at the KafkaBackup's location (the data plane's `delete`, what
# a KafkaBackup's cleanup Job runs with deletionPolicy: Delete). The location has one owner, the
# KafkaBackup of this demo: the delete runs as that owner (docs/data-plane.md, "One location, one
# owner"), taking the location over should anything else have claimed it.
printf 'owner: {kind: KafkaBackup, namespace: %s, name: my-cluster-nightly}\ntakeOverLocation: true\n' "$NS" \
  >"$WORK/storage-delete.yaml"
AWS_ACCESS_KEY_ID=$MINIO_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$MINIO_SECRET_KEY STRIMZI_BACKUP_LOG_LEVEL=warn \
  "$BIN" delete --config "$WORK/storage-delete.yaml" --storage "s3://$MINIO_BUCKET/$STORAGE_PREFIX" \
  --storage-endpoint "$MINIO_ENDPOINT" --region "$MINIO_REGION" >"$WORK/storage-delete.log" 2>&1 ||
  { cat "$WORK/storage-delete.log" >&2; die "emptying s3://$MINIO_BUCKET/$STORAGE_PREFIX failed"; }
deadline=$((SECONDS + 60))
while topic_cmd --list >"$WORK/topics.txt" && grep -qxE "$TOPIC|$RESTORED" "$WORK/topics.txt"; do
  ((SECONDS < deadline)) || die "topics $TOPIC / $RESTORED still listed 60s after deleting them"
  sleep 1
done
topic_cmd --create --topic "$TOPIC" --partitions "$PARTITIONS" --replication-factor 1 >/dev/null
# Order events as record values (ProducerPerformance picks lines of this file at random).
items=(widget gadget sprocket gizmo doohickey)
for i in $(seq 1 500); do
  printf '{"order":"o-%04d","customer":"c-%03d","item":"%s","qty":%d}\n' "$i" $((i % 97)) "${items[i % 5]}" $((i % 7 + 1))
done >"$WORK/orders.txt"

log "batch 1: $RECORDS records"
produce_batch "$RECORDS" 1
# Where batch 1 ends, per partition: the offsets a restore to the point in time must end at.
record_counts "$TOPIC" >"$WORK/batch1.txt"

# order-processor has processed half of batch 1 (of each partition) and committed that.
awk -v t="$TOPIC" '{ printf "%s,%s,%d\n", t, $1, int($2 / 2) }' "$WORK/batch1.txt" >"$WORK/group-offsets.csv"
group_cmd --reset-offsets --group "$GROUP" --from-file "$WORK/group-offsets.csv" --execute >"$WORK/group-commit.log" 2>&1 ||
  { cat "$WORK/group-commit.log" >&2; die "committing the offsets of $GROUP failed"; }

# ==================================================================================================
section "6. KafkaBackup 'my-cluster-nightly', run now (trigger annotation)"
# config/samples/kafkabackup.com_v1alpha1_kafkabackup.yaml pointed at the local broker (plaintext,
# no KafkaUser) and MinIO; the nightly schedule stays, the trigger annotation runs it once now.
TRIGGER=demo-$(date +%s)
"$KUBECTL" -n "$NS" apply -f - <<EOF
apiVersion: kafkabackup.com/v1alpha1
kind: KafkaBackup
metadata:
  name: my-cluster-nightly
  labels:
    strimzi.io/cluster: my-cluster
  annotations:
    kafkabackup.com/trigger: "$TRIGGER"
spec:
  strimziClusterRef:
    name: my-cluster
  topics:
    include:
      - "$TOPIC"
    exclude:
      - ".*\\\\.internal"
      - "__.*"
  consumerGroups:
    include:
      - "$GROUP"
  storage:
    type: s3
    s3:
      bucket: $MINIO_BUCKET
      region: $MINIO_REGION
      endpoint: "$MINIO_ENDPOINT"
      forcePathStyle: true
      prefix: $STORAGE_PREFIX
      credentialsSecret:
        name: backup-s3-credentials
        accessKeyIdKey: AWS_ACCESS_KEY_ID
        secretAccessKeyKey: AWS_SECRET_ACCESS_KEY
  backup:
    compression: zstd
    compressionLevel: 3
    segmentSize: 268435456
    parallelism: 4
    mode: incremental
  schedule:
    cron: "0 2 * * *"
    timezone: Europe/Berlin
    concurrencyPolicy: Forbid
  retention:
    maxBackups: 30
    maxAge: 30d
    pruneOnSchedule: true
  deletionPolicy: Retain
  job:
    backoffLimit: 3
    ttlSecondsAfterFinished: 86400
EOF
wait_for_value kafkabackup my-cluster-nightly '{.status.lastTrigger}' "$TRIGGER" "" "the triggered backup to start"
wait_for_value kafkabackup my-cluster-nightly '{.status.lastBackup.status}' Completed "Failed" "the backup to complete"

# Then the incident: the point in time to go back to, batch 2, the group further on, and another
# backup. A restore to the point in time takes the group's offsets from the backup captured at or
# before it (the first), not from the latest (docs/data-plane.md, restore step 5).
sleep 2
POINT_IN_TIME=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
log "point in time: $POINT_IN_TIME"
sleep 2
log "batch 2: $RECORDS records"
produce_batch "$RECORDS" 2
record_counts "$TOPIC" >"$WORK/source.txt"
awk -v t="$TOPIC" '{ printf "%s,%s,%d\n", t, $1, $2 }' "$WORK/source.txt" >"$WORK/group-later.csv"
group_cmd --reset-offsets --group "$GROUP" --from-file "$WORK/group-later.csv" --execute >"$WORK/group-commit.log" 2>&1 ||
  { cat "$WORK/group-commit.log" >&2; die "committing the offsets of $GROUP failed"; }
echo "records in $TOPIC, and the offsets $GROUP committed at the point in time (half of batch 1):"
paste -d' ' "$WORK/batch1.txt" "$WORK/source.txt" <(cut -d, -f3 "$WORK/group-offsets.csv") | awk -v g="$GROUP" '
  BEGIN { printf "  %-9s  %14s  %14s  %7s  %s\n", "partition", "batch 1 (<PIT)", "batch 2 (>PIT)", "total", g " committed" }
  { printf "  %-9s  %14d  %14d  %7d  %d\n", $1, $2, $4 - $2, $4, $5; a += $2; t += $4 }
  END { printf "  %-9s  %14d  %14d  %7d\n", "all", a, t - a, t }'
TRIGGER=demo-after-$(date +%s)
"$KUBECTL" -n "$NS" annotate --overwrite kafkabackup my-cluster-nightly "kafkabackup.com/trigger=$TRIGGER" >/dev/null
wait_for_value kafkabackup my-cluster-nightly '{.status.lastTrigger}' "$TRIGGER" "" "the second backup to start"
wait_for_value kafkabackup my-cluster-nightly '{.status.lastBackup.status}' Completed "Failed" "the second backup to complete"
"$KUBECTL" -n "$NS" get kafkabackup my-cluster-nightly -o \
  'jsonpath=backup {.status.lastBackup.id}: {.status.lastBackup.records} records of {.status.lastBackup.topicsBackedUp} topic(s), {.status.lastBackup.partitionsBackedUp} partitions, {.status.lastBackup.sizeBytes} bytes stored{"\n"}next scheduled (0 2 * * * Europe/Berlin): {.status.nextScheduledBackup}{"\n"}'

# ==================================================================================================
section "7. KafkaRestore 'orders-before-incident': back to $POINT_IN_TIME, renamed, group translated"
"$KUBECTL" -n "$NS" apply -f - <<EOF
apiVersion: kafkabackup.com/v1alpha1
kind: KafkaRestore
metadata:
  name: orders-before-incident
  labels:
    strimzi.io/cluster: my-cluster
spec:
  strimziClusterRef:
    name: my-cluster
  backupRef:
    name: my-cluster-nightly
  pointInTime:
    timestamp: "$POINT_IN_TIME"
  topics:
    include:
      - "$TOPIC"
  topicMapping:
    - sourceTopic: $TOPIC
      targetTopic: $RESTORED
  consumerGroups:
    restore: true
    include:
      - "$GROUP"
    mapping:
      - sourceGroup: $GROUP
        targetGroup: $RESTORED_GROUP
  restore:
    topicCreation: auto
    existingTopicPolicy: fail
    parallelism: 4
  rollback:
    enabled: true
EOF
wait_for_value kafkarestore orders-before-incident '{.status.phase}' Completed Failed "the restore to complete"

# ==================================================================================================
section "8. KafkaOffsetReset 'rewind-to-incident' (dry run): $GROUP to $POINT_IN_TIME"
"$KUBECTL" -n "$NS" apply -f - <<EOF
apiVersion: kafkabackup.com/v1alpha1
kind: KafkaOffsetReset
metadata:
  name: rewind-to-incident
  labels:
    strimzi.io/cluster: my-cluster
spec:
  strimziClusterRef:
    name: my-cluster
  consumerGroups:
    - $GROUP
  topics:
    - $TOPIC
  resetStrategy: to-timestamp
  resetTimestamp: "$POINT_IN_TIME"
  dryRun: true
EOF
wait_for_value kafkaoffsetreset rewind-to-incident '{.status.phase}' Completed Failed "the offset reset (dry run) to complete"

# ==================================================================================================
section "9. KafkaRestoreDrill 'nightly-drill': prove the newest restore point restores"
"$KUBECTL" -n "$NS" apply -f - <<EOF
apiVersion: kafkabackup.com/v1alpha1
kind: KafkaRestoreDrill
metadata:
  name: nightly-drill
spec:
  backupRef:
    name: my-cluster-nightly
  restorePoint: Newest
EOF
wait_for_value kafkarestoredrill nightly-drill '{.status.lastVerification.result}' Passed Failed "the restore drill to pass"

# ==================================================================================================
section "10. What a user looks at"
printf '\n$ kubectl -n %s get kb,kr,kor,krd\n' "$NS"
"$KUBECTL" -n "$NS" get kb,kr,kor,krd
printf '\n$ kubectl -n %s get kb,kr,kor -o wide\n' "$NS"
"$KUBECTL" -n "$NS" get kb,kr,kor -o wide
printf '\n$ kubectl -n %s get jobs\n' "$NS"
"$KUBECTL" -n "$NS" get jobs
printf '\n$ kubectl kafkabackup -n %s list my-cluster-nightly   (its restore points; the plugin is target/debug/kubectl-kafkabackup, docs/kubectl-plugin.md)\n' "$NS"
PATH="$ROOT_DIR/target/debug:$PATH" "$KUBECTL" kafkabackup -n "$NS" list my-cluster-nightly
printf '\n$ kubectl -n %s get krd nightly-drill -o yaml   (the evidence of the drill)\n' "$NS"
"$KUBECTL" -n "$NS" get krd nightly-drill -o yaml | sed -n '/^status:/,$p'
printf '\n$ kubectl -n %s get kr orders-before-incident -o yaml   (its status)\n' "$NS"
"$KUBECTL" -n "$NS" get kr orders-before-incident -o yaml | sed -n '/^status:/,$p'
printf '\n$ kubectl -n %s get kor rewind-to-incident -o jsonpath={.status.results}   (planned, nothing changed)\n' "$NS"
"$KUBECTL" -n "$NS" get kor rewind-to-incident \
  -o 'jsonpath={range .status.results[*]}{.group}: {.outcome}{"\n"}{range .partitions[*]}  {.topic}-{.partition}: {.previousOffset} -> {.newOffset}{"\n"}{end}{end}'

printf '\n--- records per partition (%s: offsets, as produced; %s: read back by a read_committed consumer) ---\n' "$TOPIC" "$RESTORED"
consumed_counts "$RESTORED" >"$WORK/restored.txt"
record_counts "$TOPIC" >"$WORK/source.txt"
paste -d' ' "$WORK/source.txt" "$WORK/restored.txt" "$WORK/batch1.txt" | awk -v s="$TOPIC" -v r="$RESTORED" '
  BEGIN { printf "  %-9s  %12s  %20s  %14s\n", "partition", s, r, "batch 1 (<PIT)" }
  { printf "  %-9s  %12d  %20d  %14d\n", $1, $2, $4, $6; a += $2; b += $4; c += $6 }
  END { printf "  %-9s  %12d  %20d  %14d\n", "all", a, b, c }'

printf '\n--- committed offsets: %s (source) and %s (restored, translated) ---\n' "$GROUP" "$RESTORED_GROUP"
group_cmd --describe --group "$GROUP" 2>/dev/null | sed '/^$/d'
group_cmd --describe --group "$RESTORED_GROUP" 2>/dev/null | sed '/^$/d'

printf '\n--- operator metrics (%s) ---\n' "$METRICS"
curl -sf "$METRICS" | grep -E '^strimzi_(backup_(records_total|backups_total|storage_bytes|drill_last_result|drill_last_rto_seconds)|restore_(records_total|restores_total)|offset_reset_total|backup_webhook_requests_total|backup_license_info)' || true

printf '\n--- check ---\n'
# Per partition: the restored records are exactly batch 1, and the translated group sits where
# order-processor was.
if ! cmp -s "$WORK/restored.txt" "$WORK/batch1.txt"; then
  die "the restore to $POINT_IN_TIME does not hold exactly batch 1: $(paste -d' ' "$WORK/restored.txt" "$WORK/batch1.txt" | tr '\n' ';')"
fi
group_cmd --describe --group "$RESTORED_GROUP" 2>/dev/null |
  awk -v t="$RESTORED" '$2 == t { print $3 "," $4 }' | sort -n >"$WORK/restored-group.txt"
cut -d, -f2,3 "$WORK/group-offsets.csv" | sort -n >"$WORK/source-group.txt"
if ! cmp -s "$WORK/restored-group.txt" "$WORK/source-group.txt"; then
  die "$RESTORED_GROUP's offsets ($(tr '\n' ' ' <"$WORK/restored-group.txt")) are not $GROUP's ($(tr '\n' ' ' <"$WORK/source-group.txt"))"
fi
points=$("$KUBECTL" -n "$NS" get krp -l kafkabackup.com/source=my-cluster-nightly -o name | wc -l)
[[ $points == 2 ]] || die "my-cluster-nightly lists $points restore points, not the 2 backups it made"
drilled=$("$KUBECTL" -n "$NS" get krd nightly-drill -o 'jsonpath={.status.lastVerification.records}')
# The newest restore point holds every record of both batches (an incremental restores its lineage).
[[ $drilled == $((2 * RECORDS)) ]] || die "the drill compared ${drilled:-no} records, not the $((2 * RECORDS)) the newest restore point holds"
verified=$("$KUBECTL" -n "$NS" get krp -l kafkabackup.com/source=my-cluster-nightly -o 'jsonpath={.items[*].status.verification.result}')
[[ $verified == *Passed* ]] || die "no restore point of my-cluster-nightly carries the drill's verification (saw: ${verified:-none})"
if topic_cmd --list | grep -q '^drill-nightly-drill-'; then die "the drill left scratch topics behind"; fi
echo "OK: $RESTORED holds exactly batch 1 ($(awk '{ t += $2 } END { print t }' "$WORK/batch1.txt") of $((2 * RECORDS)) records, per partition): the point-in-time restore left out batch 2."
echo "OK: $RESTORED_GROUP resumes where $GROUP was, partition by partition."
echo "OK: the drill restored the newest restore point's $drilled records into scratch topics, each equal to the backup, and deleted them again."

printf '\nDemo done in %ss. Operator log: %s\n' "$((SECONDS - STARTED))" "$OPERATOR_LOG"
if [[ $KEEP_OPERATOR == 1 ]]; then
  echo "The operator keeps running (pid $OPERATOR_PID): metrics at $METRICS; stop it with: kill $OPERATOR_PID"
else
  echo "The operator stops now (DEMO_KEEP_OPERATOR=1 keeps it and its metrics at $METRICS running)."
fi
echo "Look around: source .local-env/env && export KUBECONFIG && \$KUBECTL -n $NS get strimzi-backup"
echo "How the operator reconciles these resources: docs/operator.md"
