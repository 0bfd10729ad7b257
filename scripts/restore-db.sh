#!/usr/bin/env bash
# Restore one WeDraw service database from a dump made by scripts/backup-db.sh.
#
#   scripts/restore-db.sh [-c OPTION_FILE] [-f] DUMP.sql.gz DATABASE
#
#   -c OPTION_FILE  a MySQL option file with [client] host/user/password of an account that
#                   may create and drop DATABASE (default $WEDRAW_BACKUP_MYCNF, else the
#                   client's own defaults)
#   -f              DATABASE already has tables: drop it and restore anyway
#
# Stop the service first (supervisorctl stop wedraw-<service> wedraw-worker-<queue>) so
# nothing writes while the tables are replaced. The dump is checked before anything is
# touched: a truncated or corrupt file is refused.
set -euo pipefail

mycnf="${WEDRAW_BACKUP_MYCNF:-}"
force=0
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "c:fh" opt; do
  case "$opt" in
    c) mycnf="$OPTARG" ;;
    f) force=1 ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage 2
file="$1"
db="$2"
[[ "$db" =~ ^[A-Za-z0-9_]+$ ]] || { echo "restore: odd database name '$db'" >&2; exit 2; }
[ -f "$file" ] || { echo "restore: no such file: $file" >&2; exit 2; }

client="$(command -v mariadb || command -v mysql || true)"
[ -n "$client" ] || { echo "restore: mysql client not found (apt-get install mariadb-client)" >&2; exit 1; }
sql=("$client")
[ -n "$mycnf" ] && sql+=("--defaults-extra-file=$mycnf")
sql+=(--default-character-set=utf8mb4)

# mysqldump ends every complete dump with this line; without it the dump was cut short.
gzip -t "$file" || { echo "restore: $file is not a valid gzip file" >&2; exit 1; }
if ! gzip -dc "$file" | tail -n 3 | grep -q '^-- Dump completed'; then
  echo "restore: $file is incomplete (no '-- Dump completed' trailer); refusing it" >&2
  exit 1
fi

tables="$("${sql[@]}" -N -B -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$db'")"
if [ "$tables" != "0" ]; then
  if [ "$force" != 1 ]; then
    echo "restore: database $db has $tables tables; add -f to drop it and restore" >&2
    exit 1
  fi
  echo "restore: dropping $db ($tables tables)"
  "${sql[@]}" -e "DROP DATABASE \`$db\`"
fi
"${sql[@]}" -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
started=$SECONDS
gzip -dc "$file" | "${sql[@]}" "$db"
restored="$("${sql[@]}" -N -B -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$db'")"
echo "restore: $db <- $file ($restored tables, $((SECONDS - started))s)"
