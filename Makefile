# twinpipe: the two commands of the README, and a few conveniences.
#   make demo   install what is missing, build, start the dev stack, run the services,
#               simulate a fleet, print twins, shut everything down
#   make test   install what is missing, build with ASan+UBSan, start the dev stack,
#               run every test through ctest
#   make bench  the benchmark suite (about 20 minutes): bench/RESULTS.md and bench/e2e.png
.PHONY: all build demo test bench format clean deps stack-up stack-down

all: build

deps:
	scripts/install-deps

build: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/release -j2

demo:
	scripts/demo

test:
	scripts/test

bench: build
	TP_BIN_DIR=$(CURDIR)/build/release/bin bench/run

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

stack-up:
	scripts/devstack up

stack-down:
	scripts/devstack down

clean:
	rm -rf build
