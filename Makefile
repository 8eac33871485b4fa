# strimzi-backup-operator — every developer and CI entry point. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
CRD_DIR := config/crd/bases

.PHONY: help
help: ## List targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

##@ Build
.PHONY: build
build: ## Build all binaries (operator, pod harness) in debug mode
	$(CARGO) build --workspace --bins

.PHONY: dist-build
dist-build: ## The release binary exactly as the Dockerfile builds it (profile dist, operator package only) into target/dist-bin
	hack/dist-build.sh

.PHONY: manifests
manifests: ## Regenerate the CRDs in config/crd/bases from the Rust API types
	$(CARGO) run --quiet -p strimzi-backup-operator -- crdgen --output-dir $(CRD_DIR) --docs-dir docs/reference

.PHONY: install-manifests
install-manifests: ## dist/install.yaml: the plain install (config/default; IMG=… sets the image)
	hack/install-manifests.sh

.PHONY: bundle
bundle: ## The OLM bundle in bundle/ and bundle.Dockerfile, from config/manifests (operator-sdk)
	hack/bundle.sh

.PHONY: catalog
catalog: ## A file-based catalog in catalog/ with the bundle, checked with opm validate
	hack/catalog.sh

.PHONY: helm-sync
helm-sync: ## Copy CRDs, RBAC rules, alerts, dashboard and the version from config/ into the Helm chart
	hack/helm-sync.sh

.PHONY: generate
generate: manifests helm-sync install-manifests bundle catalog ## Every generated file: CRDs, docs/reference, the chart's copies, dist/install.yaml, bundle/, catalog/

.PHONY: manifests-check
manifests-check: generate ## Fail when generated files differ from what is committed
	@paths=(config docs dist bundle bundle.Dockerfile catalog catalog.Dockerfile); \
	if ! git diff --quiet -- "$${paths[@]}" || [[ -n "$$(git ls-files --others --exclude-standard -- "$${paths[@]}")" ]]; then \
	  git status --short -- "$${paths[@]}"; git diff --stat -- "$${paths[@]}"; \
	  echo "Generated files drifted from their sources: run 'make generate' and commit the result." >&2; exit 1; fi

##@ Ship
.PHONY: bundle-validate
bundle-validate: ## operator-sdk bundle validate with the operatorframework suite (no cluster)
	hack/bundle-validate.sh

.PHONY: scorecard
scorecard: ## Every test of bundle/tests/scorecard/config.yaml, run by scorecard-test against bundle/
	hack/scorecard.sh

.PHONY: image-lint
image-lint: ## hadolint on the Dockerfiles
	hack/image-lint.sh

.PHONY: docker-build
docker-build: ## Build the image with docker or podman (IMG=…; not available on the dev machine)
	$${CONTAINER_TOOL:-$$(command -v podman || echo docker)} build -t $${IMG:-$$(hack/version.sh --image)} .

.PHONY: monitoring-check
monitoring-check: ## promtool: PrometheusRule check + unit tests, the dashboard's PromQL
	hack/check-monitoring.sh

.PHONY: helm-lint
helm-lint: ## helm lint --strict and template of every values scenario; the chart checked against config/default
	hack/helm-check.sh

.PHONY: ship-check
ship-check: image-lint bundle-validate scorecard monitoring-check helm-lint ## All packaging checks (inside make test)

##@ Checks
.PHONY: fmt-check
fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all -- --check

.PHONY: clippy
clippy: ## cargo clippy with warnings as errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: unit
unit: ## Unit tests (no environment needed)
	$(CARGO) test --workspace --exclude strimzi-backup-e2e
	$(CARGO) test -p strimzi-backup-e2e --lib --bins

.PHONY: e2e-build
e2e-build: build ## Compile the end-to-end tests without running them
	$(CARGO) test -p strimzi-backup-e2e --test '*' --no-run

.PHONY: e2e
e2e: build ## End-to-end tests against the running local environment (make env-up first)
	$(CARGO) test -p strimzi-backup-e2e --test '*' -- --test-threads=4
	@# The install tests (dist/install.yaml, Helm, OLM) register webhooks and run operators for
	@# more than their own namespace, the Strimzi-version tests (strimzi_versions.rs) replace the
	@# Strimzi CRDs every test shares, an operator watching every namespace reconciles the others'
	@# objects, and the three-broker cluster tests (cluster.rs) start three JVMs each, so they run
	@# alone, after the rest (#[ignore] in the first pass). The generator of the golden format
	@# objects (format_golden.rs) is skipped by name: it never reruns; so is the merging bench
	@# (compaction.rs, about 26 minutes of figures for docs/continuous-backup.md, asserting nothing).
	$(CARGO) test -p strimzi-backup-e2e --test '*' -- --ignored --test-threads=1 --skip generate_golden_objects \
	  --skip compaction::bench_

.PHONY: test
test: ## Everything: fmt, clippy, manifests drift, unit, then e2e in a fresh local environment
	hack/test.sh

.PHONY: bench
bench: ## Backup/restore throughput and peak RSS beside Kafka's perf tools (local env; prints figures)
	hack/bench.sh

##@ Local environment
.PHONY: tools
tools: ## Build or fetch the pinned components (etcd, Kubernetes, Kafka, MinIO) into ~/.cache
	hack/tools.sh all

.PHONY: strimzi-crds
strimzi-crds: ## Strimzi's real Kafka/KafkaUser CRDs of each line (0.45, 0.51, 1.2) from Maven Central into ~/.cache (env-up does it)
	hack/strimzi-crds.sh

.PHONY: env-up
env-up: build ## Start etcd, kube-apiserver, controller-manager, pod harness, Kafka, MinIO on 127.0.0.1
	hack/env-up.sh

.PHONY: env-down
env-down: ## Stop exactly the processes env-up started
	hack/env-down.sh

.PHONY: demo
demo: build ## env-up, run the operator, back up, restore to a point in time, print kb/kr/kor and record counts
	hack/demo.sh
