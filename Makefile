# Every target installs what it needs; nothing is assumed installed by hand.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2

.PHONY: all setup test lint wasm-lib component upstream-tests run soak cli install-cli

# `make`: the component and the dwal CLI.
all: component cli

setup:
	rustup target add $(WASM_TARGET)
	rustup component add clippy rustfmt

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) clippy --lib --target $(WASM_TARGET) -- -D warnings

# The engine library builds for the component target: the seam is proven there.
wasm-lib: setup
	$(CARGO) build --lib --target $(WASM_TARGET)

# The component: the engine crate built for wasm32-wasip2, release, size-optimised.
COMPONENT := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/datawal.wasm
component: setup
	$(CARGO) build --release --lib --target $(WASM_TARGET)
	@ls -l $(COMPONENT)

# The dwal CLI (cli/).
cli:
	$(CARGO) build --release -p dwal
	@ls -l $(CARGO_TARGET_DIR)/release/dwal

install-cli:
	$(CARGO) install --locked --path cli

# datawal 0.1.5's own tests, run from the registry source against this crate.
upstream-tests:
	bash scripts/upstream-tests.sh

test: lint wasm-lib component
	$(CARGO) test --workspace --all-features
	$(MAKE) upstream-tests


# The main job: the component keeping a plugin's state, in a wasmtime host, on
# data/ (ignored by git). Built with --workspace so it shares the test build.
run: component
	$(CARGO) build --workspace --bins
	$(CARGO_TARGET_DIR)/debug/plugin-host data

# The crash harness at full size: 1000 SIGKILLs of native and component
# writers (SEED=n replays a run's operation stream and kill delays).
soak: component
	$(CARGO) build --workspace --bins
	$(CARGO_TARGET_DIR)/debug/soak --kills 1000 $(if $(SEED),--seed $(SEED))
	PROPTEST_CASES=4000 $(CARGO) test --all-features --test fuzz --test recovery
