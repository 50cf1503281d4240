# closesink: the two commands a newcomer needs are `make demo` and `make test`.
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 30s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/closesink/closesink/internal/version.Version=$(VERSION)

.PHONY: all build test test-short vet fmt bench bench-micro bench-quick bench-smoke fuzz demo kafka-up kafka-down kafka-status clean test-e2e

all: vet test build

build: ## build bin/closesink
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/closesink ./cmd/closesink

test: ## every test, race detector on; set KAFKA_BROKERS to use a real broker
	$(GO) test -race -count=1 $(PKGS)

test-short: ## fast unit tests only
	$(GO) test -short -count=1 $(PKGS)

test-e2e: build ## fault suite (internal/e2e): bin/closesink as processes on a real broker; starts kafka-local.sh if KAFKA_BROKERS is unset
	@if [ -z "$$KAFKA_BROKERS" ]; then \
		line="$$(./scripts/kafka-local.sh start)" || exit 1; \
		export "$$line"; \
	fi; \
	echo "test-e2e: KAFKA_BROKERS=$$KAFKA_BROKERS"; \
	$(GO) test -tags e2e -count=1 -v -timeout 25m ./internal/e2e/

.PHONY: validate-deploy
validate-deploy: ## check deploy/kubernetes, deploy/prometheus and deploy/grafana (own Go module: k8s, kustomize and Prometheus parsers; runs the service on kfake)
	cd deploy/validate && $(GO) test -count=1 ./...

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

BENCHFLAGS ?=
bench: build ## end-to-end bench (internal/benchrun): drain vs bare franz-go, rate-limit use, latency, footprint; kfake unless KAFKA_BROKERS is set; table + .cache/bench/results.json
	$(GO) run ./internal/benchrun -build=false $(BENCHFLAGS)

bench-quick: build ## the same, as a smoke run (50,000 events, 5 s scenarios, no fetch variants)
	$(GO) run ./internal/benchrun -build=false -quick $(BENCHFLAGS)

bench-micro: ## Go micro-benchmarks (transform, delivery, worker), each against a same-run baseline
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

bench-smoke: ## every benchmark once, so their own sanity checks run (CI)
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

fuzz: ## every fuzz target for FUZZTIME each (default 30s)
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

demo: ## run the whole pipeline in-process (kfake + Close emulator): create mode, then upsert mode
	$(GO) run ./cmd/closesink demo
	@printf '\n%s\n\n' '--- the same samples again, one lead per person: closesink demo --mode upsert ---'
	$(GO) run ./cmd/closesink demo --mode upsert

kafka-up: ## start a real Apache Kafka (KRaft) broker from Maven Central jars
	./scripts/kafka-local.sh start

kafka-down:
	./scripts/kafka-local.sh stop

kafka-status:
	./scripts/kafka-local.sh status

clean:
	rm -rf bin

# --- Docker (scripts/ci-docker.sh runs this after building the images) ---
# The images: scripts/docker-images.sh all. Then, with no KAFKA_BROKERS, the
# whole suite on the testcontainers backend (the project's Kafka image), a
# proof that it was that backend, the closesink image test and the compose
# smoke test (deploy/), where skipping is a failure.
DOCKER_TEST_ENV := env -u KAFKA_BROKERS KAFKATEST_BACKEND=testcontainers TESTCONTAINERS_RYUK_DISABLED=true CLOSESINK_DOCKER_TESTS=require

.PHONY: test-docker docker-images
docker-images: ## build the local images (Debian+JRE base, Kafka, closesink); pulls nothing
	./scripts/docker-images.sh all

test-docker: ## the suite on the testcontainers backend + image and compose tests (needs Docker and `make docker-images`)
	@mkdir -p .cache
	$(DOCKER_TEST_ENV) $(GO) test -race -count=1 -v -run 'TestBackendRoundTrip|TestTestcontainersBackend' ./pkg/kafkatest/ >.cache/docker-backend.log 2>&1; \
		rc=$$?; grep -E 'kafka backend|^(---|ok|FAIL|PASS)' .cache/docker-backend.log; [ $$rc = 0 ] || { cat .cache/docker-backend.log; exit $$rc; }
	@grep -q 'kafka backend: testcontainers image ' .cache/docker-backend.log || { echo "test-docker: the tests did not run on the testcontainers backend" >&2; exit 1; }
	@grep -q 'kafka backend: testcontainers (127\.0\.0\.1:' .cache/docker-backend.log || { echo "test-docker: no broker on 127.0.0.1" >&2; exit 1; }
	$(DOCKER_TEST_ENV) $(GO) test -race -count=1 $(PKGS)
