# make run: install into .venv, create/migrate the database, serve on 127.0.0.1:$STUDIO_PORT (8501):
#   pages, /api/v1 and the supervisor of background work, in one process (python -m studio serve).
# make test: the same set-up plus Debian's chromium for the browser tests, then the whole suite (pytest-xdist).
# make bench: every benchmark (LLaMA-Factory 0.9.5 installed first, for the trainer's baseline); each ends with one
#   JSON line {"bench", "ratio", "target", "better", ...}.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT := $(or $(STUDIO_PORT),8501)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test bench browser clean locales catalogs

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first and pinned: its CPU build installs from local disk; an unpinned torch pulls CUDA
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

# the gettext catalogs (locales/*/LC_MESSAGES/studio.po) compiled to .mo; `make catalogs` also re-extracts
locales: $(VENV)/.installed
	$(PY) -m studio.core.catalogs compile

catalogs: $(VENV)/.installed
	$(PY) -m studio.core.catalogs update

install: $(VENV)/.installed locales

run: install
	$(PY) -m studio init
	$(PY) -m studio serve --host 127.0.0.1 --port $(PORT)

browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list 2>/dev/null | grep -qi 'noto.*cjk'; then \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver fonts-noto-cjk; \
	fi

# on every core (at most 4 workers), a module to a worker at a time (module fixtures are built once)
test: install browser
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadscope

# LLaMA-Factory 0.9.5, the trainer benchmark's baseline, in its own git-ignored venv (bench_out/lf-venv)
bench: install
	@bash benchmarks/lf_env.sh
	@set -e; for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f; done

clean:
	rm -rf $(VENV) .pytest_cache
