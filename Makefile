# delegate-bench. Every target creates the virtualenv first, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN ?= results/latest

.PHONY: help install lock test lint bench bench-tickets bench-quick multihost serve demo docs-charts report check export trend docs reliability perf calibrate gate-proof capacity fuzz clean

install: $(STAMP) ## create .venv and install the project and its dev tools, pinned by requirements.lock

# requirements.lock pins every package a benchmark runs on; `make lock` refreshes it.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

lock: install ## re-resolve requirements.lock from pyproject.toml (uv)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--quiet --output-file requirements.lock

test: install ## run the whole test suite (about 14 minutes on 2 cores)
	$(BIN)/python -m pytest

lint: install ## ruff (lint and format check) and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

bench: install ## the floor, then every scenario x VARIANTS (default sync,delegated); SCENARIOS=, REPEAT=
	$(BIN)/python -m runner bench $(if $(SCENARIOS),--scenarios $(SCENARIOS)) $(if $(VARIANTS),--variants $(VARIANTS)) $(if $(REPEAT),--repeat $(REPEAT)) $(BENCH_ARGS)

# The ticket job's lesson: fan-out against the monolithic designs (issue 10).
bench-tickets: install ## the ticket job's designs side by side on the queue variants
	$(BIN)/python -m runner bench --scenarios ticket-designs --variants $(or $(VARIANTS),delegated,saq) $(BENCH_ARGS)

bench-quick: install ## the CI run: every variant on its shortened scenarios (docs/bench.md)
	$(BIN)/python -m runner bench --quick --variants $(or $(VARIANTS),all) $(if $(SCENARIOS),--scenarios $(SCENARIOS)) $(BENCH_ARGS)

# The README's scale-out recipe on five network-namespace hosts (needs root and iproute2).
multihost: install ## the scale-out recipe across five network-namespace hosts (root, iproute2)
	$(BIN)/python -m scaleout.multihost $(if $(SCENARIOS),--scenarios $(SCENARIOS))

serve: install ## start the stack (VARIANTS=, default sync,delegated) until Ctrl-C; print each URL
	$(BIN)/python -m runner serve $(if $(VARIANTS),--variants $(VARIANTS)) $(SERVE_ARGS)

demo: install ## the stack under a steady load, a live page with faults and a guided tour (VARIANTS=)
	$(BIN)/python -m demo $(if $(VARIANTS),--variants $(VARIANTS)) $(DEMO_ARGS)

# The README's charts: RUN's key charts into docs/charts/, with its git SHA and command.
# DOCS_ARGS=--tickets: the ticket job's charts (from a run of big-orders and hung-ticket).
docs-charts: install ## copy RUN's key charts into docs/charts/ for the README, with its git SHA and command
	$(BIN)/python -m demo.docs_charts $(RUN) $(DOCS_ARGS)

report: install ## rebuild RUN's summary, report and charts from its raw data (RUN=results/latest)
	$(BIN)/python -m analysis report $(RUN)

check: install ## the regression gate on RUN: thresholds.txt, exit 1 on failure (CHECK_ARGS=)
	$(BIN)/python -m analysis check $(RUN) $(CHECK_ARGS)

export: install ## RUN's key figures for a dashboard (FORMAT=github-smaller|github-bigger|bencher)
	$(BIN)/python -m analysis export $(RUN) $(if $(FORMAT),--format $(FORMAT)) \
		--output $(or $(OUT),$(RUN)/export-$(FORMAT).json)

trend: install ## each key figure across the runs in RESULTS, in commit order, into RESULTS/trend/
	$(BIN)/python -m analysis trend $(or $(RESULTS),results) $(TREND_ARGS)

docs: install ## the documentation site, offline, warnings as errors: build/site/index.html
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

reliability: install ## fuzz every route (counts saved in RUN), then print RUN's reliability table
	$(BIN)/python -m fuzzing --json $(RUN)/fuzz.json > /dev/null
	$(BIN)/python -m analysis reliability $(RUN)

fuzz: install ## a few thousand generated requests to every route of every target and the provider
	$(BIN)/python -m fuzzing $(if $(EXAMPLES),--examples $(EXAMPLES)) $(if $(SEED),--seed $(SEED)) $(FUZZ_ARGS)

perf: install ## the harness's own speed: each queue's login beside /noop and a bare RPUSH, pickup, wrk
	$(BIN)/python -m benchmarks.perf

calibrate: install ## the harness and a paced wrk at the same rate on the same endpoints, side by side
	$(BIN)/python -m benchmarks.calibrate $(CALIBRATE_ARGS)

capacity: install ## each variant's client and work capacity: ramp, then bisect, below the harness's limit
	$(BIN)/python -m runner.capacity $(if $(VARIANTS),--variants $(VARIANTS)) $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(SLO_P99_MS),--slo-p99-ms $(SLO_P99_MS)) $(if $(WORK_SLO_S),--work-slo-s $(WORK_SLO_S)) $(CAPACITY_ARGS)

# Two identical quick benches and a degraded one: the baseline gate must tell them apart.
gate-proof: install ## two identical quick runs and a degraded one: only the degraded one may fail the gate
	$(BIN)/python -m benchmarks.gate_proof $(GATE_PROOF_ARGS)

clean: ## remove .venv and var/ (never results/)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info

# One line per target: the text after `##` on its rule.
help: ## list the targets, a line each
	@awk 'BEGIN { FS = ":[^#]*## " } /^[a-z-]+:.*## / { printf "make %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
