#!/usr/bin/env bash
# The OCI hook's own cost, natively on this host: `fakegpu hook prestart --dry-run` against
# a stand-in of fakegpu's sysfs (FAKEGPU_SYSFS) and a bundle, N times. The dry run does all
# the deciding (state, config.json, host config, request, plan, device rules); what it
# skips, the mounts, the BPF program and the sysfs writes, is timed in the VM (see the
# container cases' FIGURE lines).
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=bench-hook
runs=${1:-200}

(cd "$FAKEGPU_ROOT" && cargo build --quiet --release --locked -p fakegpu)
helper=$FAKEGPU_ROOT/target/release/fakegpu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/sysfs/cgroups" "$dir/bundle/rootfs"
printf '/dev/fakegpuctl 240:255 195:255\n/dev/fakegpu0 240:0 195:0\n/dev/fakegpu1 240:1 195:1\n/dev/fakegpu-uvm 239:0 238:0\n' \
  > "$dir/sysfs/devices"
: > "$dir/sysfs/cgroups/control"
cat > "$dir/bundle/config.json" <<'JSON'
{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
 "process": {"args": ["sh"], "env": ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=0"]},
 "annotations": {"fakegpu.io/memory.max": "8G"},
 "linux": {"resources": {"devices": [{"allow": false, "access": "rwm"},
   {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
   {"allow": true, "type": "c", "major": 136, "access": "rwm"}]}}}
JSON
printf 'requests-from = ["annotations", "env"]\nmax-memory = "16G"\n' > "$dir/config.toml"
state="{\"ociVersion\":\"1.0.2\",\"id\":\"bench\",\"status\":\"creating\",\"pid\":$$,\"bundle\":\"$dir/bundle\"}"
run() { echo "$state" | FAKEGPU_SYSFS=$dir/sysfs "$helper" hook prestart --dry-run --config "$dir/config.toml"; }
run > "$dir/plan"
say "what the hook decides:"; sed 's/^/    /' "$dir/plan" >&2
t0=$(date +%s%N)
for _ in $(seq "$runs"); do run > /dev/null; done
t1=$(date +%s%N)
echo "BENCH hook prestart, dry run, native: $(( (t1 - t0) / runs / 1000 )) us per container create ($runs runs, process start included)"
