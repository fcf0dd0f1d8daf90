# Front door. The README's two commands:
#   make run    set up, build, and run the main job on the default real model
#   make test   set up, build (release + ASan/UBSan), run every test
.PHONY: all deps models build build-asan build-fuzz run test test-unit test-asan test-python test-fuzz fuzz clean

BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# seconds each fuzz target runs in `make test` (long runs: make test-fuzz FUZZ_SECONDS=3600)
FUZZ_SECONDS ?= 60
FUZZERS = $(basename $(notdir $(wildcard fuzz/fuzz_*.c)))
MODEL ?= models/gemma-3-270m-q4_k_m.gguf
HOST ?= 127.0.0.1
PORT ?= 8080
NP ?= 4
CTX ?= 8192
# The gemma GGUF carries no chat template: name the built-in one.
SERVER_ARGS ?= --chat-template gemma --metrics
JOBS ?= $(shell nproc)

all: build

deps:
	@bash scripts/deps.sh

models: deps
	@bash scripts/get-models.sh

build:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@ninja -C $(BUILD) -j $(JOBS)

build-asan:
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCLLM_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN_BUILD) -j $(JOBS)

run: models build
	./$(BUILD)/cllm-server -m $(MODEL) -c $(CTX) -np $(NP) --host $(HOST) --port $(PORT) $(SERVER_ARGS)

# ctest counts a cmocka skip() as a pass: check-skips.py fails the run when
# more tests skip than tests/skip_budget.txt allows.
test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@python3 scripts/check-skips.py $(BUILD) unit

test-asan: build-asan models
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		CLLM_TEST_QUICK=1 ctest --output-on-failure -j $(JOBS)
	@python3 scripts/check-skips.py $(ASAN_BUILD) unit_asan
	CLLM_ASAN_BUILD=$(ASAN_BUILD) .venv/bin/python -m pytest -q tests/python/test_sanitized_server.py

test-python: build models
	CLLM_BUILD=$(BUILD) .venv/bin/python -m pytest -q tests/python

test: models
	@$(MAKE) --no-print-directory test-unit test-asan test-python test-fuzz

# The libFuzzer targets (clang, ASan/UBSan), only the fuzz_* programs.
build-fuzz:
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCLLM_FUZZ=ON >/dev/null
	@ninja -C $(FUZZ_BUILD) -j $(JOBS) $(FUZZERS)

# Each target FUZZ_SECONDS on its committed seeds fuzz/corpus/<target>/; any
# crash, leak, hang or sanitizer report fails (scripts/run-fuzzers.sh).
test-fuzz: build-fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) bash scripts/run-fuzzers.sh $(FUZZ_BUILD)

fuzz: build-fuzz

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
