# Every target installs what it needs; nothing is assumed installed by hand.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2

.PHONY: setup test lint wasm-lib upstream-tests run

setup:
	rustup target add $(WASM_TARGET)
	rustup component add clippy rustfmt

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The engine library builds for the component target: the seam is proven there.
wasm-lib: setup
	$(CARGO) build --lib --target $(WASM_TARGET)

# datawal 0.1.5's own tests, run from the registry source against this crate.
upstream-tests:
	bash scripts/upstream-tests.sh

test: lint wasm-lib
	$(CARGO) test --workspace


run:
	$(CARGO) run --release --example events -- data/native-demo
