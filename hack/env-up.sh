#!/usr/bin/env bash
# Starts the local test environment on 127.0.0.1, every part real: etcd, kube-apiserver,
# kube-controller-manager, the pod harness (plays the kubelet), Apache Kafka (KRaft), a Schema
# Registry (Apicurio Registry, Confluent-compatible API), the object stores MinIO (S3), Azurite
# (Azure Blob) and fake-gcs-server (GCS), the KMS stand-ins moto (AWS KMS) and OpenBao (Vault
# transit), and PostgreSQL for the audit log (hack/postgres.sh).
# Writes $ENV_DIR/kubeconfig and $ENV_DIR/env (KEY=VALUE, read by the tests and by `source`),
# waits until each part really answers, and names the part that failed and why.
# Idempotent: parts already running are left alone. Stop with hack/env-down.sh.
. "$(dirname "$0")/tools.sh"

"$HACK_DIR/tools.sh" env

mkdir -p "$PID_DIR" "$LOG_DIR" "$ENV_DIR/pki" "$ENV_DIR/data"
PKI=$ENV_DIR/pki
# The pod harness's kubelet API (container logs, HTTPS): the kubelet's 10250 in the 3xxxx/4xxxx
# scheme of hack/lib.sh. The apiserver proxies `kubectl logs` there (the node advertises it).
HARNESS_PORT=${HARNESS_PORT:-40250}
# The Schema Registry: Confluent's 8081 in the same scheme.
SCHEMA_REGISTRY_PORT=${SCHEMA_REGISTRY_PORT:-38081}

# Starts "$@" detached in its own session, logging to $LOG_DIR/$name.log, unless running already.
start() {
  local name=$1 port=$2; shift 2
  if pid=$(running_pid "$name"); then
    log "$name already running (pid $pid)"
    return
  fi
  if [[ -n $port ]] && port_in_use "$port"; then
    local var=${name//-/_}
    die "$name cannot start: port 127.0.0.1:$port is taken by $(port_owner "$port"). Stop it, or set ${var^^}_PORT to a free port."
  fi
  log "starting $name"
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$PID_DIR/$name.pid"
  echo "$1" >"$PID_DIR/$name.exe"
}

# Polls "$@" until it succeeds; on timeout or when the process died, shows its log and fails.
wait_for() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! running_pid "$name" >/dev/null; then
      tail -n 25 "$LOG_DIR/$name.log" >&2
      die "$name exited during start-up (log: $LOG_DIR/$name.log)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 25 "$LOG_DIR/$name.log" >&2
      die "$name not ready after ${timeout}s (log: $LOG_DIR/$name.log)"
    fi
    sleep 1
  done
  log "$name ready"
}

# --- certificates: one CA for serving and clients, like envtest -------------------------------
pki() {
  [[ -f $PKI/admin.crt ]] && return
  log "creating certificates in $PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=strimzi-backup-local-ca" 2>/dev/null
    cat >serving.ext <<EXT
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EXT
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile serving.ext 2>/dev/null
    echo "extendedKeyUsage=clientAuth" >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# The harness's kubelet serving certificate (IP SAN 127.0.0.1: the node's InternalIP, which the
# apiserver dials and verifies against ca.crt) and the apiserver's client certificate for it (no
# groups: it grants nothing on the apiserver). Separate from pki() so an existing $PKI gets them.
harness_pki() {
  [[ -f $PKI/harness.crt && -f $PKI/kubelet-client.crt ]] && return
  log "creating the pod harness's kubelet certificates in $PKI"
  (
    cd "$PKI"
    cat >harness.ext <<EXT
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:harness
extendedKeyUsage=serverAuth
EXT
    openssl req -newkey rsa:2048 -nodes -keyout harness.key -out harness.csr -subj "/CN=system:node:harness" 2>/dev/null
    openssl x509 -req -in harness.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out harness.crt -days 3650 -extfile harness.ext 2>/dev/null
    echo "extendedKeyUsage=clientAuth" >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr -subj "/CN=kube-apiserver-kubelet-client" 2>/dev/null
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt -days 3650 -extfile client.ext 2>/dev/null
  )
}

# The Kafka cluster's own CA (as Strimzi's `<cluster>-cluster-ca-cert`) and the broker's
# certificate for the SCRAM-over-TLS listener, in one PEM keystore (PKCS#8 key, then the cert).
kafka_pki() {
  [[ -f $PKI/kafka-broker.pem ]] && return
  log "creating the Kafka cluster CA and broker certificate in $PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout kafka-ca.key -out kafka-ca.crt -days 3650 \
      -subj "/O=io.strimzi/CN=cluster-ca v0" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >kafka-broker.ext
    openssl req -newkey rsa:2048 -nodes -keyout kafka-broker.key -out kafka-broker.csr -subj "/O=io.strimzi/CN=my-cluster-kafka" 2>/dev/null
    openssl x509 -req -in kafka-broker.csr -CA kafka-ca.crt -CAkey kafka-ca.key -CAcreateserial -out kafka-broker.crt \
      -days 3650 -extfile kafka-broker.ext 2>/dev/null
    cat kafka-broker.key kafka-broker.crt >kafka-broker.pem
  )
}

kubeconfig() {
  cat >"$ENV_DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
KC
}

# --- Kubernetes ------------------------------------------------------------------------------
start_etcd() {
  start etcd "$ETCD_PORT" "$ETCD_BIN/etcd" --name local --data-dir "$ENV_DIR/data/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes 4294967296
}

start_apiserver() {
  start apiserver "$APISERVER_PORT" "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode RBAC --service-cluster-ip-range "$SERVICE_CIDR" \
    --kubelet-preferred-address-types InternalIP --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/kubelet-client.crt" --kubelet-client-key "$PKI/kubelet-client.key" \
    --disable-admission-plugins ServiceAccount --allow-privileged=true \
    --cert-dir "$PKI/apiserver-generated" \
    --audit-policy-file "$HACK_DIR/audit-policy.yaml" --audit-log-path "$LOG_DIR/audit.log" \
    --audit-log-maxsize 100 --audit-log-maxbackup 1
}

start_controller_manager() {
  start controller-manager "" "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$ENV_DIR/kubeconfig" --secure-port 0 --leader-elect=false \
    --controllers job-controller,deployment-controller,replicaset-controller,garbage-collector-controller,namespace-controller,ttl-after-finished-controller,serviceaccount-controller \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --concurrent-job-syncs 10
}

apiserver_ready() { "$K8S_BIN/kubectl" --kubeconfig "$ENV_DIR/kubeconfig" get --raw /readyz; }
# The job controller is up once it has created the default ServiceAccount (serviceaccount
# controller) — proof the controller manager talks to the apiserver.
controller_manager_ready() { "$K8S_BIN/kubectl" --kubeconfig "$ENV_DIR/kubeconfig" -n default get serviceaccount default; }

# --- pod harness (test-only kubelet) -----------------------------------------------------------
# Image `…/strimzi-backup-operator:dist` runs the release build of `make dist-build` (the shipped
# build's tests); every other tag runs the workspace's debug build.
start_harness() {
  local bin=$ROOT_DIR/target/debug
  [[ -x $bin/pod-harness ]] || die "pod harness not built: run 'cargo build --workspace --bins' (make env-up does)"
  # A node left by a harness that was killed would make the readiness check pass too early.
  running_pid harness >/dev/null || "$K8S_BIN/kubectl" --kubeconfig "$ENV_DIR/kubeconfig" delete node harness --ignore-not-found >/dev/null
  start harness "$HARNESS_PORT" "$bin/pod-harness" --kubeconfig "$ENV_DIR/kubeconfig" --node-name harness \
    --state-dir "$ENV_DIR/harness" --pvc-root "$ENV_DIR/pvc" --bin-dir "$bin" \
    --image-entrypoint "*/strimzi-backup-operator:dist=$ROOT_DIR/target/dist-bin/strimzi-backup-operator" \
    --image-entrypoint "strimzi-backup-operator=$bin/strimzi-backup-operator" \
    --kubelet-port "$HARNESS_PORT" --tls-cert-file "$PKI/harness.crt" --tls-private-key-file "$PKI/harness.key" \
    --client-ca-file "$PKI/ca.crt"
}
# Ready when the node is registered with the kubelet port and that port answers over TLS, with
# the certificate verified and the apiserver's client certificate accepted.
harness_ready() {
  [[ $("$K8S_BIN/kubectl" --kubeconfig "$ENV_DIR/kubeconfig" get node harness \
    -o 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}') == "$HARNESS_PORT" ]] &&
    curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/kubelet-client.crt" --key "$PKI/kubelet-client.key" \
      "https://127.0.0.1:$HARNESS_PORT/healthz"
}

# --- Kafka (KRaft, single node) ----------------------------------------------------------------
start_kafka() {
  local dir=$ENV_DIR/data/kafka props=$ENV_DIR/kafka/server.properties
  mkdir -p "$ENV_DIR/kafka"
  cat >"$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_TLS_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_TLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$PKI/kafka-broker.pem
log.dirs=$dir
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
# Compaction within seconds, so the compacted-topic tests see it happen.
log.cleaner.backoff.ms=500
PROPS
  cat >"$ENV_DIR/kafka/log4j2.yaml" <<'LOG'
Configuration:
  Appenders:
    Console: {name: STDOUT, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: STDOUT}]}
    Logger:
      - {name: kafka, level: WARN}
      - {name: org.apache.kafka, level: WARN}
      - {name: kafka.server.KafkaRaftServer, level: INFO}
      - {name: kafka.server.BrokerServer, level: INFO}
LOG
  local java=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$ENV_DIR/kafka/log4j2.yaml" -cp "$KAFKA_HOME/libs/*")
  if ! running_pid kafka >/dev/null && [[ ! -f $dir/meta.properties ]]; then
    log "formatting Kafka storage"
    run_logged "kafka storage format" "$LOG_DIR/kafka-format.log" \
      "${java[@]}" kafka.tools.StorageTool format -t "$("${java[@]}" kafka.tools.StorageTool random-uuid)" -c "$props"
  fi
  start kafka "$KAFKA_PORT" "${java[@]}" kafka.Kafka "$props"
}
# The SCRAM-SHA-512 user of the TLS listener (what a Strimzi KafkaUser gets); alter is idempotent.
KAFKA_SCRAM_USER=backup-user
KAFKA_SCRAM_PASSWORD=backup-user-secret
kafka_scram_user() {
  run_logged "kafka SCRAM user" "$LOG_DIR/kafka-scram.log" \
    java -Xmx128m "-Dlog4j2.configurationFile=$ENV_DIR/kafka/log4j2.yaml" -cp "$KAFKA_HOME/libs/*" \
    kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter --entity-type users \
    --entity-name "$KAFKA_SCRAM_USER" --add-config "SCRAM-SHA-512=[iterations=4096,password=$KAFKA_SCRAM_PASSWORD]"
}

# A real metadata round trip: list topics through the broker.
kafka_ready() {
  java -Xmx128m "-Dlog4j2.configurationFile=$ENV_DIR/kafka/log4j2.yaml" -cp "$KAFKA_HOME/libs/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list
}

# --- Schema Registry (Apicurio Registry) ---------------------------------------------------------
# Its Confluent-compatible API (what the backup speaks) is under /apis/ccompat/v7. Storage is H2 in
# memory: a restart empties it. Deletes are off by default in Apicurio and on here (the Confluent
# API's soft and permanent deletes need them). One small pool, one small heap: ~220 MiB resident.
SCHEMA_REGISTRY_URL=http://127.0.0.1:$SCHEMA_REGISTRY_PORT/apis/ccompat/v7
start_schema_registry() {
  start schema-registry "$SCHEMA_REGISTRY_PORT" java -Xms32m -Xmx256m -XX:+UseSerialGC \
    -Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=$SCHEMA_REGISTRY_PORT" \
    -Dapicurio.datasource.jdbc.initial-size=2 -Dapicurio.datasource.jdbc.min-size=2 -Dapicurio.datasource.jdbc.max-size=20 \
    -Dapicurio.rest.deletion.group.enabled=true -Dapicurio.rest.deletion.artifact.enabled=true \
    -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -jar "$APICURIO_JAR"
}
# A real call of the API the backup uses: list subjects.
schema_registry_ready() { curl -sf "$SCHEMA_REGISTRY_URL/subjects"; }

# --- MinIO -------------------------------------------------------------------------------------
MINIO_ROOT_USER=${MINIO_ROOT_USER:-strimzi-backup}
MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-strimzi-backup-secret}
MINIO_BUCKET=${MINIO_BUCKET:-e2e}
start_minio() {
  mkdir -p "$ENV_DIR/data/minio"
  export MINIO_ROOT_USER MINIO_ROOT_PASSWORD MINIO_UPDATE=off MINIO_BROWSER=off
  start minio "$MINIO_PORT" "$MINIO_BIN/minio" server "$ENV_DIR/data/minio" \
    --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --quiet
}
minio_ready() { curl -sf "http://127.0.0.1:$MINIO_PORT/minio/health/ready"; }
# Creates the test bucket with a SigV4-signed S3 CreateBucket call (200 new, 409 exists).
minio_bucket() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" "http://127.0.0.1:$MINIO_PORT/$MINIO_BUCKET")
  [[ $code == 200 || $code == 409 ]] || die "MinIO: creating bucket $MINIO_BUCKET answered HTTP $code"
}

# --- Azurite (Azure Blob) -----------------------------------------------------------------------
# The emulator's well-known development account and key (public: Microsoft documents them).
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
AZURITE_CONTAINER=${AZURITE_CONTAINER:-e2e}
# Path style: the emulator serves the account as the first path segment.
AZURITE_ENDPOINT=http://127.0.0.1:$AZURITE_PORT/$AZURITE_ACCOUNT
start_azurite() {
  mkdir -p "$ENV_DIR/data/azurite"
  # azurite-blob is this script run by node; starting node directly lets the pid check see it.
  start azurite "$AZURITE_PORT" node "$AZURITE_BLOB_JS" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
    --location "$ENV_DIR/data/azurite" --disableTelemetry --skipApiVersionCheck --loose
}
# A Blob REST call signed with the account key (SharedKey, computed with openssl); prints the HTTP
# status. azurite_call METHOD PATH [QUERY], PATH below the account, QUERY as name=value&...
azurite_call() {
  local method=$1 path=$2 query=${3:-} version=2021-12-02 date resource kv key sig
  date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
  # Canonicalized resource: /<account><URL path> (the path starts with the account on the
  # emulator), then each query parameter as "\nname:value", sorted by name.
  resource="/$AZURITE_ACCOUNT/$AZURITE_ACCOUNT$path"
  for kv in $(tr '&' '\n' <<<"$query" | sort); do resource+=$'\n'"${kv%%=*}:${kv#*=}"; done
  # Verb, eleven empty standard headers (no body), the x-ms-* headers, the resource.
  key=$(base64 -d <<<"$AZURITE_KEY" | od -An -v -tx1 | tr -d ' \n')
  sig=$(printf '%s\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:%s\n%s' "$method" "$date" "$version" "$resource" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64 -w0)
  curl -s -o /dev/null -w '%{http_code}' -X "$method" -H "x-ms-date: $date" -H "x-ms-version: $version" \
    -H "Authorization: SharedKey $AZURITE_ACCOUNT:$sig" "$AZURITE_ENDPOINT$path${query:+?$query}"
}
# Ready when an authenticated List Containers call succeeds.
azurite_ready() { [[ $(azurite_call GET / comp=list) == 200 ]]; }
# Creates the test container (201 new, 409 exists).
azurite_container() {
  local code
  code=$(azurite_call PUT "/$AZURITE_CONTAINER" restype=container)
  [[ $code == 201 || $code == 409 ]] || die "Azurite: creating container $AZURITE_CONTAINER answered HTTP $code"
}

# --- fake-gcs-server (GCS) -----------------------------------------------------------------------
FAKE_GCS_BUCKET=${FAKE_GCS_BUCKET:-e2e}
start_fake_gcs() {
  # One started from another build (before a change of hack/patches/fake-gcs-server-xml-api.patch)
  # lacks what the tests expect: restart it with this one. Its data is on disk and stays.
  local running exe
  if running=$(running_pid fake-gcs) && exe=$(<"$PID_DIR/fake-gcs.exe") && [[ $exe != "$FAKE_GCS_BIN/fake-gcs-server" ]]; then
    log "fake-gcs (pid $running) runs another build, $exe: restarting it"
    kill "$running"
    for _ in {1..50}; do kill -0 "$running" 2>/dev/null || break; sleep 0.2; done
  fi
  # -public-host must equal the host:port clients use, or the XML API routes (object_store's
  # reads, listing and, with the patch, writes) do not match: docs/local-environment.md.
  start fake-gcs "$FAKE_GCS_PORT" "$FAKE_GCS_BIN/fake-gcs-server" -scheme http -host 127.0.0.1 \
    -port "$FAKE_GCS_PORT" -public-host "127.0.0.1:$FAKE_GCS_PORT" \
    -backend filesystem -filesystem-root "$ENV_DIR/data/fake-gcs"
}
# A real JSON API call: list buckets.
fake_gcs_ready() { curl -sf "http://127.0.0.1:$FAKE_GCS_PORT/storage/v1/b"; }
# Creates the test bucket through the JSON API (200 new, 409 exists).
fake_gcs_bucket() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data "{\"name\":\"$FAKE_GCS_BUCKET\"}" "http://127.0.0.1:$FAKE_GCS_PORT/storage/v1/b")
  [[ $code == 200 || $code == 409 ]] || die "fake-gcs-server: creating bucket $FAKE_GCS_BUCKET answered HTTP $code"
}

# The KMS stand-ins (keys from an external KMS, docs/enterprise.md): moto's AWS KMS API (any
# credentials; the tests create their keys) and OpenBao in dev mode (in memory, a fixed root
# token) with the transit engine mounted at transit/.
KMS_AWS_REGION=${KMS_AWS_REGION:-us-east-1}
OPENBAO_TOKEN=${OPENBAO_TOKEN:-strimzi-backup-root}
start_moto() {
  # Through the venv's python (moto_server is its script), so /proc/<pid>/cmdline starts with the
  # recorded executable and env-down finds it to stop (as azurite with node).
  start moto "$MOTO_PORT" "$MOTO_PYTHON" "$MOTO_SERVER" -H 127.0.0.1 -p "$MOTO_PORT"
}
# A real KMS call: ListKeys (AWS JSON protocol). moto routes by the Authorization header's
# credential scope (without one it answers as S3); it checks no signature.
moto_ready() {
  curl -sf -X POST -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.ListKeys' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=ready/20260101/$KMS_AWS_REGION/kms/aws4_request, SignedHeaders=host, Signature=0" \
    --data '{}' "http://127.0.0.1:$MOTO_PORT/"
}
start_openbao() {
  start openbao "$OPENBAO_PORT" "$OPENBAO_BIN" server -dev -dev-listen-address="127.0.0.1:$OPENBAO_PORT" \
    -dev-root-token-id="$OPENBAO_TOKEN" -dev-no-store-token
}
openbao_ready() { curl -sf "http://127.0.0.1:$OPENBAO_PORT/v1/sys/health"; }
# Mounts the transit engine (200/204 new; 400 "path is already in use" when it is).
openbao_transit() {
  local out
  out=$(curl -s -w '%{http_code}' -X POST -H "X-Vault-Token: $OPENBAO_TOKEN" --data '{"type":"transit"}' \
    "http://127.0.0.1:$OPENBAO_PORT/v1/sys/mounts/transit")
  [[ $out == *20? || $out == *"already in use"* ]] || die "OpenBao: mounting transit answered $out"
}

write_env() {
  cat >"$ENV_DIR/env" <<ENV
# Written by hack/env-up.sh; read by the e2e tests (test/src/env.rs) and by 'source'.
KUBECONFIG=$ENV_DIR/kubeconfig
KUBECTL=$K8S_BIN/kubectl
KUBE_APISERVER=https://127.0.0.1:$APISERVER_PORT
KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
KAFKA_TLS_BOOTSTRAP=127.0.0.1:$KAFKA_TLS_PORT
KAFKA_CA_FILE=$PKI/kafka-ca.crt
KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER
KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD
KAFKA_HOME=$KAFKA_HOME
MINIO_ENDPOINT=http://127.0.0.1:$MINIO_PORT
MINIO_ACCESS_KEY=$MINIO_ROOT_USER
MINIO_SECRET_KEY=$MINIO_ROOT_PASSWORD
MINIO_REGION=us-east-1
MINIO_BUCKET=$MINIO_BUCKET
AZURITE_ENDPOINT=$AZURITE_ENDPOINT
AZURITE_ACCOUNT=$AZURITE_ACCOUNT
AZURITE_KEY=$AZURITE_KEY
AZURITE_CONTAINER=$AZURITE_CONTAINER
FAKE_GCS_ENDPOINT=http://127.0.0.1:$FAKE_GCS_PORT
FAKE_GCS_BUCKET=$FAKE_GCS_BUCKET
SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL
HARNESS_STATE_DIR=$ENV_DIR/harness
AUDIT_LOG=$LOG_DIR/audit.log
CERT_MANAGER_CONTROLLER=$CERT_MANAGER_CONTROLLER
CERT_MANAGER_CAINJECTOR=$CERT_MANAGER_CAINJECTOR
CERT_MANAGER_CRDS=$CERT_MANAGER_CRDS
OLM_BIN=$OLM_BIN
OLM_CRDS=$OLM_CRDS
PROMETHEUS_CRDS=$PROMETHEUS_CRDS
HELM=$HELM
STRIMZI_CRDS_V1BETA2_ONLY=$STRIMZI_CRDS_V1BETA2_ONLY
STRIMZI_CRDS_BOTH=$STRIMZI_CRDS_BOTH
STRIMZI_CRDS_V1_ONLY=$STRIMZI_CRDS_V1_ONLY
$("$HACK_DIR/postgres.sh" env)
KMS_AWS_ENDPOINT=http://127.0.0.1:$MOTO_PORT
KMS_AWS_REGION=$KMS_AWS_REGION
OPENBAO_ADDR=http://127.0.0.1:$OPENBAO_PORT
OPENBAO_TOKEN=$OPENBAO_TOKEN
ENV
}

main() {
  if problem=$(disk_space_problem "$ENV_DIR/data"); then
    die "not enough disk space: $problem"
  fi
  pki
  harness_pki
  kafka_pki
  kubeconfig
  start_etcd
  start_minio
  start_azurite
  start_fake_gcs
  start_kafka
  start_schema_registry
  start_moto
  start_openbao
  wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  start_apiserver
  wait_for apiserver 120 apiserver_ready
  start_controller_manager
  start_harness
  wait_for controller-manager 90 controller_manager_ready
  wait_for harness 60 harness_ready
  wait_for minio 60 minio_ready
  minio_bucket
  wait_for azurite 60 azurite_ready
  azurite_container
  wait_for fake-gcs 60 fake_gcs_ready
  fake_gcs_bucket
  wait_for kafka 120 kafka_ready
  kafka_scram_user
  wait_for schema-registry 120 schema_registry_ready
  wait_for moto 60 moto_ready
  wait_for openbao 60 openbao_ready
  openbao_transit
  # The audit log's database: starts and waits by itself (pg_ctl -w), as an unprivileged user.
  "$HACK_DIR/postgres.sh" start
  write_env
  cat <<MSG

Local environment is up (state in $ENV_DIR):
  Kubernetes  https://127.0.0.1:$APISERVER_PORT   export KUBECONFIG=$ENV_DIR/kubeconfig
  Kafka       127.0.0.1:$KAFKA_PORT (KRaft, Apache Kafka $KAFKA_VERSION); SCRAM-SHA-512 over TLS on 127.0.0.1:$KAFKA_TLS_PORT
  MinIO       http://127.0.0.1:$MINIO_PORT  bucket '$MINIO_BUCKET' (user $MINIO_ROOT_USER)
  Azurite     $AZURITE_ENDPOINT  container '$AZURITE_CONTAINER' (Azure Blob, Azurite $AZURITE_VERSION)
  fake-gcs    http://127.0.0.1:$FAKE_GCS_PORT  bucket '$FAKE_GCS_BUCKET' (GCS, fake-gcs-server $FAKE_GCS_VERSION)
  AWS KMS     http://127.0.0.1:$MOTO_PORT  (moto $MOTO_VERSION, region $KMS_AWS_REGION, any credentials)
  Vault       http://127.0.0.1:$OPENBAO_PORT  transit/ (OpenBao $OPENBAO_RELEASE dev mode, token $OPENBAO_TOKEN)
  PostgreSQL  127.0.0.1:${POSTGRES_PORT:-35432}  database 'audit' over TLS (audit log; hack/postgres.sh)
  Registry    $SCHEMA_REGISTRY_URL  (Confluent API of Apicurio Registry $APICURIO_VERSION, in memory)
  Pods        run by the test harness on node 'harness' (kubectl logs; files in $ENV_DIR/harness)
  Variables   $ENV_DIR/env     Stop with: make env-down
MSG
}

main "$@"
