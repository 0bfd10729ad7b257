#!/usr/bin/env bash
# Runs every test tier this machine can run; `make test` calls it after setting things up.
#   1. lint (ruff)
#   2. the embedded profile: the whole suite on SQLite (browser tests need /usr/bin/chromium)
#   3. MariaDB/MySQL + Redis: the API suite again, when WEDRAW_TEST_MYSQL_URL and
#      WEDRAW_TEST_REDIS_URL are set (CI sets them and WEDRAW_REQUIRE_ALL_TIERS=1)
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

exit $status
