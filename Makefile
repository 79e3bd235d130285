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
# Opus codec. The tests also drive Debian's Chromium (test-deps).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Fuzz targets (package:function): `make test` runs each for FUZZTIME=10s,
# `make fuzz` for FUZZTIME (default 2m) each.
FUZZTIME ?= 2m
FUZZ_TARGETS := ./pkg/signaling:FuzzDecode ./pkg/signaling/token:FuzzOpen ./pkg/stats/delta:FuzzDecodeDelta ./pkg/signaling/sip:FuzzCheckSDP ./pkg/netem:FuzzParse

.PHONY: all deps test-deps build demo test fuzz soak reliability-long lint bench clean

all: build

# install-missing installs the Debian packages named in $$missing, if any.
define install-missing
	if [ -n "$$missing" ]; then \
		echo "make: installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	@missing=""; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	pkg-config --exists opus 2>/dev/null || missing="$$missing libopus-dev"; \
	$(install-missing)

# What the tests need besides the build: the openssl command line checks
# token vectors and makes test certificates; PulseAudio gives the audio
# tests a real capture path (they start a server of their own, captured
# through --audio mic; its dependencies bring libpulse and ALSA's
# libasound, which the microphone driver loads at run time); the browser
# tests (cmd/callstat/browser_test.go) run /usr/bin/chromium headless and
# fail rather than skip without it. The ground-truth and bad-network tests
# make network namespaces joined by a shaped link (iproute2;
# internal/testkit/netlab: tc netem, or a userspace link where the
# kernel has no netem). The SIP tests (pkg/signaling/sip, docs/sip.md) run
# Debian's Kamailio with its WebSocket module (and its rtpengine module),
# rtpengine in userspace and baresip, each on loopback ports the test picks;
# the packages' services are kept from starting (policy-rc.d), so nothing
# listens on their default ports (5060, 2223, 4444…).
# The report tests validate JUnit files against
# testdata/junit/junit-10.xsd with xmllint (libxml2-utils), lint the
# metrics with promtool and scrape a load run with a real Prometheus
# server (both in the prometheus package).
test-deps: deps
	@missing=""; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v xmllint >/dev/null 2>&1 || missing="$$missing libxml2-utils"; \
	{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v pulseaudio >/dev/null 2>&1 || missing="$$missing pulseaudio"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	command -v kamailio >/dev/null 2>&1 || missing="$$missing kamailio"; \
	ls /usr/lib/*/kamailio/modules/websocket.so >/dev/null 2>&1 || missing="$$missing kamailio-websocket-modules"; \
	command -v rtpengine >/dev/null 2>&1 || missing="$$missing rtpengine-daemon"; \
	command -v baresip >/dev/null 2>&1 || missing="$$missing baresip-core"; \
	if [ -n "$$missing" ] && [ ! -e /usr/sbin/policy-rc.d ]; then \
		printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && $(SUDO) chmod +x /usr/sbin/policy-rc.d; \
		trap '$(SUDO) rm -f /usr/sbin/policy-rc.d' EXIT; \
	fi; \
	$(install-missing)

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/callstat

# The main job on the embedded default: server, answerer and caller on
# loopback, two calls, stats files in demo-output/ and a summary table.
demo: build
	./$(BIN) --log-level warn demo --out demo-output

test: test-deps
	$(GO) test -race -count=1 -timeout 15m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s

fuzz: test-deps
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzzing $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

# The long reliability run: 1,000 calls in a row through one answerer
# process (CI runs 50). Prints the answerer's goroutines, open files and
# RSS over the first and last hundred calls. SOAK_CALLS=n to change.
SOAK_CALLS ?= 1000
soak: test-deps
	set -o pipefail; CALLSTAT_SOAK_CALLS=$(SOAK_CALLS) $(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./cmd/callstat/ | \
		grep -E 'MEASURED|^(--- |ok|FAIL|PASS)|_test.go:'

# The media-failure tests with the default ICE timeouts (5 s + 25 s)
# instead of CI's 1 s + 2 s: a killed caller with the server down, and a
# network partition.
reliability-long: test-deps
	set -o pipefail; CALLSTAT_LONG=1 $(GO) test -count=1 -timeout 30m -run '^(TestKilledCallerWithoutServer|TestBadNetwork)$$' -v ./cmd/callstat/ | \
		grep -E 'MEASURED|^(--- |ok|FAIL|PASS)|_test.go:'

# The benchmarks (docs/BENCHMARKS.md, which they rewrite): the Go
# benchmarks, single-call setup, load runs of BENCH_CALLS calls between one
# caller process and one answerer process, and the same calls between
# callstat and headless Chromium. About ten minutes; not part of `test`.
BENCH_CALLS ?= 100,200,250,500
BENCH_DURATION ?= 60s
bench: build test-deps
	$(GO) run ./tools/bench -binary $(BIN) -out docs/BENCHMARKS.md \
		-calls $(BENCH_CALLS) -duration $(BENCH_DURATION)

lint: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	./bin/golangci-lint run ./...

clean:
	rm -rf bin demo-output
