# WeDraw: `make run` starts the platform (embedded profile), `make test` runs every test
# this machine can run. Everything else here is a step of those two or an ops helper.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONSOLE := frontend/admin
CONSOLE_SOURCES := $(shell find $(CONSOLE)/src $(CONSOLE)/public -type f 2>/dev/null) $(CONSOLE)/index.html $(CONSOLE)/vite.config.js
# The H5 apps (Vant) served under /h5/<name>/; each is built the same way as the console.
H5_APPS := $(notdir $(wildcard frontend/*-h5))
H5_DISTS := $(foreach app,$(H5_APPS),frontend/$(app)/dist/index.html)
# What every H5 app shares (imported by relative path): a change rebuilds them all.
H5_COMMON := $(shell find frontend/h5-common -type f 2>/dev/null)

.PHONY: help run test lint format db-upgrade seed admin-password console h5 clean

help:
	@echo "make run             set up and run WeDraw (embedded profile) on http://127.0.0.1:$${WEDRAW_PORT:-8080}"
	@echo "make test            set up and run every test tier this machine can run"
	@echo "make lint | format   ruff check | ruff format"
	@echo "make db-upgrade      upgrade every service database to head"
	@echo "make seed            built-in roles and the admin user (idempotent)"
	@echo "make admin-password  give 'admin' a new random password"
	@echo "make prod-up         run the production layout here (Nginx, Supervisor, gunicorn, MariaDB, Redis)"
	@echo "make prod-down       stop everything prod-up started"
	@echo "make bench           run the benchmarks in bench/ (each prints a table beside its baseline)"
	@echo "make clean           remove var/ (databases, logs, broker) and build output"

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "WeDraw needs Python 3.11 or newer (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(CONSOLE)/node_modules/.installed: $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: WeDraw's console needs Node.js 20+"; exit 1; }
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CONSOLE)/dist/index.html: $(CONSOLE)/node_modules/.installed $(CONSOLE_SOURCES)
	cd $(CONSOLE) && npm run build --silent
	@touch $@

console: $(CONSOLE)/dist/index.html

frontend/%/node_modules/.installed: frontend/%/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: WeDraw's H5 pages need Node.js 20+"; exit 1; }
	cd frontend/$* && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.SECONDEXPANSION:
frontend/%/dist/index.html: frontend/%/node_modules/.installed $$(shell find frontend/$$*/src frontend/$$*/public -type f 2>/dev/null) frontend/%/index.html frontend/%/vite.config.js $(H5_COMMON)
	cd frontend/$* && npm run build --silent
	@touch $@

.PRECIOUS: frontend/%/node_modules/.installed frontend/%/dist/index.html

h5: $(H5_DISTS)

run: $(VENV)/.installed console h5
	$(PY) -m wedraw.cli run

test: $(VENV)/.installed console h5
	bash scripts/test.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

db-upgrade: $(VENV)/.installed
	$(PY) -m wedraw.cli db upgrade

seed: $(VENV)/.installed db-upgrade
	$(PY) -m wedraw.cli seed

admin-password: $(VENV)/.installed
	$(PY) -m wedraw.cli admin-password

clean:
	rm -rf var $(CONSOLE)/dist $(foreach app,$(H5_APPS),frontend/$(app)/dist)

# --- the production layout on this machine (Nginx, Supervisor, gunicorn, Celery, MariaDB, Redis)
.PHONY: prod-up prod-down bench

prod-up: $(VENV)/.installed console h5  ## run the production layout on http://127.0.0.1:$WEDRAW_NGINX_PORT (8000)
	$(PY) -m wedraw.cli deploy up

prod-down:  ## stop everything prod-up started
	@if [ -x $(PY) ]; then $(PY) -m wedraw.cli deploy down; else echo "nothing to stop (no .venv)"; fi

BENCH_MYSQL ?= mysql+pymysql://root@127.0.0.1:3306/
BENCH_REDIS ?= redis://127.0.0.1:6379/14

bench: $(VENV)/.installed console  ## every benchmark, each beside its baseline (bench/README.md); MariaDB + Redis
	$(PY) bench/nginx_overhead.py
	$(PY) bench/official_callbacks.py --mysql $(BENCH_MYSQL) --redis $(BENCH_REDIS)
	$(PY) bench/fan_sync.py --mysql $(BENCH_MYSQL)
	$(PY) bench/campaign.py --mysql $(BENCH_MYSQL)
	$(PY) bench/points_redeem.py
	$(PY) bench/points_reconcile.py
	$(PY) bench/wecom_sync.py --mysql $(BENCH_MYSQL)
	$(PY) bench/analytics_rollup.py --mysql $(BENCH_MYSQL)
	$(PY) bench/analytics_xlsx.py --mysql $(BENCH_MYSQL)
