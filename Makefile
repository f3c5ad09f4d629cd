# twinpipe: the two commands of the README, and a few conveniences.
#   make demo   install what is missing, build, start the dev stack, run the services,
#               simulate a fleet, print twins, publish one reading over MQTT and print
#               its twin, shut everything down
#   make demo-regions  two regions and a global site on this machine (scripts/sites): merged
#               aggregates at global and a policy round trip, ~2-3 minutes, then stops it all
#   make test   install what is missing, build with ASan+UBSan, start the dev stack,
#               run every test through ctest
#   make bench  the benchmark suite (about 20-30 minutes): bench/RESULTS.md, e2e.png, e2e_3s.png
#   make fuzz   build the libFuzzer harnesses with clang (build/fuzz) and run each for
#               FUZZ_SECONDS (default 60); FUZZERS="fuzz_http fuzz_decode" picks some;
#               the corpus grows in build/fuzz/work (tests/fuzz/README.md)
.PHONY: all build demo demo-regions test bench fuzz format clean deps stack-up stack-down

FUZZ_SECONDS ?= 60
FUZZERS ?=

all: build

deps:
	scripts/install-deps

build: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/release -j2

demo:
	scripts/demo

demo-regions:
	scripts/demo-regions

test:
	scripts/test

bench: build
	TP_BIN_DIR=$(CURDIR)/build/release/bin bench/run

fuzz: deps
	cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTP_FUZZ=ON \
		-DTP_BUILD_TESTS=OFF >/dev/null
	cmake --build build/fuzz -j2 --target fuzzers
	tests/fuzz/run.sh --bin-dir build/fuzz/bin --work-dir build/fuzz/work \
		--seconds $(FUZZ_SECONDS) $(FUZZERS)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

stack-up:
	scripts/devstack up

stack-down:
	scripts/devstack down

clean:
	rm -rf build
