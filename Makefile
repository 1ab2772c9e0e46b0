# flowmap — build, test, benchmark, fuzz.
GO        ?= go
BIN       ?= bin/flowmap
FUZZTIME  ?= 30s
# Go's fuzzer otherwise spends up to a minute shrinking every new input
# found from the large real-capture seeds, and seems to stall.
FUZZMIN   ?= 1x
SHARED    ?= ../shared
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)

.PHONY: build test vet fmt-check bench fuzz golden browser-test mermaid-bundle clean

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/flowmap

# The one test command: README and .ci/run use it.
test: fmt-check vet
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Go benchmarks (MB/s, allocs, the x2-ratio of each two-size benchmark),
# then the built binary on the long capture and on a 1 GB synthetic one
# made from it (in a temporary directory), against tshark (installed when
# absent): MB/s and peak RSS. SYNTH_BYTES=0 skips the synthetic capture.
bench: build
	@out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	$(GO) test -run '^$$' -bench . -benchmem ./... | tee $$out && \
	SHARED=$(SHARED) BIN=$(BIN) GOBENCH=$$out scripts/bench.sh

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=5m).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) -parallel 1 $$pkg; \
	  done; \
	done

# Rewrite golden files after a reviewed change (then read git diff): every
# package whose tests define -update, each with its Golden tests.
GOLDEN_PKGS = $(shell grep -rl --include='*_test.go' 'flag[.]Bool."update"' . | xargs -n1 dirname | sort -u)
golden:
	$(GO) test -count=1 $(GOLDEN_PKGS) -run Golden -update

# The HTML report in headless Chromium (playwright-core and Chromium from
# $(SHARED)/tools/mermaid/install.sh); SKIPs when they are absent.
browser-test:
	scripts/report-browser-test.sh

# Check that the committed Mermaid bundle is npm's release (needs npm and
# the registry); UPDATE=1 MERMAID_VERSION=x.y.z rewrites it.
mermaid-bundle:
	scripts/mermaid-bundle.sh

clean:
	rm -rf bin
