#!/usr/bin/env bash
# A private PostgreSQL 15 (Debian's postgresql-15) for the audit log (docs/enterprise.md "Audit
# log"): its own cluster under $POSTGRES_DIR on 127.0.0.1:$POSTGRES_PORT, TLS only (a CA and a
# server certificate for 127.0.0.1/localhost made here with openssl), SCRAM passwords, a
# database and owner `audit`, a superuser `postgres` for tests that tamper with rows.
#
#   hack/postgres.sh start   initdb on first use, start, wait until it answers (idempotent)
#   hack/postgres.sh stop    fast shutdown (idempotent)
#   hack/postgres.sh env     the KEY=VALUE lines env-up writes into $ENV_DIR/env
#   hack/postgres.sh url     the audit user's URL
#
# initdb and postgres refuse to run as root (this machine and CI run as root): they run as the
# unprivileged system user $POSTGRES_OS_USER, created when missing. Tests start a second
# instance with POSTGRES_PORT and POSTGRES_DIR set to their own.
. "$(dirname "$0")/lib.sh"

POSTGRES_PORT=${POSTGRES_PORT:-35432}
POSTGRES_DIR=${POSTGRES_DIR:-$ENV_DIR/postgres}
POSTGRES_OS_USER=${POSTGRES_OS_USER:-strimzi-pg}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# Local test passwords (this instance listens on 127.0.0.1 only).
AUDIT_DB_PASSWORD=${AUDIT_DB_PASSWORD:-audit-local-pw}
POSTGRES_SUPERUSER_PASSWORD=${POSTGRES_SUPERUSER_PASSWORD:-postgres-local-pw}
DATA=$POSTGRES_DIR/data
TLS=$POSTGRES_DIR/tls

as_pg() { runuser -u "$POSTGRES_OS_USER" -- "$@"; }

ensure_installed() {
  [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] && return
  log "installing postgresql-15 (Debian package)"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  mkdir -p "$CACHE_DIR"
  run_logged "apt-get update" "$CACHE_DIR/apt.log" "${sudo[@]}" apt-get update
  run_logged "apt-get install postgresql-15" "$CACHE_DIR/apt.log" \
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15
  [[ -x $PG_BIN/initdb ]] || die "postgresql-15 installed but $PG_BIN/initdb is missing; set PG_BIN"
}

ensure_user() {
  id -u "$POSTGRES_OS_USER" >/dev/null 2>&1 && return
  [[ $(id -u) -eq 0 ]] || die "user $POSTGRES_OS_USER is missing and only root can create it (useradd --system $POSTGRES_OS_USER)"
  log "creating system user $POSTGRES_OS_USER (PostgreSQL refuses to run as root)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$POSTGRES_OS_USER"
}

# A CA and a server certificate for 127.0.0.1 and localhost (verify-full checks the name).
tls() {
  [[ -f $TLS/server.crt ]] && return
  mkdir -p "$TLS"
  (
    cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=strimzi-backup audit CA" \
      -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt 2>/dev/null
    rm -f server.csr server.ext ca.srl
    chmod 600 server.key ca.key
  ) || die "creating the PostgreSQL certificates in $TLS failed"
}

init() {
  [[ -f $DATA/PG_VERSION ]] && return
  log "initdb: PostgreSQL cluster in $DATA"
  mkdir -p "$POSTGRES_DIR"
  local pw
  pw=$(mktemp)
  echo "$POSTGRES_SUPERUSER_PASSWORD" >"$pw"
  chown -R "$POSTGRES_OS_USER" "$POSTGRES_DIR" "$pw"
  run_logged "initdb" "$POSTGRES_DIR/initdb.log" as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres \
    --pwfile="$pw" --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
  rm -f "$pw"
  cat >>"$DATA/postgresql.conf" <<CONF
# hack/postgres.sh: local test instance
listen_addresses = '127.0.0.1'
port = $POSTGRES_PORT
unix_socket_directories = '$POSTGRES_DIR'
ssl = on
ssl_cert_file = '$TLS/server.crt'
ssl_key_file = '$TLS/server.key'
ssl_ca_file = '$TLS/ca.crt'
password_encryption = 'scram-sha-256'
max_connections = 50
shared_buffers = 32MB
# A test instance: durability is not what it is for.
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
CONF
  # TLS only over TCP: a client that does not ask for it is refused.
  cat >"$DATA/pg_hba.conf" <<HBA
local     all all                scram-sha-256
hostssl   all all 127.0.0.1/32   scram-sha-256
hostnossl all all 0.0.0.0/0      reject
HBA
  chown "$POSTGRES_OS_USER" "$DATA/postgresql.conf" "$DATA/pg_hba.conf"
}

running() { [[ -f $DATA/postmaster.pid ]] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_super() {
  PGPASSWORD=$POSTGRES_SUPERUSER_PASSWORD as_pg "$PG_BIN/psql" -h "$POSTGRES_DIR" -p "$POSTGRES_PORT" \
    -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

# The `audit` role and database (idempotent).
audit_db() {
  if [[ $(psql_super -c "SELECT 1 FROM pg_roles WHERE rolname = 'audit'") != 1 ]]; then
    psql_super -c "CREATE ROLE audit LOGIN PASSWORD '$AUDIT_DB_PASSWORD'" >/dev/null
  fi
  if [[ $(psql_super -c "SELECT 1 FROM pg_database WHERE datname = 'audit'") != 1 ]]; then
    psql_super -c "CREATE DATABASE audit OWNER audit" >/dev/null
  fi
}

start() {
  ensure_installed
  ensure_user
  tls
  chown -R "$POSTGRES_OS_USER" "$TLS"
  init
  if running; then
    log "postgres already running (port $POSTGRES_PORT)"
  else
    if port_in_use "$POSTGRES_PORT"; then
      die "postgres cannot start: port 127.0.0.1:$POSTGRES_PORT is taken by $(port_owner "$POSTGRES_PORT"). Stop it, or set POSTGRES_PORT to a free port."
    fi
    log "starting postgres on 127.0.0.1:$POSTGRES_PORT"
    local started=$SECONDS
    if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$POSTGRES_DIR/postgres.log" -w -t 60 start >/dev/null; then
      tail -n 25 "$POSTGRES_DIR/postgres.log" >&2
      die "postgres did not start (log: $POSTGRES_DIR/postgres.log)"
    fi
    log "postgres ready in $((SECONDS - started))s"
  fi
  audit_db
}

stop() {
  if ! running; then
    return
  fi
  log "stopping postgres (port $POSTGRES_PORT)"
  as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null || die "postgres did not stop (log: $POSTGRES_DIR/postgres.log)"
}

url() { echo "postgres://audit:$AUDIT_DB_PASSWORD@127.0.0.1:$POSTGRES_PORT/audit?sslmode=verify-full"; }

env_lines() {
  cat <<ENV
AUDIT_DATABASE_URL=$(url)
AUDIT_DATABASE_CA_FILE=$TLS/ca.crt
AUDIT_DATABASE_SUPERUSER_URL=postgres://postgres:$POSTGRES_SUPERUSER_PASSWORD@127.0.0.1:$POSTGRES_PORT/audit?sslmode=verify-full
POSTGRES_BIN=$PG_BIN
POSTGRES_OS_USER=$POSTGRES_OS_USER
ENV
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  url) url ;;
  env) env_lines ;;
  *) die "usage: hack/postgres.sh start|stop|url|env (POSTGRES_PORT=$POSTGRES_PORT, POSTGRES_DIR=$POSTGRES_DIR)" ;;
esac
