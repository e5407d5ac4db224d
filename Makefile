# delegate-bench. Every target creates the virtualenv first, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN ?= results/latest

.PHONY: install lock test lint bench bench-tickets bench-quick multihost serve demo docs-charts report check reliability perf calibrate gate-proof capacity fuzz clean

install: $(STAMP)

# requirements.lock pins every package a benchmark runs on; `make lock` refreshes it.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--quiet --output-file requirements.lock

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

bench: install
	$(BIN)/python -m runner bench $(if $(SCENARIOS),--scenarios $(SCENARIOS)) $(if $(VARIANTS),--variants $(VARIANTS)) $(if $(REPEAT),--repeat $(REPEAT)) $(BENCH_ARGS)

# The ticket job's lesson: fan-out against the monolithic designs (issue 10).
bench-tickets: install
	$(BIN)/python -m runner bench --scenarios ticket-designs --variants $(or $(VARIANTS),delegated,saq) $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m runner bench --quick --variants $(or $(VARIANTS),all) $(if $(SCENARIOS),--scenarios $(SCENARIOS)) $(BENCH_ARGS)

# The README's scale-out recipe on five network-namespace hosts (needs root and iproute2).
multihost: install
	$(BIN)/python -m scaleout.multihost $(if $(SCENARIOS),--scenarios $(SCENARIOS))

serve: install
	$(BIN)/python -m runner serve $(SERVE_ARGS)

demo: install
	$(BIN)/python -m demo $(DEMO_ARGS)

# The README's charts: RUN's key charts into docs/charts/, with its git SHA and command.
# DOCS_ARGS=--tickets: the ticket job's charts (from a run of big-orders and hung-ticket).
docs-charts: install
	$(BIN)/python -m demo.docs_charts $(RUN) $(DOCS_ARGS)

report: install
	$(BIN)/python -m analysis report $(RUN)

check: install
	$(BIN)/python -m analysis check $(RUN) $(CHECK_ARGS)

reliability: install
	$(BIN)/python -m fuzzing --json $(RUN)/fuzz.json > /dev/null
	$(BIN)/python -m analysis reliability $(RUN)

fuzz: install
	$(BIN)/python -m fuzzing $(if $(EXAMPLES),--examples $(EXAMPLES)) $(if $(SEED),--seed $(SEED)) $(FUZZ_ARGS)

perf: install
	$(BIN)/python -m benchmarks.perf

calibrate: install
	$(BIN)/python -m benchmarks.calibrate $(CALIBRATE_ARGS)

# Each variant's client and work capacity: ramp, then bisect, below the harness's own limit.
capacity: install
	$(BIN)/python -m runner.capacity $(if $(VARIANTS),--variants $(VARIANTS)) $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(SLO_P99_MS),--slo-p99-ms $(SLO_P99_MS)) $(if $(WORK_SLO_S),--work-slo-s $(WORK_SLO_S)) $(CAPACITY_ARGS)

# Two identical quick benches and a degraded one: the baseline gate must tell them apart.
gate-proof: install
	$(BIN)/python -m benchmarks.gate_proof $(GATE_PROOF_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
