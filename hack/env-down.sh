#!/usr/bin/env bash
# Stops exactly the processes hack/env-up.sh started (by their recorded pids), newest first.
# Idempotent. With --purge also removes the environment's data ($ENV_DIR).
. "$(dirname "$0")/lib.sh"

stop() {
  local name=$1 pid
  if ! pid=$(running_pid "$name"); then
    rm -f "$PID_DIR/$name.pid" "$PID_DIR/$name.exe"
    return
  fi
  log "stopping $name (pid $pid)"
  # Each part was started with setsid: signal its whole session (the JVM, minio's children…).
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 15s: killing"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_DIR/$name.pid" "$PID_DIR/$name.exe"
}

# PostgreSQL (the audit log's database) stops through pg_ctl (fast shutdown), not by signal.
"$HACK_DIR/postgres.sh" stop || true
for name in harness controller-manager apiserver openbao moto schema-registry kafka fake-gcs azurite minio etcd; do
  stop "$name"
done
if [[ ${1:-} == --purge ]]; then
  log "removing $ENV_DIR"
  rm -rf "$ENV_DIR"
fi
log "local environment stopped"
