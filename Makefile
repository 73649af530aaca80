# One entry point for people and CI.
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLE := millstream/samples/hearing_devices.jsonl

.PHONY: install demo run test lint unit bench bench-service kafka-start kafka-stop clean

install:
	scripts/install.sh

## The main job for now: build everything and replay the bundled hearing-device factory.
demo: install
	$(VENV)/bin/millstream replay $(SAMPLE) --out out/sample-outputs.jsonl \
	  --report availability --report planned --report shortages --report costs --report capacity --report kpis

## The main job: broker, topics, a worker, the sample factory published, its outputs shown live (Ctrl-C stops).
run: install
	$(VENV)/bin/millstream run

lint:
	$(VENV)/bin/ruff check .

## The test command (CI runs exactly this). Integration tests use MILLSTREAM_BOOTSTRAP if set,
## else they start their own broker from the project's jars.
test: install lint
	mkdir -p out
	MILLSTREAM_REQUIRE_COMPILED=1 $(PY) -m pytest -q -p no:cacheprovider

unit: install
	MILLSTREAM_REQUIRE_COMPILED=1 $(PY) -m pytest -q -p no:cacheprovider -m "not integration"

bench: install
	$(PY) -m bench.kernel --kernel both

## The service benchmark (issue 7): arms A-F, latency, memory, restore, sweeps, plots -> bench/RESULTS-service.md.
## Needs a broker at MILLSTREAM_BOOTSTRAP (default 127.0.0.1:9092; make kafka-start). About 3 h on a quiet 2-core
## machine at the issue's size; every size is an option: python -m bench.service --help.
bench-service: install
	$(VENV)/bin/pip install -q -e ".[bench]"
	$(PY) -m bench.service $(BENCH_ARGS)

kafka-start:
	$(VENV)/bin/millstream kafka start

kafka-stop:
	$(VENV)/bin/millstream kafka stop

clean:
	rm -rf build out core/_netting.c core/_ids.c core/*.so *.egg-info
