# fakegpu: fake GPU device nodes, metered per cgroup. See README.md.
#
#   make test      every test: lint (rustfmt, clippy, the modules' import graphs), cargo
#                  tests, the NVIDIA ABI conformance check against NVIDIA's headers, then
#                  the VM suite on 6.12 and its 7.x subset (builds what it needs)
#   make demo      boot the VM and show fakegpu in front of a real DRM driver
#   make bench     the OCI hook's cost natively, then pass-through overhead in the VM, on a
#                  kernel without debug options
#   make fuzz-long the ioctl fuzzer for FUZZ_SECONDS (default 600) on the test kernel;
#                  FUZZ_SEED=... reproduces a run, FUZZ_CALLS=... caps the calls
#   make stress-long the stress run (tests/vm-client/src/stress.rs) for STRESS_SECONDS
#                  (default 600); STRESS_SEED, STRESS_OPS, STRESS_PROCS, STRESS_THREADS
#   make fuzz-parsers cargo-fuzz on the parsers and ABI decoders (tests/fuzz), each target for
#                  FUZZ_PARSER_SECONDS (default 60); needs nightly Rust, skips loudly without
#   make vm-shell  boot the VM interactively with the modules loaded
#   make modules   just the modules (KDIR=/path/to/your/kernel/build to use your own)
#   make deps      install build dependencies (run by every target above)
#
# Built kernels are cached in ~/.cache/fakegpu (FAKEGPU_CACHE=...), the rest in build/.

SHELL := /bin/bash
BUILD := $(CURDIR)/build
export KDIR

.PHONY: all deps kernel kernel-7-background modules test cargo-test conformance vm-test vm-test-7 demo bench fuzz-long fuzz-parsers stress-long vm-shell lint clean

all: modules

deps:
	@scripts/install-deps.sh

kernel: deps
	@scripts/build-kernel.sh test

modules: deps
	@set -e; kdir="$(KDIR)"; \
	if [ -z "$$kdir" ]; then kdir=$$(scripts/build-kernel.sh test); fi; \
	scripts/build-modules.sh "$$kdir" $(BUILD)/modules-custom; \
	echo "modules: $$(ls $(BUILD)/modules-custom/*.ko)"

test: kernel-7-background lint cargo-test conformance vm-test vm-test-7

# Starts the build of vm-test-7's kernel (about 15 minutes cold; nothing when it is cached)
# at idle priority, so it takes only the CPU time the other steps leave idle: the fetches,
# the serial phases of the 6.12 kernel's build, and the 6.12 guest, which leaves a third to
# two thirds of the host idle while its cases wait. SCHED_IDLE alone is not enough: setsid
# starts a new autogroup, which the scheduler shares the CPU with fairly, so the group's
# nice is set to 19 too. vm-test-7's own build-kernel.sh waits for it (a lock per kernel).
kernel-7-background: deps
	@mkdir -p $(BUILD); \
	echo "[kernel] building the 7.x test kernel in the background at idle priority (log: $(BUILD)/kernel-7-background.log)"; \
	FAKEGPU_KERNEL_LINE=7 setsid sh -c 'echo 19 2>/dev/null >/proc/self/autogroup; exec chrt --idle 0 scripts/build-kernel.sh test' \
		>$(BUILD)/kernel-7-background.log 2>&1 </dev/null &

# The 7.x line's subset of the suite (the whole suite on both lines would not fit CI's cold
# budget): the meter and dmem cases, the racing tenant, stress and failslab, the mapping
# and proxy cases (7.x's mmap_prepare and VFS differ), containers with quotas and the quota
# commands, and libcuda's driver API (535's and 550's). `FAKEGPU_KERNEL_LINE=7 make vm-test`
# runs the whole suite on 7.x.
VM_TEST_7_CASES := nvsim_registers_like_the_driver|module_creates_nodes|meter_|dmem_|alloc_racing_|freeing_a_device_|driver_failing_|stress_short|failslab_|killed_client_|mapping_outlives_module|nvsim_map_|concurrent_open_ioctl_mmap_close|dumb_pattern_through_two_maps|proxy_nodes|proxy_fd_params|proxy_filter|proxy_gpu_visibility|containers_with_quotas|quota_commands|cuda_driver_api

cargo-test: deps
	@echo "[cargo] unit and property tests of the userspace crates and the no_std crates"
	@cargo test --quiet --locked --workspace --all-features

conformance: deps
	@scripts/nvidia-conformance.sh

vm-test:
	@scripts/vm-job.sh test

vm-test-7:
	@FAKEGPU_KERNEL_LINE=7 FAKEGPU_ONLY='$(VM_TEST_7_CASES)' scripts/vm-job.sh test

demo:
	@scripts/vm-job.sh demo

bench: deps
	@scripts/bench-hook.sh
	@scripts/vm-job.sh bench

fuzz-long:
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-600} scripts/vm-job.sh fuzz

fuzz-parsers:
	@scripts/fuzz-parsers.sh

stress-long:
	@STRESS_SECONDS=$${STRESS_SECONDS:-600} scripts/vm-job.sh stress

vm-shell:
	@scripts/vm-job.sh shell

lint: deps
	@echo "[lint] rustfmt, clippy, and the modules' import graphs (tests/layering)"
	cargo fmt --check
	cargo clippy --quiet --locked --workspace --all-targets --all-features -- -D warnings
	rustfmt --check --edition 2021 rust/fakegpu/fakegpu_main.rs rust/nvsim/nvsim_main.rs
	cargo run --quiet --locked -p fakegpu-layering -- rust/nvsim/nvsim_main.rs
	cargo run --quiet --locked -p fakegpu-layering -- rust/fakegpu/fakegpu_main.rs --core rust/fakegpu/proxy

clean:
	rm -rf $(BUILD) target
