#!/usr/bin/env bash
# `make bench`: throughput and peak memory of the data plane's `backup` and `restore` against the
# local broker and MinIO, beside Apache Kafka's own perf tools (ProducerPerformance,
# ConsumerPerformance) run on the same broker in the same run. Prints figures and ratios; asserts
# nothing about speed (only that every record arrived). Method and results: docs/benchmarks.md.
#
# An environment that is already up is reused and left running; otherwise this starts it
# (`make env-up`) and stops it again at the end, also on failure (removing its state directory
# when the bench created it and succeeded). The bench's topics, consumer groups and MinIO objects
# are removed at the end (BENCH_KEEP=1 keeps them).
#
# Knobs (environment):
#   BENCH_RECORDS       records per case (default 500000: 488 MiB of 1 KiB values)
#   BENCH_RECORD_SIZE   value bytes per record (default 1024): ProducerPerformance's random A-Z values
#   BENCH_PAYLOAD_FILE  instead, values taken at random from this file's lines (--payload-file)
#   BENCH_PARTITIONS    the cases, as partition counts (default "1 8"); parallelism = partitions
#   BENCH_THROUGHPUT    0: skip those backup/restore cases and their report (default 1)
#   BENCH_ZSTD_LEVEL    backup.compressionLevel (default 3)
#   BENCH_CODECS        backup.compression of each backup (and its restore) per case (default "zstd none")
#   BENCH_KEEP          1: keep topics, groups and objects (default 0)
#   BENCH_OPERATOR      0: skip the operator's footprint and latency (default 1)
#   BENCH_OPERATOR_OBJECTS / BENCH_OPERATOR_RUNS  scheduled objects (1000) / run-once backups (40)
#   BENCH_SYNC          0: skip the restore-point sync figures (default 1)
#   BENCH_SYNC_POINTS   restore points at the synced location (default 1000)
#   BENCH_WEBHOOK       0: skip the admission webhooks' latency and throughput (default 1)
#   BENCH_WEBHOOK_RATE / BENCH_WEBHOOK_SECONDS  requests/s (500) and seconds (20) of the fixed-rate runs
#   BENCH_WEBHOOK_CONCURRENCY  requests in flight (default 8)
#   BENCH_MASKING       0: skip the cost of masking on restore (default 1)
#   BENCH_SCALE         0: skip the many-partition cases (default 1)
#   BENCH_SCALE_PARTITIONS / BENCH_SCALE_RECORDS  their partition counts ("100 1000") and records
#                       per partition (200)
#   BENCH_RPO           0: skip the continuous backup's RPO under steady produce load (default 1)
#   BENCH_RPO_RATES / BENCH_RPO_SECONDS  produce rates in MiB/s ("5 20"), seconds each (60)
#   BENCH_RPO_INTERVAL / BENCH_RPO_PARTITIONS  commitInterval (10s) and partitions (8)
#   BENCH_RPO_MERGE     off: the continuous backup does not merge its lineage's small segments
#                       (STRIMZI_BACKUP_MERGE_SEGMENTS), to see what merging costs the RPO (on)
# One section alone, e.g. masking: BENCH_THROUGHPUT=0 BENCH_SCALE=0 BENCH_OPERATOR=0 BENCH_SYNC=0 BENCH_WEBHOOK=0
#   CARGO_TARGET_DIR    where the release binary is built (default target/)
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"

RECORDS=${BENCH_RECORDS:-500000}
RECORD_SIZE=${BENCH_RECORD_SIZE:-1024}
PAYLOAD_FILE=${BENCH_PAYLOAD_FILE:-}
PARTITIONS=${BENCH_PARTITIONS:-1 8}
ZSTD_LEVEL=${BENCH_ZSTD_LEVEL:-3}
CODECS=${BENCH_CODECS:-zstd none}
KEEP=${BENCH_KEEP:-0}
BIN=${CARGO_TARGET_DIR:-$ROOT_DIR/target}/release/strimzi-backup-operator
RUN=bench-$(date +%Y%m%d-%H%M%S)-$$
PREFIX=$RUN/

# The restore producer's settings that shape what goes over the wire (src/restore/run.rs; 1000000
# is librdkafka's batch.size default), given to the producer baseline too: both write the same
# kind of batches. The bench data is written by that baseline, so the topics hold lz4 batches.
PRODUCER_PROPS=(acks=all enable.idempotence=true max.in.flight.requests.per.connection=5
  compression.type=lz4 linger.ms=20 batch.size=1000000)
# Fetch settings for the consumer baseline: larger than the backup consumer's (src/budget.rs: 2 MiB
# fetches at the default 32 MiB budget), so the baseline is the stricter one.
CONSUMER_FETCH_BYTES=16777216
CONSUMER_PROPS=(fetch.max.bytes=52428800 isolation.level=read_committed)

for v in RECORDS RECORD_SIZE ZSTD_LEVEL; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer, not '${!v}'"
done
for p in $PARTITIONS; do
  [[ $p =~ ^[1-9][0-9]*$ ]] || die "BENCH_PARTITIONS: '$p' is not a partition count"
done
for c in $CODECS; do
  [[ $c =~ ^(zstd|lz4|gzip|snappy|none)$ ]] || die "BENCH_CODECS: '$c' is not a backup.compression"
done
# A codec as the report names it: zstd with its level.
codec_desc() { if [[ $1 == zstd ]]; then echo "zstd-$ZSTD_LEVEL"; else echo "$1"; fi; }
if [[ -n $PAYLOAD_FILE ]]; then
  [[ -s $PAYLOAD_FILE ]] || die "BENCH_PAYLOAD_FILE $PAYLOAD_FILE is missing or empty"
  PAYLOAD_FILE=$(realpath "$PAYLOAD_FILE")
  PAYLOAD_ARGS=(--payload-file "$PAYLOAD_FILE")
  PAYLOAD_DESC="values: lines of $PAYLOAD_FILE"
else
  PAYLOAD_ARGS=(--record-size "$RECORD_SIZE")
  PAYLOAD_DESC="values: $RECORD_SIZE random A-Z bytes (ProducerPerformance --record-size), no keys"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strimzi-backup-bench.XXXXXX")
TOPICS=() GROUPS_CREATED=()
owned=true
had_env_dir=false
if [[ -d $ENV_DIR ]]; then had_env_dir=true; fi
for c in etcd apiserver controller-manager harness kafka minio azurite fake-gcs; do
  if running_pid "$c" >/dev/null; then owned=false; fi
done

# --- Kafka tools and MinIO ----------------------------------------------------------------------
# The tools log at WARN to stderr, so their stdout holds only their figures.
cat >"$WORK/log4j2.yaml" <<'LOG'
Configuration:
  Appenders:
    Console: {name: STDERR, target: SYSTEM_ERR, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: WARN, AppenderRef: [{ref: STDERR}]}
LOG
# The JVM running a Kafka tool (KAFKA_TOOL is set once .local-env/env is read).
KAFKA_TOOL=()
kafka_tool() { "${KAFKA_TOOL[@]}" "$@"; }
topic_cmd() { kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"; }

# A SigV4-signed request to MinIO: minio_call METHOD PATH-AND-QUERY (prints the body).
minio_call() {
  curl -sS -X "$1" --aws-sigv4 "aws:amz:$MINIO_REGION:s3" --user "$MINIO_ACCESS_KEY:$MINIO_SECRET_KEY" \
    "$MINIO_ENDPOINT/$MINIO_BUCKET$2"
}

# Removes every object under the bench's prefix. Query values are percent-encoded (`/` as %2F)
# and in name order, as SigV4's canonical request has them: curl signs the query as written.
# Unfinished multipart uploads of a failed run are not listed here (MinIO lists them only by
# exact object name); MinIO drops them itself after a day.
minio_delete_prefix() {
  local prefix=${PREFIX//\//%2F} body keys key
  for _ in $(seq 1 100); do
    body=$(minio_call GET "/?list-type=2&max-keys=1000&prefix=$prefix")
    [[ $body == *ListBucketResult* ]] || { log "MinIO: listing $PREFIX failed: $body"; return 1; }
    keys=$(grep -o '<Key>[^<]*</Key>' <<<"$body" | sed -E 's#</?Key>##g') || true
    [[ -n $keys ]] || return 0
    while read -r key; do minio_call DELETE "/$key" >/dev/null; done <<<"$keys"
  done
}

cleanup() {
  local rc=$? t g
  set +e
  if [[ $KEEP == 1 ]]; then
    log "BENCH_KEEP=1: keeping topics ${TOPICS[*]:-none}, groups ${GROUPS_CREATED[*]:-none} and s3://${MINIO_BUCKET:-}/$PREFIX"
  elif ((${#KAFKA_TOOL[@]})); then
    log "removing the bench's topics, consumer groups and s3://$MINIO_BUCKET/$PREFIX"
    for t in "${TOPICS[@]}"; do
      topic_cmd --delete --if-exists --topic "$t" >/dev/null 2>&1 || log "could not delete topic $t"
    done
    for g in "${GROUPS_CREATED[@]}"; do
      kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
        --delete --group "$g" >/dev/null 2>&1 || log "could not delete consumer group $g"
    done
    minio_delete_prefix || log "could not empty s3://$MINIO_BUCKET/$PREFIX"
  fi
  if [[ $rc -ne 0 ]]; then
    log "bench failed; its configs, outputs and logs are in $WORK"
  else
    rm -rf "$WORK"
  fi
  if $owned; then
    log "stopping the local environment this bench started"
    # A state directory the bench created goes again, unless its logs are needed.
    if ! $had_env_dir && [[ $rc -eq 0 ]]; then
      "$HACK_DIR/env-down.sh" --purge || true
    else
      "$HACK_DIR/env-down.sh" || true
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT

# --- environment and binary ---------------------------------------------------------------------
if running_pid kafka >/dev/null && running_pid minio >/dev/null; then
  log "local environment already running: reusing it and leaving it up"
else
  $owned || log "local environment partly running: starting the missing parts (left running afterwards)"
  make --no-print-directory env-up
fi
# shellcheck disable=SC1091
. "$ENV_DIR/env"
KAFKA_PID=$(running_pid kafka) || die "Kafka is not running"
MINIO_PID=$(running_pid minio) || die "MinIO is not running"
KAFKA_TOOL=(java -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true "-Dlog4j2.configurationFile=$WORK/log4j2.yaml"
  -cp "$KAFKA_HOME/libs/*")

log "building the release binary (a debug build is ~15x slower at zstd)"
${CARGO:-cargo} build --release --bin strimzi-backup-operator

# --- measuring ----------------------------------------------------------------------------------
GNU_TIME=false
if /usr/bin/time -f '%e %M' -o /dev/null true 2>/dev/null; then GNU_TIME=true; fi
TICK=$(getconf CLK_TCK)

# CPU seconds a process has used so far (user + system).
proc_cpu() { sed 's/.*) //' "/proc/$1/stat" | awk -v t="$TICK" '{ printf "%.2f", ($12 + $13) / t }'; }
# CPU seconds all cores have been busy so far (everything but idle and iowait).
machine_cpu() { awk -v t="$TICK" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat; }

# Runs "$@" with stdout in $1.out and stderr in $1.log, and writes to $1.time:
#   <wall s> <peak RSS KiB> <CPU s of the process> <CPU s of the broker> <of MinIO> <of the machine>
# Wall time, RSS and CPU by GNU time when there is one, else by polling the process's VmHWM (the
# kernel's high-water mark of its resident set) every 50 ms and by the shell's child times.
measured() {
  local base=$1 rc=0 k0 m0 c0 line wall rss user sys; shift
  k0=$(proc_cpu "$KAFKA_PID") m0=$(proc_cpu "$MINIO_PID") c0=$(machine_cpu)
  if $GNU_TIME; then
    /usr/bin/time -f '%e %M %U %S' -o "$base.rusage" "$@" >"$base.out" 2>"$base.log" || rc=$?
    line=$(tail -n1 "$base.rusage")
  else
    local t0 t1 pid hwm=0 k v _ before after
    times >"$base.times" # not in $(…): a subshell's child times are its own
    t0=$(date +%s%N)
    "$@" >"$base.out" 2>"$base.log" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      while read -r k v _; do
        if [[ $k == VmHWM: ]] && ((v > hwm)); then hwm=$v; fi
      done <"/proc/$pid/status" 2>/dev/null || true
      sleep 0.05
    done
    wait "$pid" || rc=$?
    t1=$(date +%s%N)
    times >>"$base.times"
    before=$(sed -n 2p "$base.times") after=$(sed -n 4p "$base.times")
    line=$(awk -v a="$t0" -v b="$t1" -v m="$hwm" -v x="$before" -v y="$after" 'function s(t, p) {
        split(t, p, " "); return (p[1] + 0) * 60 + substr(p[1], index(p[1], "m") + 1) + (p[2] + 0) * 60 + substr(p[2], index(p[2], "m") + 1) }
      BEGIN { printf "%.2f %d %.2f 0", (b - a) / 1e9, m, s(y) - s(x) }')
  fi
  if ((rc != 0)); then
    tail -n 30 "$base.log" >&2
    die "$(basename "$base") failed (exit $rc; log: $base.log)"
  fi
  read -r wall rss user sys <<<"$line"
  echo "$wall $rss $(calc "$user + $sys" %.2f) $(calc "$(proc_cpu "$KAFKA_PID") - $k0" %.2f)" \
    "$(calc "$(proc_cpu "$MINIO_PID") - $m0" %.2f) $(calc "$(machine_cpu) - $c0" %.2f)" >"$base.time"
}

# A data-plane command run the way a Job runs it: a config file without secrets, the MinIO
# credentials in an otherwise empty environment.
dataplane() {
  local base=$1 sub=$2 config=$3
  measured "$base" env -i "AWS_ACCESS_KEY_ID=$MINIO_ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$MINIO_SECRET_KEY" \
    "$BIN" "$sub" --config "$config"
}

# A number field of compact JSON: json_field FILE NAME.
json_field() { grep -o "\"$2\":[0-9]*" "$1" | head -n1 | cut -d: -f2; }

# Float arithmetic: calc EXPR (awk syntax) [FORMAT, default %.1f].
calc() { awk "BEGIN { printf \"${2:-%.1f}\", $1 }"; }
# "ours/broker/MinIO/other" CPU seconds of a step: cpu_split OURS BROKER MINIO MACHINE.
cpu_split() { awk -v a="$1" -v b="$2" -v c="$3" -v m="$4" 'BEGIN { printf "%.1f/%.1f/%.1f/%.1f", a, b, c, m - a - b - c }'; }

storage_yaml() {
  cat <<YAML
kafka:
  bootstrapServers: $KAFKA_BOOTSTRAP
storage:
  type: s3
  s3:
    bucket: $MINIO_BUCKET
    region: $MINIO_REGION
    endpoint: $MINIO_ENDPOINT
    forcePathStyle: true
    prefix: $PREFIX
YAML
}

# The documented memory bounds (docs/data-plane.md, "Memory"), in MiB, for P partitions worked on
# at once (backup.parallelism / restore.parallelism). Backup: 64 MiB plus the 32 MiB budget per
# partition (src/budget.rs; measured at 8 with 1 KiB records since 4f207a2: 299-318 MiB none,
# 306-324 zstd-3: docs/sizing.md).
# Restore: 100 MiB (process, the producer's 64 MiB queue) plus 12 MiB per partition.
backup_bound() { echo $((64 + 32 * $1)); }
restore_bound() { echo $((100 + 12 * $1)); }

MIB=1048576
RESULTS=() NOTES=()
THROUGHPUT=${BENCH_THROUGHPUT:-1}
[[ $THROUGHPUT == 1 ]] || PARTITIONS=""
log "bench $RUN: $RECORDS records per case ($PAYLOAD_DESC), cases: ${PARTITIONS:-none} partition(s) (BENCH_THROUGHPUT=${THROUGHPUT}); work dir $WORK"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for P in $PARTITIONS; do
  topic=$RUN-p$P group=$RUN-p$P-perf case=$WORK/p$P
  TOPICS+=("$topic")
  log "=== $P partition(s): topic $topic"
  topic_cmd --create --topic "$topic" --partitions "$P" --replication-factor 1 >/dev/null

  # 1. The bench data, written by ProducerPerformance: also the producer baseline.
  log "producer baseline (ProducerPerformance), writing the bench data"
  measured "$case-producer" "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
    --num-records "$RECORDS" "${PAYLOAD_ARGS[@]}" --throughput -1 \
    --producer-props "bootstrap.servers=$KAFKA_BOOTSTRAP" "${PRODUCER_PROPS[@]}"
  line=$(grep 'records sent' "$case-producer.out" | tail -n1)
  [[ $line =~ ^([0-9]+)\ records\ sent,\ ([0-9.]+)\ records/sec\ \(([0-9.]+)\ MB/sec\) ]] ||
    die "cannot read ProducerPerformance's result: '$line'"
  [[ ${BASH_REMATCH[1]} == "$RECORDS" ]] || die "ProducerPerformance sent ${BASH_REMATCH[1]} records, not $RECORDS"
  prod_rps=${BASH_REMATCH[2]} prod_mibs=${BASH_REMATCH[3]}

  # 2. The consumer baseline: ConsumerPerformance reads the whole topic.
  log "consumer baseline (ConsumerPerformance)"
  GROUPS_CREATED+=("$group")
  printf '%s\n' "${CONSUMER_PROPS[@]}" >"$case-consumer.properties"
  measured "$case-consumer" "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ConsumerPerformance \
    --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "$topic" --messages "$RECORDS" --group "$group" \
    --fetch-size "$CONSUMER_FETCH_BYTES" --timeout 60000 --hide-header --consumer.config "$case-consumer.properties"
  # start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  line=$(grep -E '^[0-9]{4}-' "$case-consumer.out" | tail -n1)
  IFS=',' read -r _ _ cons_mib cons_mibs_all cons_n _ _ _ cons_mibs cons_rps <<<"${line// /}"
  [[ ${cons_n:-} == "$RECORDS" ]] || die "ConsumerPerformance read ${cons_n:-nothing}, not $RECORDS records: '$line'"

  read -r p_secs _ p_cpu p_kcpu _ _ <"$case-producer.time"
  read -r c_secs _ c_cpu c_kcpu _ _ <"$case-consumer.time"
  NOTES+=(
    "${P}p producer baseline: $(calc "$prod_rps" %.0f) records/s, $prod_mibs MiB/s (CPU s tool/broker $p_cpu/$p_kcpu)"
    "${P}p consumer baseline: $(calc "$cons_rps" %.0f) records/s, $cons_mibs MiB/s while fetching, $cons_mibs_all MiB/s with its group join (CPU s tool/broker $c_cpu/$c_kcpu)"
  )

  for codec in $CODECS; do
    # 3. Our backup of the topic.
    desc=$(codec_desc "$codec") c=$case-$codec
    TOPICS+=("$topic-$codec")
    log "backup: $desc, parallelism $P"
    {
      storage_yaml
      cat <<YAML
topics:
  include: ["$topic"]
consumerGroups:
  include: []
backup:
  compression: $codec
  compressionLevel: $ZSTD_LEVEL
  parallelism: $P
  mode: full
YAML
    } >"$c-backup.yaml"
    [[ $codec == zstd ]] || sed -i '/compressionLevel:/d' "$c-backup.yaml"
    dataplane "$c-backup" backup "$c-backup.yaml"
    read -r b_secs b_kib b_cpu b_kcpu b_mcpu b_all <"$c-backup.time"
    b_records=$(json_field "$c-backup.out" records)
    b_raw=$(json_field "$c-backup.out" rawBytes)
    b_stored=$(json_field "$c-backup.out" sizeBytes)
    backup_id=$(grep -o '"backupId":"[^"]*"' "$c-backup.out" | cut -d'"' -f4)
    [[ $b_records == "$RECORDS" ]] || die "backup stored ${b_records:-no} records, not $RECORDS ($c-backup.out)"

    # 4. Our restore of it into a new topic.
    log "restore: into $topic-$codec, parallelism $P"
    {
      storage_yaml
      cat <<YAML
backupId: $backup_id
topicMapping:
  - {sourceTopic: $topic, targetTopic: $topic-$codec}
consumerGroups:
  restore: false
restore:
  parallelism: $P
YAML
    } >"$c-restore.yaml"
    dataplane "$c-restore" restore "$c-restore.yaml"
    read -r r_secs r_kib r_cpu r_kcpu r_mcpu r_all <"$c-restore.time"
    r_records=$(json_field "$c-restore.out" restoredRecords)
    r_bytes=$(json_field "$c-restore.out" restoredBytes)
    [[ $r_records == "$RECORDS" ]] || die "restore wrote ${r_records:-no} records, not $RECORDS ($c-restore.out)"

    # MiB/s counts record keys and values, as the Kafka tools do (for the backup: the MiB the
    # consumer baseline read from the same topic), over the process's whole wall time.
    b_mibs=$(calc "$cons_mib / $b_secs") r_mibs=$(calc "$r_bytes / $MIB / $r_secs")
    b_rss=$(calc "$b_kib / 1024" %.0f) r_rss=$(calc "$r_kib / 1024" %.0f)
    b_cpus=$(cpu_split "$b_cpu" "$b_kcpu" "$b_mcpu" "$b_all") r_cpus=$(cpu_split "$r_cpu" "$r_kcpu" "$r_mcpu" "$r_all")
    # case, records/s, MiB/s, MiB/s per partition, baseline, baseline MiB/s, ratio, RSS, bound, CPU s
    b_rate="$(calc "$RECORDS / $b_secs" %.0f) $b_mibs $(calc "$b_mibs / $P")"
    r_rate="$(calc "$r_records / $r_secs" %.0f) $r_mibs $(calc "$r_mibs / $P")"
    RESULTS+=(
      "backup-${P}p-$codec $b_rate consumer $(calc "$cons_mibs") $(calc "$b_mibs / $cons_mibs" %.2f) $b_secs $c_secs $(calc "$c_secs / $b_secs" %.2f) $b_rss $(backup_bound "$P") $b_cpus"
      "restore-${P}p-$codec $r_rate producer $(calc "$prod_mibs") $(calc "$r_mibs / $prod_mibs" %.2f) $r_secs $p_secs $(calc "$p_secs / $r_secs" %.2f) $r_rss $(restore_bound "$P") $r_cpus"
    )
    NOTES+=(
      "${P}p backup, $desc: $b_secs s; $(calc "$b_raw / $MIB") MiB encoded, $(calc "$b_stored / $MIB") MiB stored ($(calc "$b_stored / $b_raw" %.3f) of encoded); peak RSS $b_rss MiB"
      "${P}p restore of it: $r_secs s; $(calc "$r_bytes / $MIB") MiB restored; peak RSS $r_rss MiB"
    )
    if [[ $KEEP != 1 ]]; then topic_cmd --delete --topic "$topic-$codec" >/dev/null 2>&1 || true; fi
  done

  if [[ $KEEP != 1 ]]; then topic_cmd --delete --topic "$topic" >/dev/null 2>&1 || true; fi
done

# --- report -------------------------------------------------------------------------------------
if [[ $THROUGHPUT == 1 ]]; then
  row() { printf '%-16s %9s %7s %10s %-17s %5s %6s %6s %5s %7s %6s  %s\n' "$@"; }
  echo
  CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  echo "strimzi-backup-operator bench $RUN: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($CPU_MODEL)," \
    "load average before: $LOAD_BEFORE"
  echo "Kafka $KAFKA_VERSION at $KAFKA_BOOTSTRAP, MinIO at $MINIO_ENDPOINT; $RECORDS records per case, $PAYLOAD_DESC"
  echo "MiB/s: record bytes per second of wall time (the whole process for ours); each case's last part is" \
    "the backup's compression (zstd: level $ZSTD_LEVEL) and the restore is of that backup; parallelism = partitions"
  echo
  row case records/s MiB/s MiB/s/part "baseline MiB/s" ratio "wall s" "tool s" wallr "RSS MiB" "bound" "CPU s: ours/broker/MinIO/other"
  for r in "${RESULTS[@]}"; do
    read -r c rps mibs part bname bmibs ratio secs tsecs wratio rss bound cpu <<<"$r"
    row "$c" "$rps" "$mibs" "$part" "$bname $bmibs" "$ratio" "$secs" "$tsecs" "$wratio" "$rss" "$bound" "$cpu"
  done
  echo
  echo "ratio: our MiB/s over the tool's (ConsumerPerformance's while fetching, without its start and group join)."
  echo "wallr: the tool's whole process wall time over ours (both under /usr/bin/time, JVM start included)."
  echo
  for n in "${NOTES[@]}"; do echo "  $n"; done
  echo
  echo "Targets (informational, nothing fails): backup >= 100 MiB/s per partition and >= 0.80 of the consumer"
  echo "baseline; restore >= 0.70 of the producer baseline; with compression none (issue 18) both >= 0.90 of"
  echo "their tool as whole processes (wallr); peak RSS <= the documented bound (docs/data-plane.md)."
  for r in "${RESULTS[@]}"; do
    read -r c _ _ part _ _ ratio _ _ wratio rss bound _ <<<"$r"
    miss=()
    if [[ $c == *-none ]]; then
      if awk "BEGIN { exit !($wratio < 0.90) }"; then miss+=("wall ratio $wratio < 0.90"); fi
    elif [[ $c == backup-* ]]; then
      if awk "BEGIN { exit !($part < 100) }"; then miss+=("$part MiB/s per partition < 100"); fi
      if awk "BEGIN { exit !($ratio < 0.80) }"; then miss+=("ratio $ratio < 0.80"); fi
    elif awk "BEGIN { exit !($ratio < 0.70) }"; then
      miss+=("ratio $ratio < 0.70")
    fi
    if ((rss > bound)); then miss+=("RSS $rss MiB > bound $bound MiB"); fi
    if ((${#miss[@]})); then
      echo "  $c: below target: $(IFS=';'; echo "${miss[*]}" | sed 's/;/; /g')"
    else
      echo "  $c: meets the targets"
    fi
  done
fi

# --- masking on restore: what spec.masking costs ------------------------------------------------
# One topic of JSON values (1000 distinct customers of about 1 KiB, written by ProducerPerformance
# from a payload file), backed up once and restored twice in this run, one partition each: as it
# is, and with three JSON rules (the email hashed with HMAC-SHA-256, the name redacted, the IBAN
# replaced). Prints both rates and the cost in % of the plain restore's MiB/s. BENCH_MASKING=0
# skips it.
if [[ ${BENCH_MASKING:-1} == 1 ]]; then
  topic=$RUN-mask case=$WORK/mask
  TOPICS+=("$topic" "$topic-plain" "$topic-masked")
  log "=== masking on restore: topic $topic, $RECORDS JSON records"
  topic_cmd --create --topic "$topic" --partitions 1 --replication-factor 1 >/dev/null
  awk -v pad="$(printf '%0800d' 0)" 'BEGIN { for (i = 0; i < 1000; i++)
      printf "{\"id\":%d,\"customer\":{\"name\":\"Customer %d\",\"email\":\"user%d@example.com\",\"iban\":\"DE%020d\"},\"items\":[{\"sku\":\"A-%d\",\"qty\":%d}],\"note\":\"%s\"}\n", i, i, i, i, i, i % 9, pad }' \
    >"$case-values.txt"
  head -c 32 /dev/urandom >"$case-hash.key"
  measured "$case-producer" "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
    --num-records "$RECORDS" --payload-file "$case-values.txt" --throughput -1 \
    --producer-props "bootstrap.servers=$KAFKA_BOOTSTRAP" "${PRODUCER_PROPS[@]}"
  { storage_yaml; printf 'topics:\n  include: ["%s"]\nconsumerGroups:\n  include: []\nbackup: {mode: full}\n' "$topic"; } \
    >"$case-backup.yaml"
  dataplane "$case-backup" backup "$case-backup.yaml"
  backup_id=$(grep -o '"backupId":"[^"]*"' "$case-backup.out" | cut -d'"' -f4)
  for variant in plain masked; do
    {
      storage_yaml
      printf 'backupId: %s\ntopicMapping:\n  - {sourceTopic: %s, targetTopic: %s-%s}\n' "$backup_id" "$topic" "$topic" "$variant"
      printf 'consumerGroups:\n  restore: false\nrestore:\n  parallelism: 1\n'
      if [[ $variant == masked ]]; then
        cat <<YAML
masking:
  hashKeyFile: $case-hash.key
  rules:
    - {target: value, jsonPath: '\$.customer.email', action: hash}
    - {target: value, jsonPath: '\$.customer.name', action: redact}
    - {target: value, jsonPath: '\$.customer.iban', action: replace, value: 'DE00000000000000000000'}
YAML
      fi
    } >"$case-$variant.yaml"
    dataplane "$case-$variant" restore "$case-$variant.yaml"
    n=$(json_field "$case-$variant.out" restoredRecords)
    [[ $n == "$RECORDS" ]] || die "the $variant restore wrote ${n:-no} records, not $RECORDS ($case-$variant.out)"
  done
  grep -q "\"masked\":$RECORDS" "$case-masked.out" || die "the masked restore did not mask every record ($case-masked.out)"
  read -r p_secs p_kib p_cpu _ <"$case-plain.time"
  read -r m_secs m_kib m_cpu _ <"$case-masked.time"
  p_bytes=$(json_field "$case-plain.out" restoredBytes)
  p_mibs=$(calc "$p_bytes / $MIB / $p_secs") m_mibs=$(calc "$p_bytes / $MIB / $m_secs")
  echo
  echo "masking on restore: $RECORDS JSON records ($(calc "$p_bytes / $MIB") MiB), 1 partition, 3 JSONPath rules (hash, redact, replace)"
  printf '  %-8s %8s %9s %8s %10s\n' restore "wall s" "MiB/s" "RSS MiB" "CPU s ours"
  printf '  %-8s %8s %9s %8s %10s\n' plain "$p_secs" "$p_mibs" "$(calc "$p_kib / 1024" %.0f)" "$p_cpu"
  printf '  %-8s %8s %9s %8s %10s\n' masked "$m_secs" "$m_mibs" "$(calc "$m_kib / 1024" %.0f)" "$m_cpu"
  echo "  cost of masking: $(calc "($p_mibs - $m_mibs) * 100 / $p_mibs") % of the plain restore's MiB/s," \
    "$(calc "$m_cpu - $p_cpu" %.2f) CPU s more ($(calc "($m_cpu - $p_cpu) * 1000000 / $RECORDS" %.1f) us per record)"
  if [[ $KEEP != 1 ]]; then
    for t in "$topic" "$topic-plain" "$topic-masked"; do topic_cmd --delete --topic "$t" >/dev/null 2>&1 || true; done
  fi
fi

# --- many partitions: planning, throughput and memory at 100 and 1,000 partitions ---------------
# One topic per count in BENCH_SCALE_PARTITIONS (default "100 1000"), BENCH_SCALE_RECORDS records
# per partition (default 200) of RECORD_SIZE bytes written by ProducerPerformance (the producer
# baseline), read by ConsumerPerformance (the consumer baseline), then backed up and restored at
# the default parallelism (4), as a KafkaBackup without `parallelism` runs. Prints wall time,
# MiB/s, the ratio to the baseline, peak RSS and the plan time the data plane reports (`planMs`:
# from its start until the first record is read or written). BENCH_SCALE=0 skips it.
if [[ ${BENCH_SCALE:-1} == 1 ]]; then
  SCALE_PARTITIONS=${BENCH_SCALE_PARTITIONS:-100 1000}
  SCALE_RECORDS=${BENCH_SCALE_RECORDS:-200}
  [[ $SCALE_RECORDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE_RECORDS must be a positive integer, not '$SCALE_RECORDS'"
  SCALE_ROWS=()
  for P in $SCALE_PARTITIONS; do
    [[ $P =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE_PARTITIONS: '$P' is not a partition count"
    topic=$RUN-scale$P group=$RUN-scale$P-perf case=$WORK/scale$P n=$((P * SCALE_RECORDS))
    TOPICS+=("$topic" "$topic-restored")
    log "=== $P partitions: topic $topic, $n records ($SCALE_RECORDS per partition)"
    topic_cmd --create --topic "$topic" --partitions "$P" --replication-factor 1 >/dev/null
    measured "$case-producer" "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
      --num-records "$n" "${PAYLOAD_ARGS[@]}" --throughput -1 \
      --producer-props "bootstrap.servers=$KAFKA_BOOTSTRAP" "${PRODUCER_PROPS[@]}"
    line=$(grep 'records sent' "$case-producer.out" | tail -n1)
    [[ $line =~ ^([0-9]+)\ records\ sent,\ ([0-9.]+)\ records/sec\ \(([0-9.]+)\ MB/sec\) ]] ||
      die "cannot read ProducerPerformance's result: '$line'"
    prod_mibs=${BASH_REMATCH[3]}
    GROUPS_CREATED+=("$group")
    printf '%s\n' "${CONSUMER_PROPS[@]}" >"$case-consumer.properties"
    measured "$case-consumer" "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ConsumerPerformance \
      --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "$topic" --messages "$n" --group "$group" \
      --fetch-size "$CONSUMER_FETCH_BYTES" --timeout 60000 --hide-header --consumer.config "$case-consumer.properties"
    line=$(grep -E '^[0-9]{4}-' "$case-consumer.out" | tail -n1)
    IFS=',' read -r _ _ cons_mib cons_mibs_all cons_n _ _ _ _ _ <<<"${line// /}"
    [[ ${cons_n:-} == "$n" ]] || die "ConsumerPerformance read ${cons_n:-nothing}, not $n records: '$line'"
    read -r c_secs c_kib _ <"$case-consumer.time"

    { storage_yaml; printf 'topics:\n  include: ["%s"]\nconsumerGroups:\n  include: []\nbackup:\n  compression: zstd\n  compressionLevel: %s\n  mode: full\n' "$topic" "$ZSTD_LEVEL"; } \
      >"$case-backup.yaml"
    log "backup: $P partitions, default parallelism"
    dataplane "$case-backup" backup "$case-backup.yaml"
    read -r b_secs b_kib _ <"$case-backup.time"
    [[ $(json_field "$case-backup.out" records) == "$n" ]] || die "backup stored other than $n records ($case-backup.out)"
    b_plan=$(json_field "$case-backup.out" planMs)
    backup_id=$(grep -o '"backupId":"[^"]*"' "$case-backup.out" | cut -d'"' -f4)
    {
      storage_yaml
      printf 'backupId: %s\ntopicMapping:\n  - {sourceTopic: %s, targetTopic: %s-restored}\n' "$backup_id" "$topic" "$topic"
      printf 'consumerGroups:\n  restore: false\n'
    } >"$case-restore.yaml"
    log "restore: $P partitions into $topic-restored, default parallelism"
    dataplane "$case-restore" restore "$case-restore.yaml"
    read -r r_secs r_kib _ <"$case-restore.time"
    [[ $(json_field "$case-restore.out" restoredRecords) == "$n" ]] || die "restore wrote other than $n records ($case-restore.out)"
    r_plan=$(json_field "$case-restore.out" planMs)
    r_bytes=$(json_field "$case-restore.out" restoredBytes)
    b_mibs=$(calc "$cons_mib / $b_secs") r_mibs=$(calc "$r_bytes / $MIB / $r_secs")
    SCALE_ROWS+=(
      "backup-${P}p $n $b_secs $b_mibs consumer $(calc "$cons_mibs_all") $(calc "$b_mibs / $cons_mibs_all" %.2f) ${b_plan:-?} $(calc "$b_kib / 1024" %.0f) $(calc "$c_kib / 1024" %.0f)"
      "restore-${P}p $n $r_secs $r_mibs producer $(calc "$prod_mibs") $(calc "$r_mibs / $prod_mibs" %.2f) ${r_plan:-?} $(calc "$r_kib / 1024" %.0f) -"
    )
    if [[ $KEEP != 1 ]]; then
      topic_cmd --delete --topic "$topic" >/dev/null 2>&1 || true
      topic_cmd --delete --topic "$topic-restored" >/dev/null 2>&1 || true
    fi
  done
  echo
  echo "many partitions: $SCALE_RECORDS records per partition ($PAYLOAD_DESC), backup zstd-$ZSTD_LEVEL," \
    "default parallelism (4); MiB/s over the whole process; consumer baseline with its group join"
  srow() { printf '  %-13s %8s %7s %7s %-18s %5s %8s %8s %10s\n' "$@"; }
  srow case records "wall s" MiB/s "baseline MiB/s" ratio "plan ms" "RSS MiB" "tool RSS"
  for r in "${SCALE_ROWS[@]}"; do
    read -r c n secs mibs bname bmibs ratio plan rss trss <<<"$r"
    srow "$c" "$n" "$secs" "$mibs" "$bname $bmibs" "$ratio" "$plan" "$rss" "$trss"
  done
fi

# --- continuous backup: the RPO under steady produce load ---------------------------------------
# The release `backup` with `backup.mode: continuous` (commitInterval BENCH_RPO_INTERVAL, 10s) on
# a topic of BENCH_RPO_PARTITIONS (8) partitions while ProducerPerformance produces at a fixed
# rate, one phase per rate of BENCH_RPO_RATES (MiB/s of 1 KiB records, "5 20") for
# BENCH_RPO_SECONDS (60) each. hack/bench-rpo.py samples the process's /metrics and /proc every
# second and prints per phase: commits, RPO (now - the newest committed cut) p50/p95/max, lag in
# seconds, records per second produced (the tool's own figure) and backed up, CPU and RSS. At the
# end the newest restore point must hold every record produced and pass `verify`.
# BENCH_RPO=0 skips it.
if [[ ${BENCH_RPO:-1} == 1 ]]; then
  RPO_RATES=${BENCH_RPO_RATES:-5 20}
  RPO_SECONDS=${BENCH_RPO_SECONDS:-60}
  RPO_INTERVAL=${BENCH_RPO_INTERVAL:-10s}
  RPO_PARTITIONS=${BENCH_RPO_PARTITIONS:-8}
  for v in RPO_SECONDS RPO_PARTITIONS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer, not '${!v}'"
  done
  for r in $RPO_RATES; do [[ $r =~ ^[1-9][0-9]*$ ]] || die "BENCH_RPO_RATES: '$r' is not a rate in MiB/s"; done
  topic=$RUN-rpo case=$WORK/rpo
  TOPICS+=("$topic")
  log "=== continuous backup, commitInterval $RPO_INTERVAL: topic $topic ($RPO_PARTITIONS partitions), ${RPO_RATES// /, } MiB/s for $RPO_SECONDS s each"
  topic_cmd --create --topic "$topic" --partitions "$RPO_PARTITIONS" --replication-factor 1 >/dev/null
  # Its own prefix: a continuous backup continues the newest restore point of its location.
  storage_yaml | sed "s#prefix: $PREFIX#prefix: ${PREFIX}rpo/#" >"$case-backup.yaml"
  cat >>"$case-backup.yaml" <<YAML
topics:
  include: ["$topic"]
consumerGroups:
  include: []
backup:
  mode: continuous
  commitInterval: $RPO_INTERVAL
  compression: zstd
  compressionLevel: $ZSTD_LEVEL
YAML
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo warmup >"$case-phase"
  env -i "AWS_ACCESS_KEY_ID=$MINIO_ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$MINIO_SECRET_KEY" \
    "STRIMZI_BACKUP_METRICS_ADDRESS=127.0.0.1:$port" "STRIMZI_BACKUP_MERGE_SEGMENTS=${BENCH_RPO_MERGE:-on}" \
    "$BIN" backup --config "$case-backup.yaml" \
    >"$case-backup.out" 2>"$case-backup.log" &
  rpo_pid=$!
  python3 "$HACK_DIR/bench-rpo.py" sample --pid "$rpo_pid" --metrics "http://127.0.0.1:$port/metrics" \
    --phase-file "$case-phase" --out "$case-samples.jsonl" &
  sampler_pid=$!
  # Stops the backup if the bench fails before the end of this section.
  rpo_stop() { local rc=$?; kill "$rpo_pid" 2>/dev/null || true; return "$rc"; }
  trap 'rpo_stop; cleanup' EXIT
  # Ready once the first restore point (of the empty topic) is committed.
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then break; fi
    kill -0 "$rpo_pid" 2>/dev/null || { tail -n 30 "$case-backup.log" >&2; die "the continuous backup exited"; }
    sleep 0.5
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || die "no restore point committed within 60 s ($case-backup.log)"
  produced=0 producers=()
  for rate in $RPO_RATES; do
    n=$((rate * 1024 * RPO_SECONDS))
    log "producing $rate MiB/s ($((rate * 1024)) records/s of 1 KiB) for $RPO_SECONDS s"
    echo "${rate}MiB/s" >"$case-phase"
    measured "$case-producer-$rate" "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
      --num-records "$n" --record-size 1024 --throughput $((rate * 1024)) \
      --producer-props "bootstrap.servers=$KAFKA_BOOTSTRAP" "${PRODUCER_PROPS[@]}"
    grep -q "^$n records sent" "$case-producer-$rate.out" || die "ProducerPerformance did not send $n records ($case-producer-$rate.out)"
    produced=$((produced + n))
    producers+=("${rate}MiB/s=$case-producer-$rate.out")
  done
  echo drain >"$case-phase"
  # The newest restore point must come to hold everything produced: its end offsets' sum.
  newest_committed() { { grep 'restore point committed' "$case-backup.log" || true; } | grep -o ' backup=[^ ]*' | tail -n1 | cut -d= -f2; }
  ends_of_newest() {
    local id
    id=$(newest_committed)
    [[ -n $id ]] || { echo 0; return; }
    { minio_call GET "/${PREFIX}rpo/backups/$id/manifest.json" || true; } | { grep -o '"endOffset": *[0-9]*' || true; } |
      cut -d: -f2 | tr -d " " | awk '{ s += $1 } END { print s + 0 }'
  }
  log "waiting for a restore point holding all $produced records"
  covered=0
  for _ in $(seq 1 90); do
    covered=$(ends_of_newest)
    ((covered >= produced)) && break
    sleep 1
  done
  ((covered == produced)) || die "the newest restore point holds $covered records, not the $produced produced ($case-backup.log)"
  newest=$(newest_committed)
  sleep 5 # a lag measurement (every 5 s) of the point that holds everything
  kill -TERM "$rpo_pid"
  rc=0
  wait "$rpo_pid" || rc=$?
  wait "$sampler_pid" || true
  trap cleanup EXIT
  ((rc == 0)) || die "the continuous backup exited $rc after SIGTERM ($case-backup.log)"
  { storage_yaml | sed "s#prefix: $PREFIX#prefix: ${PREFIX}rpo/#"; echo "backupId: $newest"; } >"$case-verify.yaml"
  dataplane "$case-verify" verify "$case-verify.yaml"
  grep -q '"problems":\[\]' "$case-verify.out" || die "verify found problems in $newest ($case-verify.out)"
  echo
  echo "continuous backup: RPO under steady produce load; commitInterval $RPO_INTERVAL, $RPO_PARTITIONS partitions," \
    "zstd-$ZSTD_LEVEL, 1 KiB random A-Z values; each rate for $RPO_SECONDS s (ProducerPerformance --throughput)"
  python3 "$HACK_DIR/bench-rpo.py" report --samples "$case-samples.jsonl" --log "$case-backup.log" \
    --producers "${producers[@]}" --interval "$RPO_INTERVAL"
  echo "  the newest restore point $newest holds all $produced records produced; verify: no problems" \
    "($(json_field "$case-verify.out" segments) segments, $(json_field "$case-verify.out" records) records in it)"
  if [[ $KEEP != 1 ]]; then topic_cmd --delete --topic "$topic" >/dev/null 2>&1 || true; fi
fi

# --- the operator: footprint and reconcile latency ---------------------------------------------
# The release operator in a fresh namespace: RSS and CPU idle with no objects (the baseline) and
# with BENCH_OPERATOR_OBJECTS scheduled KafkaBackups, then BENCH_OPERATOR_RUNS run-once backups
# whose Jobs really run: create -> Job exists and Job complete -> status, p50/p99
# (test/src/bin/operator-bench.rs). BENCH_OPERATOR=0 skips it.
if [[ ${BENCH_OPERATOR:-1} == 1 ]]; then
  echo
  ${CARGO:-cargo} build --quiet -p strimzi-backup-e2e --bin operator-bench
  "$ROOT_DIR/target/debug/operator-bench" --operator "$BIN" \
    --objects "${BENCH_OPERATOR_OBJECTS:-1000}" --runs "${BENCH_OPERATOR_RUNS:-40}"
fi

# --- restore points: how fast a location is seen --------------------------------------------------
# BENCH_SYNC_POINTS manifests (default 1000) at a MinIO prefix: the release `sync` cold (every
# manifest read) and incremental (all but 10 known), wall time and peak RSS; then the release
# operator end to end, a KafkaBackupLocation until its status counts every restore point, and
# the next sync with 10 more (test/src/bin/sync-bench.rs). BENCH_SYNC=0 skips it.
if [[ ${BENCH_SYNC:-1} == 1 ]]; then
  echo
  ${CARGO:-cargo} build --quiet -p strimzi-backup-e2e --bin sync-bench
  "$ROOT_DIR/target/debug/sync-bench" --operator "$BIN" --points "${BENCH_SYNC_POINTS:-1000}"
fi

# --- the admission webhooks: latency and throughput over TLS ------------------------------------
# The release operator's webhook server in a fresh namespace beside a trivial axum handler on the
# same TLS stack (the baseline), both loaded by oha (built by hack/tools.sh) over HTTP/2 and
# HTTP/1.1 with a validating and a mutating KafkaBackup CREATE, at BENCH_WEBHOOK_RATE/s and flat
# out: rps, p50/p99/p99.9, errors, CPU, the operator's RSS (test/src/bin/webhook-bench.rs).
# BENCH_WEBHOOK=0 skips it.
if [[ ${BENCH_WEBHOOK:-1} == 1 ]]; then
  echo
  for v in BENCH_WEBHOOK_RATE BENCH_WEBHOOK_SECONDS BENCH_WEBHOOK_CONCURRENCY; do
    [[ ${!v:-1} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
  done
  # In a subshell: sourcing tools.sh would redefine this script's component paths.
  OHA=$(. "$HACK_DIR/tools.sh" && build_oha && echo "$OHA_BIN")
  log "building webhook-bench (release; the first build takes a few minutes)"
  # Release: the baseline server runs inside this binary, and a debug build of rustls and hyper
  # would make the baseline slower than the release operator it is compared with.
  ${CARGO:-cargo} build --quiet --release -p strimzi-backup-e2e --bin webhook-bench
  "$ROOT_DIR/target/release/webhook-bench" --operator "$BIN" --oha "$OHA" \
    --rate "${BENCH_WEBHOOK_RATE:-500}" --rate-seconds "${BENCH_WEBHOOK_SECONDS:-20}" \
    --concurrency "${BENCH_WEBHOOK_CONCURRENCY:-8}"
fi
