# callstat — see README.md. Every target installs what it needs.
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED := 1

MODULE  := github.com/callstat/callstat
# v1.2.3 from a tag; 0.0.0-dev.<commit> before the first tag.
VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null) && echo $${v\#v} || echo 0.0.0-dev.$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown))
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X $(MODULE)/cmd/callstat/internal/buildinfo.version=$(VERSION) \
           -X $(MODULE)/cmd/callstat/internal/buildinfo.commit=$(COMMIT)
BIN     := bin/callstat
GOLANGCI_LINT_VERSION := v2.15.0

# Debian packages the build needs: a C toolchain for cgo, libopus for the
# Opus codec; the reliability tests need iproute2 (network namespaces, tc)
# and nftables (packet loss where the kernel has no netem).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build demo test soak reliability-long lint bench clean

all: build

deps:
	@missing=""; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	pkg-config --exists opus 2>/dev/null || missing="$$missing libopus-dev"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	command -v nft >/dev/null 2>&1 || missing="$$missing nftables"; \
	if [ -n "$$missing" ]; then \
		echo "make: installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/callstat

# The main job on the embedded default: server, answerer and caller on
# loopback, two calls, stats files in demo-output/ and a summary table.
demo: build
	./$(BIN) --log-level warn demo --out demo-output

test: deps
	$(GO) test -race -count=1 -timeout 15m ./...

# The long reliability run: 1,000 calls in a row through one answerer
# process (CI runs 50). Prints the answerer's goroutines, open files and
# RSS over the first and last hundred calls. SOAK_CALLS=n to change.
SOAK_CALLS ?= 1000
soak: deps
	set -o pipefail; CALLSTAT_SOAK_CALLS=$(SOAK_CALLS) $(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./cmd/callstat/ | \
		grep -E 'MEASURED|^(--- |ok|FAIL|PASS)|_test.go:'

# The media-failure tests with the default ICE timeouts (5 s + 25 s)
# instead of CI's 1 s + 2 s: a killed caller with the server down, and a
# network partition.
reliability-long: deps
	set -o pipefail; CALLSTAT_LONG=1 $(GO) test -count=1 -timeout 30m -run '^(TestKilledCallerWithoutServer|TestBadNetwork)$$' -v ./cmd/callstat/ | \
		grep -E 'MEASURED|^(--- |ok|FAIL|PASS)|_test.go:'

lint: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	./bin/golangci-lint run ./...

clean:
	rm -rf bin demo-output
