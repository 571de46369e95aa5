# appreg: `make run` starts the service on SQLite in development mode;
# `make test` runs every test (SQLite always, PostgreSQL when reachable).
SHELL := /bin/bash
GO    ?= go
BIN   := bin/appreg

.PHONY: help generate check-generated build run test lint bench bench-sizes bench-compare fuzz clean console console-size check-console

help:
	@echo "make run               start appreg on SQLite (./data) in development mode"
	@echo "make test              run all tests with -race (PostgreSQL at 127.0.0.1:5432 when reachable)"
	@echo "make generate          regenerate gen/ from openapi.yaml"
	@echo "make console           rebuild the console (console/build) with npm ci + npm run build"
	@echo "make console-size      print the console's first load (JS + CSS, gzipped)"
	@echo "make check-console     fail if console/build is stale or its first load is above 150 KB gzipped"
	@echo "make check-generated   fail if gen/ is stale"
	@echo "make lint              gofmt, go vet, staticcheck, Spectral"
	@echo "make build             build $(BIN)"
	@echo "make bench             run the benchmarks (scripts/bench)"
	@echo "make bench-sizes       the lookup path on 100k and 1M applications side by side"
	@echo "make bench-compare     the old binary (REV, default 6a1f46a) and the working tree side by side"
	@echo "make fuzz              run every fuzz target for FUZZTIME (default 30s)"

generate:
	$(GO) generate ./gen

check-generated:
	@scripts/check-generated

build:
	$(GO) build -trimpath -ldflags "-X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o $(BIN) ./cmd/appreg

run: build
	$(BIN) serve

test:
	@scripts/test

console:
	cd console && npm ci --no-audit --no-fund --loglevel=error && npm run build

console-size:
	@scripts/console-size

check-console:
	@scripts/check-console

lint:
	@scripts/lint

bench:
	@scripts/bench
	@scripts/bench-mixed

bench-sizes:
	@scripts/bench-sizes

bench-compare:
	@scripts/bench-compare $(REV)

fuzz:
	@scripts/fuzz

clean:
	rm -rf bin
