# The few targets people expect. The version and commit are stamped with
# -ldflags, because builds here and in the Dockerfile run without VCS
# stamping (-buildvcs=false, or no .git in the build context).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: run build static test bench bench-go wrk docker

run:
	go run ./cmd/customerd serve

build:
	go build -trimpath -ldflags "$(LDFLAGS)" -o customerd ./cmd/customerd

# A static binary with no libc dependency, as the container image uses.
static:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o customerd ./cmd/customerd

test:
	go test -race ./...

# The load benchmarks of BENCHMARKS.md: builds, seeds, drives customerd and
# a fixed-JSON ceiling on 127.0.0.1 and prints the table (about 12 minutes).
bench:
	bash bench/run.sh

# Micro-benchmarks of the hot functions, with allocations.
bench-go:
	go test -run '^$$' -bench . -benchmem ./...

# The independent wrk check of BENCHMARKS.md (needs wrk).
wrk:
	bash bench/wrk.sh

docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t customerd:$(VERSION) .
