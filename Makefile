# Flagstream: `make help` lists every target.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
# The privacy gate's native detectors (Rust, built with maturin from crates.io and PyPI; needs cargo).
NATIVE := services/privacy_gate/native
NATIVE_STAMP := .venv/.native-installed
NATIVE_SOURCES := $(NATIVE)/Cargo.toml $(NATIVE)/Cargo.lock $(NATIVE)/pyproject.toml $(NATIVE)/flagstream_pii.pyi $(shell find $(NATIVE)/src -name "*.rs")
export PATH := $(HOME)/.cargo/bin:$(PATH)
COUNT ?= 0
# Who labels in `make run`: kafka (simulated reviewers read the queues) or label-studio.
LABELING ?= kafka
PYTEST_ARGS ?=
# The fast fault subset (about 4 minutes on its own broker; `make test` runs the whole suite): see docs/reliability.md.
RELIABILITY_FAST := poison_inputs or sigkill_each_service or replayed_resolution

.DEFAULT_GOAL := help

help: ## List every target
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

setup: $(VENV_STAMP) $(NATIVE_STAMP) ## Create .venv/, install Flagstream with its dev tools, build its native detectors

$(VENV_STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(VENV_STAMP)

$(NATIVE_STAMP): $(VENV_STAMP) $(NATIVE_SOURCES)
	@command -v cargo >/dev/null || { echo "setup: cargo (Rust) is needed to build $(NATIVE)" >&2; exit 1; }
	@# The `parity` feature adds the scanners' test hook (`_scan`); the container's product wheel has none.
	MATURIN_PEP517_ARGS="--features parity" $(PY) -m pip install -q ./$(NATIVE)
	touch $(NATIVE_STAMP)

native-tables: $(VENV_STAMP) ## Regenerate the native detectors' str tables (src/pytables.rs) from the venv Python's Unicode version (~10 s; make setup then rebuilds)
	$(PY) $(NATIVE)/gen_tables.py

kafka-up: ## Start the local Kafka broker (skipped when KAFKA_BOOTSTRAP_SERVERS is set)
	scripts/kafka.sh up

kafka-down: ## Stop the local Kafka broker started by kafka-up
	scripts/kafka.sh down

kafka-status: ## Say whether the local broker runs
	scripts/kafka.sh status

cluster-up: ## Start a local three-node Kafka cluster (KRaft; clients 127.0.0.1:21092-21094, RF 3, min ISR 2)
	scripts/kafka_cluster.sh up

cluster-down: ## Stop the local cluster started by cluster-up
	scripts/kafka_cluster.sh down

cluster-status: ## Say which nodes of the local cluster run
	scripts/kafka_cluster.sh status

registry-up: ## Start the local schema registry (Apicurio, Confluent-compatible API on 127.0.0.1:8081)
	scripts/registry.sh up

registry-down: ## Stop the local schema registry started by registry-up
	scripts/registry.sh down

registry-status: ## Say whether the local schema registry runs
	scripts/registry.sh status

s3-up: ## Start the local S3-compatible store (S3Proxy from Maven Central, 127.0.0.1:38333, data in var/s3/); `eval "$$(scripts/s3.sh env)"` points the datasets at it
	scripts/s3.sh up

s3-down: ## Stop the local S3-compatible store started by s3-up
	scripts/s3.sh down

s3-status: ## Say whether the local S3-compatible store runs
	scripts/s3.sh status

k8s-topics: setup ## Regenerate deploy/k8s/base/kafka/topics.yaml from the topic registry
	env -u FLAGSTREAM_TOPIC_PREFIX -u FLAGSTREAM_MAX_RECORD_BYTES .venv/bin/flagstream topics manifest --partitions 12 --replicas 3 > deploy/k8s/base/kafka/topics.yaml

k8s-check: setup ## Render both deploy/k8s overlays (kustomize from the Go module proxy, into var/tools) and validate their core kinds
	@test -x var/tools/kustomize || GOBIN=$(CURDIR)/var/tools go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
	mkdir -p var/k8s
	for overlay in local production; do var/tools/kustomize build deploy/k8s/overlays/$$overlay > var/k8s/$$overlay.yaml; done
	.venv/bin/kubernetes-validate --strict --no-warn -k 1.32.0 var/k8s/local.yaml var/k8s/production.yaml
	.venv/bin/python -m pytest tests/unit/deploy -q

labeling-up: ## Start the local Label Studio (own venv under var/label-studio; skipped when LABEL_STUDIO_URL is set)
	scripts/label_studio.sh up

labeling-down: ## Stop the local Label Studio started by labeling-up
	scripts/label_studio.sh down

labeling-status: ## Say whether the local Label Studio runs
	scripts/label_studio.sh status

topics: setup kafka-up ## Create every topic of the registry (idempotent)
	.venv/bin/flagstream topics create

run: setup kafka-up ## Start everything with demo traffic and show what lands (COUNT=N stops after N events; LABELING=label-studio)
	$(if $(filter label-studio,$(LABELING)),scripts/label_studio.sh up)
	.venv/bin/flagstream run --count $(COUNT) --labeling $(LABELING)

test: setup ops-setup test-alerts ## Alert rules (promtool), unit, contract, integration tests, then the fault-injection suite (starts the brokers they need)
	scripts/label_studio.sh install  # its own venv; the Label Studio tests start and stop the server
	@# The cluster faults (own three-node cluster, own ports and folders) run beside the other suites,
	@# which mostly wait on brokers and servers; their output is printed when both are done.
	@# When that pytest dies of a signal, pytest's faulthandler has written every thread's Python stack
	@# to its log (none for a fault in a thread of librdkafka's own: those block signals); printed below.
	@mkdir -p var/test-logs
	RELIABILITY_SUMMARY=summary-cluster $(PY) -m pytest tests/reliability/test_cluster_faults.py $(PYTEST_ARGS) \
	    > var/test-logs/cluster-faults.log 2>&1 & cluster=$$!; trap 'kill $$cluster 2>/dev/null' EXIT; \
	scripts/kafka.sh with $(PY) -m pytest tests/unit tests/contract tests/integration $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 0 ]; then \
	    $(PY) -m pytest tests/reliability --ignore=tests/reliability/test_cluster_faults.py $(PYTEST_ARGS); rc=$$?; \
	fi; \
	wait $$cluster; faults=$$?; \
	echo "=== cluster faults (ran beside the suites above; full log: var/test-logs/cluster-faults.log)"; \
	tail -n 30 var/test-logs/cluster-faults.log; \
	if [ $$faults -gt 128 ]; then \
	    echo "=== the cluster faults' pytest died of signal $$((faults - 128)); Python's stacks at that moment, if any:"; \
	    sed -n '/Fatal Python error/,$$p' var/test-logs/cluster-faults.log | head -n 300; \
	fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$faults

test-reliability-fast: setup ## The fast fault subset (poison, SIGKILL of each service, replay) on its own broker
	$(PY) -m pytest tests/reliability -k "$(RELIABILITY_FAST)" $(PYTEST_ARGS)

test-reliability: setup ## Fault-injection suite on its own broker (127.0.0.1:19092, started and stopped by the tests); see docs/reliability.md
	$(PY) -m pytest tests/reliability $(PYTEST_ARGS)

test-reliability-cluster: setup ## The cluster faults alone, on a three-node cluster of their own (127.0.0.1:22092-22094, started and stopped by the tests)
	$(PY) -m pytest tests/reliability/test_cluster_faults.py $(PYTEST_ARGS)

test-ui: setup ## Headless Chromium opens a task of each rubric in Label Studio, screenshots to docs/img/ (installs chromium, selenium)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; }
	$(PY) -m pip install -q -e '.[ui]'
	scripts/label_studio.sh install
	$(PY) -m pytest tests/ui $(PYTEST_ARGS)

test-unit: setup ## Unit and contract tests only (no broker)
	$(PY) -m pytest tests/unit tests/contract $(PYTEST_ARGS)

ops-setup: ## Install Prometheus and promtool (Debian's `prometheus` package) when either is missing
	scripts/prometheus.sh install

test-alerts: ops-setup ## Check the alert rules and scrape config, and run their unit tests, with promtool
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/tests/alerts_test.yml deploy/prometheus/tests/baselines_test.yml

ops-up: setup ops-setup ## Start Prometheus on 127.0.0.1:9090 scraping the local services, alert rules loaded (data in var/prometheus/)
	scripts/prometheus.sh up

ops-down: ## Stop the Prometheus started by ops-up
	scripts/prometheus.sh down

bench: setup ## Pipeline throughput/latency vs a raw Kafka passthrough (BENCH_ARGS="--events N --soak-seconds S")
	scripts/kafka.sh with $(PY) tests/bench/bench_pipeline.py $(BENCH_ARGS)

bench-privacy: setup ## PII detectors vs Presidio (P/R/F1 per type, docs/s; installs .[bench]), then gate events/s via Kafka
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) tests/bench/bench_privacy.py $(BENCH_ARGS)
	scripts/kafka.sh with $(PY) tests/bench/privacy/gate_throughput.py

bench-escalation: setup ## Escalation policy vs 3 baselines on a simulated 120k stream, then worker events/s and latency via Kafka
	scripts/kafka.sh with $(PY) tests/bench/bench_escalation.py --kafka $(BENCH_ARGS)

bench-sink: setup ## Dataset sink rows/s into Delta vs plain Parquet, by batch size, with commit latency (no broker)
	$(PY) tests/bench/bench_sink.py $(BENCH_ARGS)

bench-labeling: setup ## Label Studio connector: task->visible p50/p99, tasks/s imported, annotation->judgment (starts what it needs)
	scripts/label_studio.sh with scripts/kafka.sh with $(PY) tests/bench/bench_labeling.py $(BENCH_ARGS)

lint: setup ## ruff and mypy
	.venv/bin/ruff check services tests
	.venv/bin/ruff format --check services tests
	.venv/bin/mypy

fmt: setup ## Format the code with ruff
	.venv/bin/ruff format services tests
	.venv/bin/ruff check --fix services tests

clean: kafka-down cluster-down registry-down s3-down ops-down ## Stop the broker and delete runtime state (var/: broker data, datasets, logs)
	rm -rf var

.PHONY: help setup native-tables kafka-up kafka-down kafka-status cluster-up cluster-down cluster-status s3-up s3-down s3-status k8s-topics k8s-check registry-up registry-down registry-status labeling-up labeling-down labeling-status topics run test ops-setup test-alerts ops-up ops-down test-reliability test-reliability-fast test-reliability-cluster test-ui test-unit bench bench-privacy bench-escalation bench-sink bench-labeling lint fmt clean
