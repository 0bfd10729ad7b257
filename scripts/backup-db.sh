#!/usr/bin/env bash
# Dump every WeDraw service database with mysqldump --single-transaction (a consistent
# snapshot of InnoDB tables without locking out the services), gzip it and keep 30 days.
#
#   scripts/backup-db.sh [-o DIR] [-k DAYS] [-c OPTION_FILE] [-b] [DATABASE ...]
#
#   -o DIR          where dumps go: DIR/<database>/<database>-<UTC time>.sql.gz
#                   (default $WEDRAW_BACKUP_DIR or /var/backups/wedraw)
#   -k DAYS         delete this database's dumps older than DAYS days (default 30)
#   -c OPTION_FILE  a MySQL option file with [client] host/user/password (default
#                   $WEDRAW_BACKUP_MYCNF, else the client's own defaults, e.g. root over the socket)
#   -b              record the binary log position in each dump (--master-data=2), the
#                   starting point for a point-in-time recovery from the hourly binlog copies
#   DATABASE ...    what to dump; without it, every service database WeDraw is configured
#                   with (`python -m wedraw.cli db names`, reading $WEDRAW_ENV_FILE)
#
# A dump is written to a .partial file and renamed only when mysqldump succeeded, so a file
# named *.sql.gz is always complete. Exits non-zero if any database failed (cron mails it).
set -uo pipefail
umask 077

here="$(cd "$(dirname "$0")/.." && pwd)"
out="${WEDRAW_BACKUP_DIR:-/var/backups/wedraw}"
keep_days="${WEDRAW_BACKUP_KEEP_DAYS:-30}"
mycnf="${WEDRAW_BACKUP_MYCNF:-}"
binlog_position=0

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "o:k:c:bh" opt; do
  case "$opt" in
    o) out="$OPTARG" ;;
    k) keep_days="$OPTARG" ;;
    c) mycnf="$OPTARG" ;;
    b) binlog_position=1 ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ "$keep_days" =~ ^[0-9]+$ && "$keep_days" -ge 1 ]] || { echo "backup: -k needs a whole number of days" >&2; exit 2; }

dump="$(command -v mariadb-dump || command -v mysqldump || true)"
[ -n "$dump" ] || { echo "backup: mysqldump not found (apt-get install mariadb-client)" >&2; exit 1; }

if [ $# -gt 0 ]; then
  databases=("$@")
else
  python="${WEDRAW_PYTHON:-$here/.venv/bin/python}"
  mapfile -t databases < <(cd "$here" && WEDRAW_ENV_FILE="${WEDRAW_ENV_FILE:-/etc/wedraw/wedraw.env}" \
    WEDRAW_PROFILE="${WEDRAW_PROFILE:-production}" PYTHONDONTWRITEBYTECODE=1 "$python" -m wedraw.cli db names)
  [ ${#databases[@]} -gt 0 ] || { echo "backup: no databases configured" >&2; exit 1; }
fi

options=()
[ -n "$mycnf" ] && options+=("--defaults-extra-file=$mycnf")  # must come first
options+=(--single-transaction --quick --routines --triggers --events --hex-blob --no-tablespaces
  --default-character-set=utf8mb4)
[ "$binlog_position" = 1 ] && options+=(--master-data=2)

status=0
for db in "${databases[@]}"; do
  if ! [[ "$db" =~ ^[A-Za-z0-9_]+$ ]]; then
    echo "backup: refusing odd database name '$db'" >&2; status=1; continue
  fi
  dir="$out/$db"
  mkdir -p "$dir"
  final="$dir/$db-$(date -u +%Y%m%dT%H%M%SZ).sql.gz"
  partial="$final.partial"
  started=$SECONDS
  if "$dump" "${options[@]}" "$db" | gzip -c > "$partial"; then
    mv "$partial" "$final"
    echo "backup: $db -> $final ($(du -h "$final" | cut -f1), $((SECONDS - started))s)"
    # Keep DAYS days: dumps older than that go, and so do leftovers of failed runs.
    find "$dir" -maxdepth 1 -type f -name "$db-*.sql.gz" -mmin +$((keep_days * 1440)) -print -delete \
      | sed 's/^/backup: removed old /'
    find "$dir" -maxdepth 1 -type f -name "$db-*.sql.gz.partial" -mmin +1440 -delete
  else
    rm -f "$partial"
    echo "backup: FAILED to dump $db" >&2
    status=1
  fi
done
exit $status
