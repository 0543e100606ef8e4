# Containers for the guest scripts (containers.sh, demo.sh): a busybox image with the test
# client, bundles whose config.json runs the fakegpu helper as prestart and poststop hook,
# and Debian's runc to run them (copied into the initramfs with its libraries).
HELPER=/fakegpu/bin/fakegpu
CONFIG=/tmp/fakegpu-config.toml
RUNC="runc --root /run/runc"

# The container image: static busybox and the libcuda-like test client.
make_rootfs() {
  [ -d /containers/rootfs ] && return 0
  mkdir -p /containers/rootfs/bin /containers/rootfs/dev /containers/rootfs/proc \
    /containers/rootfs/sys /containers/rootfs/tmp /run/runc
  grep -q ' /run ' /proc/mounts || mount -t tmpfs tmpfs /run
  mkdir -p /run/runc
  cp /bin/busybox /fakegpu/bin/nv-client /containers/rootfs/bin/
  for t in sh ls stat mknod cat sleep echo kill grep head; do ln -s busybox /containers/rootfs/bin/$t; done
}

# The operator's configuration used by these cases: requests from annotations and env,
# 256 MiB for containers that ask for nothing, at most 1 GiB.
write_config() {
  cat > $CONFIG <<'TOML'
requests-from = ["annotations", "env"]
default-memory = "256M"
max-memory = "1G"
TOML
}

# bundle NAME ANNOTATIONS ENV SCRIPT: a bundle whose process runs SCRIPT with sh, on the
# shared image. HOOK_STAGE and HOOK_ARGS (extra hook arguments) change the set-up hook;
# DEVICES and DEVICE_RULES add linux.devices entries and device rules (JSON, each entry
# followed by a comma), as a CDI-aware runtime adds them; MOUNTS adds mounts the same way;
# CAPS adds capabilities ("CAP_X", each followed by a comma).
# ANNOTATIONS is a JSON object body ("k":"v",...), ENV extra env entries ("K=V",...).
bundle() {
  name=$1 annotations=$2 env=$3 script=$4
  make_rootfs
  mkdir -p /containers/$name
  [ -n "$env" ] && env=",$env"
  cat > /containers/$name/config.json <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["/bin/sh", "-c", "$script"],
    "env": ["PATH=/bin"$env],
    "cwd": "/",
    "capabilities": {
      "bounding": [${CAPS:-}"CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_KILL"],
      "effective": [${CAPS:-}"CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_KILL"],
      "permitted": [${CAPS:-}"CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_KILL"]
    }
  },
  "root": {"path": "/containers/rootfs", "readonly": true},
  "hostname": "$name",
  "mounts": [${MOUNTS:-}
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755", "size=1024k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
  ],
  "hooks": {
    "${HOOK_STAGE:-prestart}": [{"path": "$HELPER", "args": ["fakegpu", "hook", "${HOOK_STAGE:-prestart}", "--config", "$CONFIG"${HOOK_ARGS:-}],
                  "env": ["FAKEGPU_HOOK_TIMING=1"]}],
    "poststop": [{"path": "$HELPER", "args": ["fakegpu", "hook", "poststop"]}]
  },
  "annotations": {$annotations},
  "linux": {
    "devices": [${DEVICES:-}
                {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438}],
    "resources": {"devices": [{"allow": false, "access": "rwm"}, ${DEVICE_RULES:-}
                              {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "cgroupsPath": "/fakegpu-ctr/$name"
  }
}
JSON
}

# run_ctr NAME: runs the container in the foreground (rootfs on the initramfs: no pivot_root).
run_ctr() { $RUNC run --no-pivot --bundle /containers/$1 $1; }

