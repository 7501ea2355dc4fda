#!/usr/bin/env bash
# Run a command with DATABASE_URL and REDIS_URL pointing at Postgres/Redis.
#
# Usage: scripts/with-services.sh CMD [ARGS...]
#
# If both variables are already set (CI service containers, a shared dev DB)
# the command runs against those and nothing is started. Otherwise the
# project-local instances are started (idempotent) and only the missing
# variables are filled in from .local/services.env.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "services: usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

if [[ -z ${DATABASE_URL:-} || -z ${REDIS_URL:-} ]]; then
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  "$here/services.sh" start
  lines="$("$here/services.sh" env)"
  while IFS='=' read -r key value; do
    case $key in
      DATABASE_URL | REDIS_URL) [[ -n ${!key:-} ]] || export "$key=$value" ;;
    esac
  done <<<"$lines"
fi

exec "$@"
