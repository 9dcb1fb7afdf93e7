# imgpipe: serverless image classification on AWS, runnable end to end on this machine.
#   make demo   set everything up, run the pipeline locally on real photos, print predictions
#   make test   set everything up, run every test and check
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO       ?= cargo
STATE_DIR   := build/local
EVAL_DIR    ?= ../shared/eval/imagenet-dev
DIR         ?= $(EVAL_DIR)
ORT_LIBRARY := build/onnxruntime/x64/libonnxruntime.so.1
# Every shipped model and variant (tools/setup.sh builds them), fp32 first.
MODEL_DIRS  := $(foreach m,efficientnet-lite0 efficientnet-lite1 efficientnet-lite2,build/models/$(m)-fp32 build/models/$(m)-int8)
MIN_TOP1    ?= 0.88
MAX_DROP    ?= 0.015
DEMO_IMAGES := $(wildcard third_party/demo-images/*.png third_party/demo-images/*.jpg)
# The models `make up` deploys, the first the default; the demo classifies one photo with the second too.
UP_MODELS   ?= build/models/efficientnet-lite0-fp32 build/models/efficientnet-lite2-fp32
DEMO_SECOND := efficientnet-lite2
BIN         := target/release

.PHONY: help setup build up down demo test test-arm64 test-rust test-python test-api soak fuzz lint eval accuracy contract tf-check lambdas layers package test-bazel bench cost

help:
	@echo "make demo     - set up, start the local stack, classify the demo photos, stop"
	@echo "make test     - set up, then fmt, clippy, unit/integration/end-to-end tests, accuracy"
	@echo "make up/down  - start/stop the local stack (moto + handlers + API on 127.0.0.1)"
	@echo "make eval DIR=folder-with-labels.tsv - top-1/top-5 of the Rust path, one JSON line per model and variant"
	@echo "make test-arm64 - the arm64 inference path under qemu, CPU topology hidden, vs x86_64 (part of make test)"
	@echo "make tf-check - Terraform parse, reference, consistency and checkov checks"
	@echo "make soak [N=1000] - images through the local stack with faults and crashes; 0 lost/stuck or fail"
	@echo "make fuzz [FUZZ_SECONDS=120] - libFuzzer on the decode path, the DC-scan filter and the SQS message parsers (nightly)"
	@echo "make bench    - Rust vs the Python baseline, cost per 1,000 images (bench/RESULTS.md)"
	@echo "make lambdas / layers - Lambda zips and layers into build/ (ARCH=\"x86_64 arm64\" for both)"
	@echo "make package  - lambdas + layers -> build/artifacts/ and its manifest.json, what Terraform deploys"

setup:
	bash tools/setup.sh

build: setup
	$(CARGO) build --release --workspace --locked

# Starts the stack in the background; the last line printed is the API base URL.
up: build
	@mkdir -p $(STATE_DIR)
	@if [[ -f $(STATE_DIR)/stack.pid ]] && kill -0 "$$(cat $(STATE_DIR)/stack.pid)" 2>/dev/null; then \
	    echo "local stack already running (pid $$(cat $(STATE_DIR)/stack.pid))"; \
	else \
	    rm -f $(STATE_DIR)/api-url; \
	    nohup $(BIN)/imgpipe-local up --state-dir $(STATE_DIR) $(addprefix --model-dir ,$(UP_MODELS)) \
	        >$(STATE_DIR)/stack.log 2>&1 </dev/null & \
	    echo $$! >$(STATE_DIR)/stack.pid; \
	    for _ in $$(seq 1 240); do \
	        [[ -f $(STATE_DIR)/api-url ]] && break; \
	        kill -0 "$$(cat $(STATE_DIR)/stack.pid)" 2>/dev/null || { tail -n 20 $(STATE_DIR)/stack.log >&2; exit 1; }; \
	        sleep 0.25; \
	    done; \
	    [[ -f $(STATE_DIR)/api-url ]] || { echo "local stack did not start; see $(STATE_DIR)/stack.log" >&2; exit 1; }; \
	    echo "local stack running (pid $$(cat $(STATE_DIR)/stack.pid)); logs in $(STATE_DIR)/stack.log"; \
	fi
	@cat $(STATE_DIR)/api-url

# Stops the stack by the PIDs it recorded (never by process name).
down:
	@for f in stack.pid moto.pid; do \
	    if [[ -f $(STATE_DIR)/$$f ]]; then \
	        pid=$$(cat $(STATE_DIR)/$$f); \
	        if kill -0 "$$pid" 2>/dev/null; then \
	            kill -TERM "$$pid"; \
	            for _ in $$(seq 1 40); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.25; done; \
	            kill -0 "$$pid" 2>/dev/null && kill -KILL "$$pid" || true; \
	        fi; \
	        rm -f $(STATE_DIR)/$$f; \
	    fi; \
	done
	@rm -f $(STATE_DIR)/api-url
	@echo "local stack stopped"

demo: up
	@status=0; \
	api="$$(cat $(STATE_DIR)/api-url)"; \
	$(BIN)/imgpipe --api "$$api" models || status=$$?; \
	$(BIN)/imgpipe --api "$$api" submit --wait $(DEMO_IMAGES) || status=$$?; \
	echo "the same photo by $(DEMO_SECOND):"; \
	$(BIN)/imgpipe --api "$$api" submit --wait --model $(DEMO_SECOND) third_party/demo-images/coffee.png || status=$$?; \
	$(MAKE) --no-print-directory down; \
	exit $$status

# A deployment checked end to end by `imgpipe smoke` (demo photos classified as expected, a request without
# credentials refused, an unknown id a 404 in the error shape): `make smoke API=https://... [AUTH=iam|jwt]
# [TOKEN=...]`. Without API: a local stack of its own behind a JWT token (so the unauthenticated check runs),
# stopped afterwards whatever the verdict.
SMOKE_STATE_DIR := build/local-smoke
SMOKE_TOKEN     := local-smoke-token
.PHONY: smoke
smoke: $(if $(API),,build)
	@if [[ -n "$(API)" ]]; then \
	    $(CARGO) build --release --locked -q -p imgpipe-cli; \
	    $(if $(AUTH),IMGPIPE_AUTH="$(AUTH)") $(if $(TOKEN),IMGPIPE_TOKEN="$(TOKEN)") $(BIN)/imgpipe --api "$(API)" smoke; \
	else \
	    mkdir -p $(SMOKE_STATE_DIR); rm -f $(SMOKE_STATE_DIR)/api-url; \
	    trap '$(MAKE) --no-print-directory down STATE_DIR=$(SMOKE_STATE_DIR) >/dev/null' EXIT; \
	    nohup $(BIN)/imgpipe-local up --state-dir $(SMOKE_STATE_DIR) --jwt-token $(SMOKE_TOKEN)=smoke \
	        >$(SMOKE_STATE_DIR)/stack.log 2>&1 </dev/null & \
	    echo $$! >$(SMOKE_STATE_DIR)/stack.pid; \
	    for _ in $$(seq 1 240); do \
	        [[ -f $(SMOKE_STATE_DIR)/api-url ]] && break; \
	        kill -0 "$$(cat $(SMOKE_STATE_DIR)/stack.pid)" 2>/dev/null || { tail -n 20 $(SMOKE_STATE_DIR)/stack.log >&2; exit 1; }; \
	        sleep 0.25; \
	    done; \
	    [[ -f $(SMOKE_STATE_DIR)/api-url ]] || { echo "local stack did not start; see $(SMOKE_STATE_DIR)/stack.log" >&2; exit 1; }; \
	    $(BIN)/imgpipe --api "$$(cat $(SMOKE_STATE_DIR)/api-url)" --token $(SMOKE_TOKEN) smoke; \
	fi

eval: build
	@if [[ ! -f "$(DIR)/labels.tsv" ]]; then \
	    echo "evaluation folder $(DIR) is absent (no labels.tsv): accuracy NOT measured" >&2; exit 2; fi
	$(BIN)/imgpipe-eval $(addprefix --model-dir ,$(MODEL_DIRS)) --ort-library $(ORT_LIBRARY) --dir "$(DIR)"

# The accuracy gate of `make test`: fails below MIN_TOP1; says so loudly when the dev set is absent.
# The gate: each fp32 model's Rust top-1 at most MAX_DROP below the Python cross-check's (Pillow +
# onnxruntime, tools/model/check_accuracy.py) on the same photos, and every variant at least MIN_TOP1.
accuracy: build
	@if [[ ! -f "$(EVAL_DIR)/labels.tsv" ]]; then \
	    echo "SKIPPED accuracy check: $(EVAL_DIR) is absent on this machine (it ships with the project's shared/ folder)"; \
	else \
	    mkdir -p build/accuracy; \
	    $(BIN)/imgpipe-eval $(addprefix --model-dir ,$(MODEL_DIRS)) --ort-library $(ORT_LIBRARY) --dir "$(EVAL_DIR)" \
	        >build/accuracy/rust.jsonl; \
	    .venv/model/bin/python tools/model/check_accuracy.py $(addprefix --model-dir ,$(MODEL_DIRS)) \
	        --eval-dir "$(EVAL_DIR)" >build/accuracy/python.jsonl 2>build/accuracy/python.log; \
	    python3 tools/eval/gate.py build/accuracy/rust.jsonl build/accuracy/python.jsonl \
	        --max-drop $(MAX_DROP) --min-top1 $(MIN_TOP1); \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets --locked -- -D warnings

test-rust: build
	IMGPIPE_REPO_ROOT=$(CURDIR) $(CARGO) test --release --workspace --locked

test-python: setup
	.venv/model/bin/python -m pytest -q -p no:cacheprovider tools/model tools/hostile tools/eval tools/checks/arm64 bench

# The HTTP API against services/api/openapi.json on a fresh local stack: every route and error validated
# against the document (pytest), then schemathesis (tools/checks/api).
test-api: build
	bash tools/checks/api/run.sh

# Load with faults: N images (default 1000) through a local stack whose handlers' AWS calls fail at
# FAULT_RATE and whose workers die mid-batch at CRASH_RATE; the last line is the JSON verdict, and the
# target fails unless nothing was lost, stuck, duplicated or mismatched. Report in build/soak.json.
# LAST_CRASH_RATE kills the worker whose batch holds a message's last allowed delivery (what only the
# sweeper recovers from); SWEEPER=off shows what happens without it; THROUGH=ingest writes the images
# under ingest/ (bulk ingest: found by prefix listing, each result file checked) instead of the API.
# DEADLINE (seconds after the last submission; default the larger of 600 and N) bounds the wait.
N               ?= 1000
FAULT_RATE      ?= 0.05
CRASH_RATE      ?= 0.02
LAST_CRASH_RATE ?= 0
SWEEPER         ?= on
THROUGH         ?= api
SEED            ?= 20261127
DEADLINE        ?=
soak: build
	$(BIN)/imgpipe-local soak --images $(N) --fault-rate $(FAULT_RATE) --crash-rate $(CRASH_RATE) \
	    --last-crash-rate $(LAST_CRASH_RATE) --seed $(SEED) $(if $(filter off,$(SWEEPER)),--no-sweeper) \
	    $(if $(filter ingest,$(THROUGH)),--ingest) $(if $(DEADLINE),--deadline $(DEADLINE)) --report build/soak.json

# Fuzzing (not in make test: nightly toolchain, minutes of CPU): each target FUZZ_SECONDS (default 120)
# from the kept corpus in tools/fuzz/corpus; crashes go to tools/fuzz/artifacts and fail the run.
FUZZ_SECONDS ?= 120
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tools/fuzz/run.sh

# services/contract.json from the Rust code (functions, env vars, IAM grants, prefixes, metrics): what the
# Terraform tests hold the modules to. A test of imgpipe-contract fails while the checked-in file is stale.
contract:
	$(CARGO) run --release --locked -q -p imgpipe-contract > services/contract.json.tmp
	mv services/contract.json.tmp services/contract.json

# Terraform: parse, reference check, code/HCL consistency tests, checkov (no terraform binary here).
tf-check:
	bash tools/checks/tf-check.sh

# Benchmarks, not tests: Rust vs the Python baseline -> bench/results.json, bench/RESULTS.md (docs/performance.md).
# BENCH_QUICK=1: ~1-minute smoke run; BENCH_ROUNDS=N: rounds per figure (default 3). Run on an idle machine.
BENCH_QUICK  ?=
BENCH_ROUNDS ?=
bench: build
	BENCH_QUICK="$(BENCH_QUICK)" BENCH_ROUNDS="$(BENCH_ROUNDS)" python3 bench/run.py

# Dollars per 1,000 images on AWS from the last bench/results.json.
cost:
	@python3 bench/cost.py

# The Lambda zips (cargo-lambda + zig, glibc 2.34; every function crate, each built alone) and the layers
# (ONNX Runtime per architecture, one per model and variant of build/models), then build/artifacts/: the
# one layout Terraform deploys from, the same as `bazel run //:artifacts` writes (tools/lambda/README.md).
# ARCH="x86_64 arm64" for both architectures.
ARCH ?= x86_64
lambdas:
	ARCH="$(ARCH)" bash tools/lambda/build-lambdas.sh

layers: setup
	ARCH="$(ARCH)" bash tools/lambda/build-layers.sh

package: lambdas layers
	python3 tools/lambda/package.py --from-build $(addprefix --arch ,$(ARCH))

# Bazel files: buildifier, BUILD/MODULE/WORKSPACE consistency with Cargo, the packaging tests, and the
# artifacts' zips (executable bootstrap, GLIBC <= 2.34, layer layouts, manifest).
test-bazel: package
	LAMBDA_ZIPS=require bash tools/checks/bazel/check.sh

# The arm64 inference path under qemu-aarch64 with the CPU topology hidden, against x86_64's top-5.
test-arm64: setup
	bash tools/checks/arm64/run.sh

test: setup lint test-rust test-arm64 test-python test-api smoke accuracy tf-check test-bazel
	@echo "make test: all checks passed"
