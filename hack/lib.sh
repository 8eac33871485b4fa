# Shared helpers for hack/ scripts. Source it; do not run it.
# shellcheck shell=bash
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$HACK_DIR/.." && pwd)
# shellcheck source=versions.env
. "$HACK_DIR/versions.env"

# Builds and downloads live outside the clone, keyed by version, so a rerun starts in seconds.
CACHE_DIR=${STRIMZI_BACKUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strimzi-backup}
# Runtime state of the local environment (data dirs, logs, pids, kubeconfig, env file).
ENV_DIR=${STRIMZI_BACKUP_ENV_DIR:-$ROOT_DIR/.local-env}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# Runs a build step with its output in a log file; on failure shows the tail and names the log.
run_logged() {
  local what=$1 logfile=$2; shift 2
  mkdir -p "$(dirname "$logfile")"
  if ! "$@" >"$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2
    die "$what failed (full log: $logfile)"
  fi
}

# The operator's image repository: the release image is $OPERATOR_IMAGE:<version> (hack/version.sh
# --image), the bundle image $OPERATOR_IMAGE-bundle:v<version>.
OPERATOR_IMAGE=quay.io/strimzi-backup/strimzi-backup-operator

# Ports of the local environment (all on 127.0.0.1); override any of them from the environment.
ETCD_PORT=${ETCD_PORT:-32379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-32380}
APISERVER_PORT=${APISERVER_PORT:-36443}
KAFKA_PORT=${KAFKA_PORT:-39092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-39093}
# SASL_SSL with SCRAM-SHA-512, a broker certificate from its own cluster CA: Strimzi's `tls`
# listener with `scram-sha-512` authentication.
KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-39094}
MINIO_PORT=${MINIO_PORT:-39000}
MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT:-39001}
AZURITE_PORT=${AZURITE_PORT:-40000}
FAKE_GCS_PORT=${FAKE_GCS_PORT:-40443}
# The KMS stand-ins: moto's AWS KMS API and OpenBao's transit engine (docs/enterprise.md).
MOTO_PORT=${MOTO_PORT:-40500}
OPENBAO_PORT=${OPENBAO_PORT:-40820}

PID_DIR=$ENV_DIR/pids
LOG_DIR=$ENV_DIR/logs

# The sockets on local port $1 that keep a listener from binding it: listening ones, and open
# connections (a client socket given it as its ephemeral port: Linux hands them out from
# 32768-60999, where most of our ports are, and a listener cannot bind past one even with
# SO_REUSEADDR). Closing ones (TIME-WAIT, FIN-WAIT, what a stopped server leaves) are not listed:
# a listener binds past them. $2: more ss options (-p).
port_sockets() { ss -tanH "${@:2}" state listening state established state syn-sent "sport = :$1" 2>/dev/null; }

# True when 127.0.0.1:$1 cannot be listened on (port_sockets); the connect covers a machine
# without ss.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || port_sockets "$1" | grep -q .; }

# Who holds a port (a listener or a connection's socket), for error messages.
port_owner() {
  local owner
  owner=$(port_sockets "$1" -p |
    sed -nE 's/.*users:\(\("([^"]+)",pid=([0-9]+).*/\1 (pid \2)/p' | head -n1)
  echo "${owner:-another process}"
}

# The pid recorded for a component, if that process is still alive and still runs the program
# that was started (a recycled pid is never mistaken for ours).
running_pid() {
  local f=$PID_DIR/$1.pid pid exe
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  exe=$(cat "$PID_DIR/$1.exe" 2>/dev/null) || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1 | grep -qxF "$exe" || return 1
  echo "$pid"
}
# Service ClusterIPs come from loopback space, so the pod harness can serve them on 127.0.0.0/8
# (its stand-in for kube-proxy) and the API server reaches webhook Services without routing.
SERVICE_CIDR=${SERVICE_CIDR:-127.77.0.0/24}

# Free space the local environment needs on the filesystem of $1, in bytes. MinIO refuses every
# write (HTTP 507 Insufficient Storage) once a write would leave less than 1% of the drive free,
# and the tests need room of their own (Kafka's logs, etcd, the objects they write): 1% + 2 GiB.
disk_space_needed() {
  local total
  total=$(df -PB1 "$1" | awk 'NR == 2 { print $2 }')
  echo $((total / 100 + 2 * 1024 * 1024 * 1024))
}

# Prints why the filesystem of $1 is too full for the local environment; silent (and false)
# when there is room. Without this a full disk shows up minutes later as backups retrying 507s.
disk_space_problem() {
  local dir=$1 free need
  while [[ ! -d $dir ]]; do dir=$(dirname "$dir"); done
  free=$(df -PB1 "$dir" | awk 'NR == 2 { print $4 }')
  need=$(disk_space_needed "$dir")
  ((free < need)) || return 1
  echo "only $((free / 1024 / 1024)) MiB free on the filesystem of $dir; the local environment needs $((need / 1024 / 1024)) MiB (MinIO refuses writes with 507 Insufficient Storage when a write would leave less than 1% of the drive free). Free space there (cargo clean, old clones, ~/.cache/go-build) or point STRIMZI_BACKUP_ENV_DIR at a filesystem with room."
}
