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

# The interface's catalogs (core/i18n.py), one per part of the interface, each extracted from
# the sources its babel/<domain>.cfg names. `make messages` after changing UI text: it extracts
# the messages and merges them into the zh_CN catalogs, whose new entries then need translating
# (tests/test_i18n.py fails until they are).
LOCALES := core/locale
DOMAINS := maps pages

messages: venv
	for d in $(DOMAINS); do \
		$(VENV)/bin/pybabel extract -F babel/$$d.cfg -k N_ --no-location --sort-output \
			--project gridwatch -o $(LOCALES)/$$d.pot . && \
		{ test -f $(LOCALES)/zh_CN/LC_MESSAGES/$$d.po || \
		  $(VENV)/bin/pybabel init -i $(LOCALES)/$$d.pot -d $(LOCALES) -D $$d -l zh_CN; } && \
		$(VENV)/bin/pybabel update -i $(LOCALES)/$$d.pot -d $(LOCALES) -D $$d \
			--no-fuzzy-matching --ignore-obsolete || exit 1; \
	done

compile: venv
	for d in $(DOMAINS); do \
		$(VENV)/bin/pybabel compile -d $(LOCALES) -D $$d --statistics || exit 1; \
	done

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
