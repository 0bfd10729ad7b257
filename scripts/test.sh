#!/usr/bin/env bash
# Runs every test tier this machine can run; `make test` calls it after setting things up.
#   1. lint (ruff)
#   2. the embedded profile: the whole suite on SQLite (browser tests need /usr/bin/chromium)
#   3. MariaDB/MySQL + Redis: the API suite again, when WEDRAW_TEST_MYSQL_URL and
#      WEDRAW_TEST_REDIS_URL are set (CI sets them and WEDRAW_REQUIRE_ALL_TIERS=1)
#   4. end to end (tests/e2e): the production layout (Nginx, Supervisor, gunicorn, Celery,
#      MariaDB, Redis) brought up as `make prod-up` does, when the same two are set and Nginx
#      is installed or installable (root with apt-get)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
status=0

echo "== lint: ruff"
.venv/bin/ruff check . && .venv/bin/ruff format --check . || status=1

echo "== tier 1: embedded profile (SQLite, SQLite broker and shared store)"
WEDRAW_TEST_BACKEND=embedded $PY -m pytest tests -p no:cacheprovider "$@" || status=1

if [[ -n "${WEDRAW_TEST_MYSQL_URL:-}" && -n "${WEDRAW_TEST_REDIS_URL:-}" ]]; then
  echo "== tier 2: MariaDB/MySQL + Redis ($WEDRAW_TEST_MYSQL_URL, $WEDRAW_TEST_REDIS_URL)"
  WEDRAW_TEST_BACKEND=mysql $PY -m pytest tests -p no:cacheprovider -m "not browser" \
    --ignore=tests/sandbox --ignore=tests/wechat "$@" || status=1
else
  msg="tier 2 (MariaDB/MySQL + Redis) skipped: set WEDRAW_TEST_MYSQL_URL and WEDRAW_TEST_REDIS_URL to run it"
  if [[ "${WEDRAW_REQUIRE_ALL_TIERS:-0}" == "1" ]]; then echo "FAIL: $msg"; status=1; else echo "$msg"; fi
fi

e2e_skip=""
if [[ -z "${WEDRAW_TEST_MYSQL_URL:-}" || -z "${WEDRAW_TEST_REDIS_URL:-}" ]]; then
  e2e_skip="set WEDRAW_TEST_MYSQL_URL and WEDRAW_TEST_REDIS_URL to run it"
elif ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && { [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; }; then
  e2e_skip="Nginx is not installed (apt-get install nginx) and cannot be installed by this user"
fi
if [[ -z "$e2e_skip" ]]; then
  echo "== tier 3: end to end on the production layout (Nginx, Supervisor, gunicorn, Celery, MariaDB, Redis)"
  WEDRAW_TEST_E2E=1 $PY -m pytest tests/e2e -p no:cacheprovider -m e2e "$@" || status=1
else
  msg="tier 3 (end to end on the production layout) skipped: $e2e_skip"
  if [[ "${WEDRAW_REQUIRE_ALL_TIERS:-0}" == "1" ]]; then echo "FAIL: $msg"; status=1; else echo "$msg"; fi
fi

exit $status
