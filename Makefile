# gridwatch: two commands matter. `make run` brings up the demo; `make test` runs the suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
GW := $(VENV)/bin/gridwatch
STAMP := $(VENV)/.installed
SCALE ?= county

.PHONY: install system venv db run test lint bench clean-db messages compile

install: system venv

system:
	bash scripts/install-db.sh
	bash scripts/install-browser.sh
	bash scripts/install-tools.sh

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The interface's catalogs (core/i18n.py). `make messages` after changing UI text: it extracts
# the messages and merges them into the zh_CN catalog, whose new entries then need translating.
LOCALES := core/locale
EXTRACT_FROM := core api maps monitoring

messages: venv
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output \
		--project gridwatch -o $(LOCALES)/gridwatch.pot $(EXTRACT_FROM)
	$(VENV)/bin/pybabel update -i $(LOCALES)/gridwatch.pot -d $(LOCALES) -D gridwatch \
		--no-fuzzy-matching --ignore-obsolete

compile: venv
	$(VENV)/bin/pybabel compile -d $(LOCALES) -D gridwatch --statistics

db: install compile
	$(GW) db start
	$(GW) db upgrade

STORM = $${GRIDWATCH_DATA_DIR:-.gridwatch}/demo/$(SCALE)-2026/storm.jsonl

run: db
	$(GW) broker start
	$(GW) demo --scale $(SCALE)
	$(GW) monitor run
	@echo
	@echo "gridwatch: a planner key for this machine (store it; only its hash is kept):"
	@$(GW) keys create --role planner --name "make run"
	@echo "gridwatch: open http://127.0.0.1:$${GRIDWATCH_PORT:-8000}/login, paste the key, and the map opens at /maps/"
	@echo "gridwatch: API example: curl -H 'Authorization: Bearer KEY' http://127.0.0.1:$${GRIDWATCH_PORT:-8000}/api/v1/reports/frequent-outages"
	@echo "gridwatch: in 20 s a short last-gasp storm is replayed over MQTT (10x its pace): watch areas go out and come back"
	@(sleep 20; $(GW) replay $(STORM) --now --speed 10 >/dev/null 2>&1 || echo "gridwatch: the storm replay failed; try: $(GW) replay $(STORM) --now --speed 10") &
	$(GW) serve

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: db
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

bench: db
	$(PY) benchmarks/ingest.py

clean-db:
	-$(GW) db stop
	rm -rf .gridwatch
