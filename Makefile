# fmn — `make help` lists the targets. GOFLAGS, GOCACHE etc. come from the
# environment (or `go env -w`); make does not set them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

GO         ?= go
BIN        ?= bin/fmn
PKGS       ?= ./...
# Race detector needs cgo + gcc; `make test RACE=` runs without it.
RACE       ?= -race
TESTFLAGS  ?= $(RACE) -count=1 -timeout 12m
BENCH      ?= .
BENCHTIME  ?= 1s
BENCHPKGS  ?= ./consumer/
RUNS       ?= 2
SIZE       ?= full
ROUNDS     ?= 3
RUN_ARGS   ?= dev
TEST_LOG   ?= test-artifacts/go-test.log
# Pinned: an exact version, which the Go module proxy serves (it may refuse
# to list versions). v2.15.0 builds with Go 1.26.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= bin/golangci-lint

.PHONY: help build run generate check-generated lint golangci-lint services test bench bench-go nats-server ui clean
.PHONY: peers-matrix chaos
.PHONY: peers-irc
.PHONY: ui-deps ui-test ui-e2e ui-auto ui-build-auto ui-deps-auto

help: ## list targets (default)
	@echo "fmn make targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "variables: GO=$(GO) RACE=$(RACE) TESTFLAGS='$(TESTFLAGS)' PKGS=$(PKGS) BENCHTIME=$(BENCHTIME) GOFLAGS='$$($(GO) env GOFLAGS 2>/dev/null)'"

build: ## build bin/fmn from ./cmd/fmn
	$(GO) build -o $(BIN) ./cmd/fmn

run: ui-build-auto build ## build (with the web UI when Node is here), then run `bin/fmn dev` (RUN_ARGS=... to change)
	./$(BIN) $(RUN_ARGS)

# sqlc is pinned in its own module (tools/sqlc), out of fmn's go.mod.
SQLC = $(GO) -C tools/sqlc tool sqlc -f ../../sqlc.yaml

generate: ## regenerate sqlc code (sqlc generate, from tools/sqlc)
	$(SQLC) generate

check-generated: ## fail if committed sqlc code is stale (sqlc diff)
	@$(SQLC) diff || { echo "check-generated: the generated code in queries/ is stale: run 'make generate' and commit the result" >&2; exit 1; }
	@# sqlc diff does not see a generated file left behind by a deleted query file.
	@for f in queries/*.sql.go; do [ -f "$${f%.go}" ] || { echo "check-generated: $$f is left over from a deleted $${f%.go}: remove it" >&2; exit 1; }; done

lint: golangci-lint ## gofmt -l must be empty; go.mod tidy (go mod tidy -diff); golangci-lint run (.golangci.yml; includes go vet)
	@rc=0; echo "lint: gofmt -l"; \
	 files=$$(find . \( -name .git -o -name node_modules -o -name testdata -o -path ./bin -o -path ./.data \) -prune -o -name '*.go' -print); \
	 unformatted=$$(if [ -n "$$files" ]; then gofmt -l $$files; fi) || rc=1; \
	 if [ -n "$$unformatted" ]; then echo "lint: these files need gofmt -w:"; echo "$$unformatted" | sed 's/^/    /'; rc=1; fi; \
	 echo "lint: $(GO) mod tidy -diff"; \
	 $(GO) mod tidy -diff || { echo "lint: go.mod/go.sum are not tidy: run go mod tidy"; rc=1; }; \
	 echo "lint: golangci-lint run $(PKGS)"; \
	 $(GOLANGCI_LINT) run --allow-serial-runners $(PKGS) || rc=1; \
	 if [ $$rc = 0 ]; then echo "lint: ok"; else echo "lint: FAILED"; fi; \
	 exit $$rc

# golangci-lint is built from the Go module proxy at the pinned version into
# bin/ when missing or of another version (a few minutes the first time on a
# machine; the build cache makes it seconds after that).
golangci-lint: # install the pinned golangci-lint into bin/ when missing
	@if ! $(GOLANGCI_LINT) version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%) "; then \
	  echo "lint: installing golangci-lint $(GOLANGCI_LINT_VERSION) into bin/ (go install)"; \
	  GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi

services: ## start/install PostgreSQL, Redis, NATS, RabbitMQ if not running
	bash scripts/services.sh

peers-matrix: ## build the Dendrite homeserver for the Matrix tests, once (tools/dendrite, ~2 min cold)
	GO=$(GO) bash scripts/matrix-peer.sh >/dev/null

peers-irc: ## install InspIRCd + Anope for the IRC tests (apt, once); `scripts/irc-peers.sh start` runs a pair for fmn dev
	bash scripts/irc-peers.sh >/dev/null

test: services peers-matrix peers-irc check-generated lint ui-auto ## services (+ Chromium) + check-generated + lint + UI tests (when Node is here) + go test -race ./...
	@mkdir -p $(dir $(TEST_LOG))
	@echo "test: $(GO) test $(TESTFLAGS) $(PKGS)  (log: $(TEST_LOG))"
	@start=$$SECONDS; rc=0; \
	 $(GO) test $(TESTFLAGS) $(PKGS) 2>&1 | tee $(TEST_LOG) || rc=$$?; \
	 passed=$$(grep -cE '^ok[[:space:]]' $(TEST_LOG) || true); \
	 failed=$$(grep -cE '^FAIL[[:space:]]+[^[:space:]]+[[:space:]]' $(TEST_LOG) || true); \
	 notests=$$(grep -cE '\[no test files\]' $(TEST_LOG) || true); \
	 echo "test: go test exit $$rc after $$((SECONDS-start))s; $$notests package(s) without tests"; \
	 echo "packages: $$passed passed, $$failed failed"; \
	 exit $$rc

# The fault suite (README, "Fault suite"): not part of `make test` or CI.
# CHAOS_ARGS passes flags, e.g. CHAOS_ARGS='-trials baseline,smtp-down -messages 2000'.
CHAOS_ARGS ?=
chaos: nats-server ## fault suite: 3-node NATS cluster, each role a process, own PostgreSQL/Redis, SMTP sink; ≤ 15 min
	$(GO) build -o $(BIN) ./cmd/fmn
	$(GO) build -o bin/fmn-chaos ./cmd/fmn-chaos
	./bin/fmn-chaos -fmn $(BIN) -nats-server bin/nats-server $(CHAOS_ARGS)

bench: nats-server ## issue 16's table: every performance figure beside its aim, RUNS=2 runs of ROUNDS=3 matcher rounds, SIZE=full|small (scripts/bench-table.sh)
	RUNS=$(RUNS) ROUNDS=$(ROUNDS) SIZE=$(SIZE) scripts/bench-table.sh

bench-go: ## go benchmarks as they are (BENCH=regex BENCHTIME=1s BENCHPKGS=./consumer/)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem $(BENCHPKGS)

nats-server: ## bin/nats-server, the version in go.mod (for make chaos, and FMN_BENCH_NATS_SERVER=bin/nats-server)
	$(GO) build -o bin/nats-server github.com/nats-io/nats-server/v2

ui: ## build the web UI (npm ci && npm run build) if ui/package.json exists
	@if [ -f ui/package.json ]; then cd ui && npm ci && npm run build; else echo "ui: no ui/package.json, skipping"; fi

# Node 20.19+ (Vite 8); the web UI's tests are skipped without it.
UI_NODE_OK = node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null

ui-deps: # npm ci in ui/ when node_modules is missing or older than package-lock.json
	@if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then cd ui && npm ci --no-audit --no-fund; fi

ui-test: ui-deps ## web UI unit and component tests (vitest, happy-dom)
	cd ui && npm test

ui-e2e: ui-deps ## web UI build + end-to-end tests in Debian's Chromium against a real `fmn dev` (screenshots in test-artifacts/ui/)
	@command -v /usr/bin/chromium >/dev/null || { echo "ui-e2e: needs Debian's chromium: scripts/services.sh chromium (apt-get install -y --no-install-recommends chromium)"; exit 1; }
	@start=$$SECONDS; rc=0; (cd ui && npm run build && GO=$(GO) npm run e2e) || rc=$$?; \
	 echo "ui-e2e: exit $$rc after $$((SECONDS-start))s (build, then the browser tests)"; exit $$rc

ui-build-auto: ui-deps-auto # part of `make run`: build the web UI when Node is here, so that fmn embeds it
	@if $(UI_NODE_OK); then cd ui && npm run build --silent && echo "ui: built into ui/dist/app"; \
	 else echo "ui: Node.js >= 20.19 not found: fmn serves a page that says how to build the web UI"; fi

ui-deps-auto:
	@if $(UI_NODE_OK); then $(MAKE) --no-print-directory ui-deps; fi

ui-auto: # part of `make test`: ui-test when Node is here, ui-e2e when Chromium is too
	@if ! $(UI_NODE_OK); then echo "ui: Node.js >= 20.19 not found, skipping the web UI's tests"; \
	 elif [ ! -x /usr/bin/chromium ]; then $(MAKE) --no-print-directory ui-test; echo "ui: /usr/bin/chromium not installed (scripts/services.sh chromium), skipping the browser tests"; \
	 else $(MAKE) --no-print-directory ui-test ui-e2e; fi

clean: ## remove bin/ and test-artifacts/
	rm -rf bin test-artifacts
