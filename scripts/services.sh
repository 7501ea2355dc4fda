#!/usr/bin/env bash
# Project-local Postgres + Redis for development, tests and CI.
#
# Usage: scripts/services.sh start|stop|status|env|reset [pg|redis]
#
# With pg or redis, start/stop act on that service only (fault tests stop
# and start one while the other keeps running).
#
# Everything lives under $ROOT/.local/ (git-ignored) so several checkouts can
# coexist on one machine and nothing system-wide (clusters, systemd units,
# ports 5432/6379) is ever touched. Ports are picked once and remembered in
# .local/services.env, which callers consume via `services.sh env`.
#
# Env knobs: SERVICES_DIR (default $ROOT/.local; tests point it at a
# throwaway directory to get instances of their own), SERVICES_FAST=1 (fsync/synchronous_commit/full_page_writes off,
# for CI), SERVICES_TIMEOUT (seconds to wait for readiness, default 30).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${SERVICES_DIR:-$ROOT/.local}"
PG_DIR="$LOCAL/pg"
PG_DATA="$PG_DIR/data"
PG_SOCK="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"
REDIS_DIR="$LOCAL/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
ENV_FILE="$LOCAL/services.env"
TIMEOUT="${SERVICES_TIMEOUT:-30}"
APT_UPDATED=""
PG_BIN=""
DB_USER=""
PG_PORT=""
REDIS_PORT=""

log() { echo "services: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Install Debian packages on demand (fresh CI boxes); `apt-get update` once.
apt_install() {
  [[ $EUID -eq 0 ]] || die "missing $*; install it (apt-get install $*) and retry"
  if [[ -z $APT_UPDATED ]]; then
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Server binaries are not on PATH on Debian; prefer the highest installed major.
find_pg_bin() {
  local d
  PG_BIN=""
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
    [[ -x $d/initdb ]] && PG_BIN="$d"
  done
  if [[ -z $PG_BIN ]] && command -v pg_config >/dev/null; then
    d="$(pg_config --bindir)"
    [[ -x $d/initdb ]] && PG_BIN="$d"
  fi
  [[ -n $PG_BIN ]]
}

ensure_deps() {
  find_pg_bin || { apt_install postgresql; find_pg_bin || die "no postgres binaries after install"; }
  command -v redis-server >/dev/null || apt_install redis-server
}

# Postgres refuses to run as root, so as root we use an unprivileged account.
ensure_db_user() {
  if [[ $EUID -ne 0 ]]; then DB_USER="$(id -un)"; return; fi
  if id postgres >/dev/null 2>&1; then DB_USER=postgres; return; fi
  DB_USER=telemetry-db
  id "$DB_USER" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$DB_USER"
}

# cd / first: the db user usually cannot read the caller's cwd (e.g. /root)
# and postgres tools complain loudly about that.
as_db() {
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u "$DB_USER" -- "$@"); else (cd / && "$@"); fi
}

# True if PID is alive and is really NAME (guards against pid reuse after a
# reboot/container restart leaving stale pid files behind).
pid_is() {
  local name="$1" pidfile="$2" pid
  [[ -r $pidfile ]] || return 1
  pid="$(head -n1 "$pidfile" 2>/dev/null)" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name"* ]]
}

pg_alive() { pid_is postgres "$PG_DATA/postmaster.pid"; }
redis_alive() { pid_is redis-server "$REDIS_PID"; }
pg_ready() { [[ -n $PG_PORT ]] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U telemetry -t 2; }
redis_ready() { [[ -n $REDIS_PORT ]] && [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

# node is a hard dependency of this project anyway, so use it to probe ports.
port_free() {
  node -e "require('net').createServer().once('error',()=>process.exit(1)).listen(+process.argv[1],'127.0.0.1',function(){this.close()})" "$1" 2>/dev/null
}
free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

load_ports() {
  [[ -r $ENV_FILE ]] || return 0
  PG_PORT="$(sed -n 's|^DATABASE_URL=.*:\([0-9]*\)/.*|\1|p' "$ENV_FILE")"
  REDIS_PORT="$(sed -n 's|^REDIS_URL=.*:\([0-9]*\)$|\1|p' "$ENV_FILE")"
}

# Keep running instances' ports; reuse remembered ports if free; else pick new.
choose_ports() {
  load_ports
  if pg_alive; then
    PG_PORT="$(sed -n 4p "$PG_DATA/postmaster.pid")"
  elif [[ -z $PG_PORT ]] || ! port_free "$PG_PORT"; then
    PG_PORT="$(free_port)"
  fi
  if ! redis_alive && { [[ -z $REDIS_PORT || $REDIS_PORT == "$PG_PORT" ]] || ! port_free "$REDIS_PORT"; }; then
    REDIS_PORT="$(free_port)"
    while [[ $REDIS_PORT == "$PG_PORT" ]]; do REDIS_PORT="$(free_port)"; done
  fi
  printf 'DATABASE_URL=postgres://telemetry@127.0.0.1:%s/telemetry\nREDIS_URL=redis://127.0.0.1:%s\n' \
    "$PG_PORT" "$REDIS_PORT" >"$ENV_FILE"
}

pg_init() {
  local extra=()
  [[ -f $PG_DATA/PG_VERSION ]] && return 0
  [[ ${SERVICES_FAST:-} == 1 ]] && extra+=(--no-sync)
  log "initialising postgres cluster in $PG_DATA"
  mkdir -p "$PG_SOCK"
  chown -R "$DB_USER:" "$PG_DIR"
  chmod 700 "$PG_DIR"
  as_db test -w "$PG_DIR" ||
    die "user $DB_USER cannot reach $PG_DIR; make the parent directories of $ROOT traversable (chmod o+x)"
  as_db "$PG_BIN/initdb" -D "$PG_DATA" -U telemetry --auth=trust -E UTF8 --locale=C \
    "${extra[@]}" >"$PG_DIR/initdb.log" 2>&1 ||
    { tail -n 20 "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  # Settings live in an included file so port/FAST changes apply on each start.
  echo "include_if_exists = 'services.conf'" >>"$PG_DATA/postgresql.conf"
}

pg_start() {
  local conf="$PG_DATA/services.conf"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$PG_SOCK'"
    echo "max_connections = 200"
    if [[ ${SERVICES_FAST:-} == 1 ]]; then
      printf '%s\n' "fsync = off" "synchronous_commit = off" "full_page_writes = off"
    fi
  } >"$conf"
  chown "$DB_USER:" "$conf"
  log "starting postgres on 127.0.0.1:$PG_PORT"
  # -w makes pg_ctl notice at once if the postmaster dies (bad config, port).
  as_db "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" start >/dev/null ||
    { tail -n 20 "$PG_LOG" >&2 || true; die "pg_ctl start failed"; }
}

redis_start() {
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
    --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --save '' --appendonly no >/dev/null
}

# Bounded wait for both services; show the relevant log on failure.
wait_ready() {
  local only="${1:-}" deadline=$((SECONDS + TIMEOUT))
  until { [[ $only == redis ]] || pg_ready; } && { [[ $only == pg ]] || redis_ready; }; do
    if ((SECONDS >= deadline)); then
      [[ $only == redis ]] || pg_ready || { tail -n 20 "$PG_LOG" >&2 || true; die "postgres not ready on port $PG_PORT after ${TIMEOUT}s (log: $PG_LOG)"; }
      tail -n 20 "$REDIS_LOG" >&2 || true
      die "redis not ready on port $REDIS_PORT after ${TIMEOUT}s (log: $REDIS_LOG)"
    fi
    sleep 0.2
  done
}

ensure_database() {
  local psql=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U telemetry -d postgres -tA)
  [[ "$("${psql[@]}" -c "select 1 from pg_database where datname = 'telemetry'")" == 1 ]] ||
    "${psql[@]}" -c 'create database telemetry owner telemetry' >/dev/null
}

cmd_start() {
  local only="${1:-}"
  ensure_deps
  ensure_db_user
  mkdir -p "$LOCAL" "$REDIS_DIR"
  choose_ports
  pg_init
  if [[ $only != redis ]]; then
    if pg_alive; then log "postgres already running on 127.0.0.1:$PG_PORT"; else pg_start; fi
  fi
  if [[ $only != pg ]]; then
    if redis_alive; then log "redis already running on 127.0.0.1:$REDIS_PORT"; else redis_start; fi
  fi
  wait_ready "$only"
  [[ $only == redis ]] || ensure_database
  log "ready (scripts/services.sh env prints the URLs)"
}

# Wait (bounded) for a pid to exit so `stop && start` never races.
wait_gone() {
  local i
  for ((i = 0; i < TIMEOUT * 5; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  die "process $1 did not exit"
}

cmd_stop() {
  local only="${1:-}" pid
  if [[ $only != redis ]] && pg_alive; then
    find_pg_bin || die "postgres binaries not found"
    ensure_db_user
    as_db "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    log "postgres stopped"
  fi
  if [[ $only != pg ]] && redis_alive; then
    pid="$(head -n1 "$REDIS_PID")"
    kill "$pid" # SIGTERM = clean shutdown; with save '' nothing is written
    wait_gone "$pid"
    log "redis stopped"
  fi
}

# Exit status 0 only when both answer, so scripts can `status || start`.
cmd_status() {
  local rc=0
  find_pg_bin || true
  load_ports
  if pg_alive && [[ -n $PG_BIN ]] && pg_ready; then echo "postgres: running  postgres://telemetry@127.0.0.1:$PG_PORT/telemetry"; else echo "postgres: stopped"; rc=3; fi
  if redis_alive && redis_ready; then echo "redis:    running  redis://127.0.0.1:$REDIS_PORT"; else echo "redis:    stopped"; rc=3; fi
  return "$rc"
}

cmd_env() {
  [[ -r $ENV_FILE ]] || die "$ENV_FILE missing; run scripts/services.sh start first"
  cat "$ENV_FILE"
}

cmd_reset() {
  cmd_stop
  rm -rf "$PG_DIR" "$REDIS_DIR"
  log "removed $PG_DIR and $REDIS_DIR"
}

case "${1:-}:${2:-}" in
  start: | stop: | status: | env: | reset: | start:pg | start:redis | stop:pg | stop:redis) "cmd_$1" "${2:-}" ;;
  *) echo "services: usage: $0 start|stop|status|env|reset, or start|stop pg|redis" >&2; exit 2 ;;
esac
