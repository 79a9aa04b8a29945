# Cervi: `make serve` runs the service on the embedded defaults; `make test` runs the whole suite.
# Both set up what they need on a fresh Debian machine (as root): Python venv, pinned packages,
# and for the tests the Debian tools (Orthanc, DCMTK, dicom3tools) and a PostgreSQL server.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
CONFIG ?= config.yaml

DEBIAN_TEST_PACKAGES := orthanc orthanc-dicomweb dcmtk dicom3tools postgresql
DEBIAN_PYTHON        := python3 python3-venv python3-dev

.PHONY: serve test fuzz lint model constraints debian-python debian-test postgres viewer-deps clean

serve: $(VENV)/.runtime
	$(BIN)/cervi db upgrade --config $(CONFIG)
	$(BIN)/cervi serve --config $(CONFIG)

test: $(VENV)/.dev debian-test postgres viewer-deps
	$(BIN)/ruff check --quiet .
	TCP_NODELAY=1 $(BIN)/python -m pytest

# The fuzz tier at length (make test runs it for about a minute): FUZZ_EXAMPLES per test.
FUZZ_EXAMPLES ?= 2000
fuzz: $(VENV)/.dev
	CERVI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TCP_NODELAY=1 $(BIN)/python -m pytest tests/fuzz

lint: $(VENV)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

$(VENV)/.runtime: pyproject.toml constraints.txt | debian-python
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) -e '.[dev,train]'
	touch $@

# Python with venv support; Debian splits venv out of python3.
debian-python:
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PYTHON); }

debian-test:
	@missing=$$(for p in $(DEBIAN_TEST_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The tests need PostgreSQL on 127.0.0.1:5432 with trust authentication for the user postgres
# (CERVI_TEST_POSTGRES_URL overrides); start the local cluster when it does not answer.
postgres: debian-test
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -n 1) main start; \
		for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }
	@pg_isready -h 127.0.0.1 -p 5432

# The viewer tier (tests/viewer): OHIF's prebuilt dist/ and puppeteer-core in a cache outside the
# repository (CERVI_VIEWER_CACHE, default ~/.cache/cervi/ohif), Debian's chromium. Fast when done.
viewer-deps:
	@tests/viewer/setup.sh

# Rebuild the shipped demo models from phantoms (models/README.md has the recipe and metrics).
# The thresholds are Youden's on the validation split, taken through the runtime; the held-out
# set (seed 2) is only evaluated.
MODEL_WORK ?= var/model
MODEL_OUT  ?= models
MODEL_VERSION := 0.4.1
RUN := $(MODEL_WORK)/run
model: $(VENV)/.dev
	$(BIN)/cervi synth --out $(MODEL_WORK)/train-s1 --studies 1600 --seed 1 --workers 2
	$(BIN)/cervi synth --out $(MODEL_WORK)/test-s2 --studies 200 --seed 2 --workers 2
	$(BIN)/cervi train --data $(MODEL_WORK)/train-s1 --out $(RUN) --seed 0 \
		--crop 144 --epochs 60 --patience 20 --threads 2 --stage classifier
	$(BIN)/cervi train --data $(MODEL_WORK)/train-s1 --out $(RUN) --seed 0 \
		--crop 144 --roi-epochs 20 --threads 2 --stage roi
	$(BIN)/cervi export --run $(RUN) --out $(RUN)/models --data-seed 1 --version $(MODEL_VERSION)
	$(BIN)/cervi evaluate --model $(RUN)/models/cervihfenet-demo.onnx \
		--roi-model $(RUN)/models/cervi-roi-demo.onnx --no-ablation \
		--data $(MODEL_WORK)/train-s1 --validation-of 0 --out $(RUN)/validation/metrics.json
	$(BIN)/cervi export --run $(RUN) --out $(RUN)/models --data-seed 1 --version $(MODEL_VERSION) \
		--thresholds-from $(RUN)/validation/metrics.json
	$(BIN)/cervi evaluate --model $(RUN)/models/cervihfenet-demo.onnx \
		--roi-model $(RUN)/models/cervi-roi-demo.onnx \
		--data $(MODEL_WORK)/test-s2 --out $(RUN)/heldout/metrics.json
	$(BIN)/cervi export --run $(RUN) --out $(MODEL_OUT) --data-seed 1 --version $(MODEL_VERSION) \
		--thresholds-from $(RUN)/validation/metrics.json --metrics $(RUN)/heldout/metrics.json

constraints: $(VENV)/.dev
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
