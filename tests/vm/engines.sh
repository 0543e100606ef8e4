# Real container engines with fakegpu (issue 21): podman with the hooks.d route (runc and
# crun) and the CDI route (crun), containerd 2 with CDI through ctr, Docker 28 with CDI. The engines are
# Debian sid's (scripts/fetch-engines.sh: a root on the read-only disk /dev/vda), unpacked
# once into a tmpfs at /engines, which becomes the root of the mount namespace they run in,
# with the guest's /proc, /sys, /dev, /tmp, /fakegpu and /nvidia bound in. Each case tells
# the same story: the container sees only its GPU, with its quota, in nvidia-smi; an
# allocation past the quota is refused with the driver's 0x51; nothing is left on the host
# once the container is removed; a bad request aborts the start with one clear line.
# Run by suite.sh as `sh engines.sh NAME`; exit status 0 is a pass.
. /fakegpu/nvidia_lib.sh

E=/engines
IMAGE=localhost/fakegpu-test

# The mount namespace the engines run in, whose root is /engines, as a host's root would be
# (a chroot would not do: the hook enters a container's mount namespace with setns, which
# sets its root to the namespace's); a sleeping process holds it.
HOLDER=/tmp/engines.holder

# The engines' root, made once per boot: unpacked, configured, the guest's trees bound in,
# then moved onto / in a namespace of its own.
engines_root() {
  [ -f $HOLDER ] && kill -0 "$(cat $HOLDER)" 2>/dev/null && return 0
  [ -b /dev/vda ] || { echo "no engines disk (/dev/vda)"; return 1; }
  mkdir -p $E && mount -t tmpfs -o size=1200m tmpfs $E || return 1
  echo "unpacking the engines' root"
  tar -xf /dev/vda -C $E || return 1
  mount -t proc proc $E/proc && mount --rbind /sys $E/sys && mount --rbind /dev $E/dev &&
    mount -t tmpfs tmpfs $E/run || return 1
  # The engines' locks and shared memory (the guest's devtmpfs has no /dev/shm).
  mkdir -p $E/dev/shm && mount -t tmpfs -o mode=1777 tmpfs $E/dev/shm || return 1
  for d in /tmp /fakegpu /nvidia; do
    mkdir -p $E$d && mount --bind $d $E$d || return 1
  done
  # The helper where the shipped hooks.d files and the docs expect it.
  ln -sf /fakegpu/bin/fakegpu $E/usr/local/bin/fakegpu
  mkdir -p $E/usr/share/containers/oci/hooks.d $E/etc/fakegpu $E/etc/cdi
  printf 'requests-from = ["annotations"]\nmax-memory = "4G"\n' > $E/etc/fakegpu/config.toml
  # No systemd, no network: cgroupfs, events in a file, vfs storage (the root is a tmpfs).
  cat > $E/etc/containers/containers.conf <<'EOF'
[containers]
netns = "none"
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  cat > $E/etc/containers/storage.conf <<'EOF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
  cat $E/fakegpu-engines.versions
  unshare -m --propagation private sh -c "cd $E && mount --move . / && exec chroot . sleep 100000" &
  echo $! > $HOLDER
  i=0
  until in_root test -f /fakegpu-engines.versions 2>/dev/null || [ $i -gt 50 ]; do sleep 0.1; i=$((i + 1)); done
  in_root test -f /fakegpu-engines.versions || fail "the engines' namespace did not come up"
}

# Runs "$@" in the engines' namespace, with its PATH.
in_root() {
  nsenter -t "$(cat $HOLDER)" -m -- env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# The test image: static busybox and the test client, imported from a local tarball.
podman_image() {
  in_root podman image exists $IMAGE && return 0
  . /fakegpu/container_lib.sh
  make_rootfs
  tar -C /containers/rootfs -cf /tmp/image.tar . && in_root podman import -q /tmp/image.tar $IMAGE >/dev/null
}

# NVIDIA's userspace in the container, as NVIDIA's toolkit would mount it: its /usr and the
# root's C library.
NV_VOLUMES="-v /nvidia/usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro -e LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu"

# What each container runs: the nodes it has, NVIDIA's view of its GPUs, then an allocation of
# $ASK bytes on its GPU's node $NODE.
STORY='ls /dev/nvidia*; /usr/bin/nvidia-smi --query-gpu=index,memory.total --format=csv,noheader; echo smi=$?; nv-client --gpu $NODE alloc $ASK'

# Nothing of fakegpu's or the engine's left on the host once containers are removed.
nothing_left() {
  ! grep -q /libpod /sys/kernel/fakegpu/cgroups/control ||
    fail "entries left: $(cat /sys/kernel/fakegpu/cgroups/control)" || return 1
  [ -z "$(in_root podman ps -aq)" ] || fail "containers left: $(in_root podman ps -a)" || return 1
  ! grep -q 'containers/storage/vfs/dir/.* fakegpu-nodes' /proc/mounts ||
    fail "node binds left: $(grep fakegpu-nodes /proc/mounts)" || return 1
  [ -z "$(ls /run/fakegpu/params.* 2>/dev/null)" ] || fail "params copies left: $(ls /run/fakegpu)"
}

# The story's checks on output $1: one GPU with $2 MiB, the allocation refused with 0x51.
told_the_story() {
  cat "$1"
  [ "$(grep -c '^/dev/nvidia[0-9]' "$1")" = 1 ] || fail "the container should see one GPU node" || return 1
  grep -q 'smi=0' "$1" && [ "$(grep -c ', [0-9]* MiB$' "$1")" = 1 ] && grep -q ", $2 MiB\$" "$1" ||
    fail "nvidia-smi should list one GPU of $2 MiB" || return 1
  grep -q '"alloc_status":"0x51"' "$1" || fail "the allocation past the quota was not refused with 0x51"
}

# A bad request ($@: podman run's arguments before the image) aborts the start, and the
# output names the cause in fakegpu's one line (crun shows only the hook's exit code: its
# stderr goes to the file its annotation names, as a crun user would ask).
bad_request_aborts() {
  rm -f /tmp/hooks.err
  in_root podman run --rm --annotation run.oci.hooks.stderr=/tmp/hooks.err "$@" $IMAGE true \
    > /tmp/bad 2>&1 && { cat /tmp/bad; fail "a bad request started"; return 1; }
  cat /tmp/hooks.err >> /tmp/bad 2>/dev/null
  cat /tmp/bad
  grep -q 'fakegpu hook .*memory.max' /tmp/bad || fail "no line of fakegpu's saying why"
}

# The shipped hooks.d files (createRuntime and poststop for fakegpu.io/ annotations) in
# podman's hooks directory, or none (the CDI route).
hooks_d() {
  rm -f $E/usr/share/containers/oci/hooks.d/fakegpu*.json
  [ "$1" = on ] && cp /fakegpu/hooks.d/*.json $E/usr/share/containers/oci/hooks.d/
  return 0
}

# podman with the shipped hooks.d files, under runc and under crun: GPU 1 with 96 MiB.
podman_hooks_route() {
  setup || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  engines_root && podman_image && hooks_d on || return 1
  for runtime in runc crun; do
    in_root podman --runtime $runtime run --rm --annotation fakegpu.io/devices=1 \
      --annotation fakegpu.io/memory.max=96M -e ASK=134217728 -e NODE=/dev/nvidia1 $NV_VOLUMES \
      $IMAGE sh -c "$STORY" > /tmp/podman-hooks 2>&1
    echo "podman with $runtime exited $?"
    told_the_story /tmp/podman-hooks 96 || return 1
    grep -q '^/dev/nvidia1$' /tmp/podman-hooks || fail "GPU 1 should keep its node name" || return 1
  done
  bad_request_aborts --runtime runc --annotation fakegpu.io/memory.max=lots || return 1
  nothing_left
}

# podman with fakegpu's CDI spec (`fakegpu cdi generate`) and crun, its default runtime:
# GPU 0 by its CDI name, 64 MiB.
podman_cdi_route() {
  setup || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  engines_root && podman_image && hooks_d off || return 1
  in_root fakegpu cdi generate > $E/etc/cdi/fakegpu.json || return 1
  in_root podman run --rm --device fakegpu.io/gpu=0 --annotation fakegpu.io/memory.max=64M \
    --annotation run.oci.hooks.stderr=/tmp/crun-hooks.err \
    -e ASK=100663296 -e NODE=/dev/nvidia0 $NV_VOLUMES $IMAGE sh -c "stat -c 'node %n %t:%T' /dev/nvidia0; $STORY" \
    > /tmp/podman-cdi 2>&1
  echo "podman exited $?"
  cat /tmp/crun-hooks.err 2>/dev/null
  told_the_story /tmp/podman-cdi 64 || return 1
  grep -q 'node /dev/nvidia0 c3:0' /tmp/podman-cdi || fail "the node should show NVIDIA's 195:0" || return 1
  bad_request_aborts --device fakegpu.io/gpu=0 --annotation fakegpu.io/memory.max=lots || return 1
  nothing_left
}

# The test image as an archive of format $1 (oci-archive, docker-archive), for engines that
# load images from archives: /tmp/image-$1.tar.
image_archive() {
  [ -s /tmp/image-$1.tar ] && return 0
  podman_image && in_root podman save -q --format $1 -o /tmp/image-$1.tar $IMAGE
}

# Waits up to $2 tenths of a second for the socket $1 in the root.
wait_socket() {
  i=0
  until [ -S $E$1 ] || [ $i -gt "$2" ]; do sleep 0.1; i=$((i + 1)); done
  [ -S $E$1 ] || fail "no $1 after $(($2 / 10)) s"
}

# containerd 2 with its own client, ctr, which resolves CDI devices itself (`--device` with a
# CDI name, from /etc/cdi): the path a user without Kubernetes takes. The native snapshotter
# (the root is a tmpfs) and runc, containerd's default; no CPU shares (ctr asks 1024 by
# default, and the test kernel has no CPU controller). GPU 0 with 80 MiB.
containerd_cdi_route() {
  setup || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  engines_root && image_archive oci-archive || return 1
  in_root fakegpu cdi generate > $E/etc/cdi/fakegpu.json || return 1
  in_root containerd > /tmp/containerd.log 2>&1 & d=$!
  wait_socket /run/containerd/containerd.sock 300 || { cat /tmp/containerd.log; return 1; }
  ctr="ctr --namespace fakegpu"
  in_root $ctr image import --snapshotter native --local /tmp/image-oci-archive.tar > /dev/null || { kill $d; return 1; }
  img=$(in_root $ctr image ls -q | head -n 1)
  mounts="--mount type=bind,src=/nvidia/usr,dst=/usr,options=rbind:ro --mount type=bind,src=/lib,dst=/lib,options=rbind:ro --mount type=bind,src=/lib64,dst=/lib64,options=rbind:ro"
  in_root $ctr run --rm --cpu-shares 0 --snapshotter native --device fakegpu.io/gpu=0 \
    --annotation fakegpu.io/memory.max=80M --env ASK=100663296 --env NODE=/dev/nvidia0 \
    --env LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu $mounts "$img" story sh -c "$STORY" \
    > /tmp/containerd-cdi 2>&1
  echo "ctr exited $?"
  told_the_story /tmp/containerd-cdi 80 || { kill $d; return 1; }
  in_root $ctr run --rm --cpu-shares 0 --snapshotter native --device fakegpu.io/gpu=0 \
    --annotation fakegpu.io/memory.max=lots "$img" bad true > /tmp/bad 2>&1 &&
    { kill $d; fail "a bad request started"; return 1; }
  cat /tmp/bad
  grep -q 'fakegpu hook .*memory.max' /tmp/bad || { kill $d; fail "no line of fakegpu's saying why"; return 1; }
  left=$(in_root $ctr container ls -q)
  kill $d; wait $d
  [ -z "$left" ] || fail "containers left: $left" || return 1
  ! grep -q /fakegpu/ /sys/kernel/fakegpu/cgroups/control ||
    fail "entries left: $(cat /sys/kernel/fakegpu/cgroups/control)" || return 1
  ! grep -q 'fakegpu-nodes' /proc/mounts || fail "node binds left: $(grep fakegpu-nodes /proc/mounts)"
}

# Docker 28 with `--device` naming fakegpu's CDI devices (CDI is on by default), dockerd
# started in the root (no network, vfs storage), the image loaded from an archive. GPU 1 by
# its CDI name, 48 MiB.
docker_cdi_route() {
  setup || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  engines_root && image_archive docker-archive || return 1
  in_root fakegpu cdi generate > $E/etc/cdi/fakegpu.json || return 1
  in_root dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    > /tmp/dockerd.log 2>&1 & d=$!
  wait_socket /run/docker.sock 600 || { cat /tmp/dockerd.log; return 1; }
  in_root docker load -q -i /tmp/image-docker-archive.tar || { kill $d; return 1; }
  img=$(in_root docker images -q | head -n 1)
  in_root docker run --rm --network none --device fakegpu.io/gpu=1 \
    --annotation fakegpu.io/memory.max=48M -e ASK=67108864 -e NODE=/dev/nvidia1 $NV_VOLUMES \
    "$img" sh -c "$STORY" > /tmp/docker-cdi 2>&1
  echo "docker exited $?"
  told_the_story /tmp/docker-cdi 48 || { kill $d; return 1; }
  in_root docker run --rm --network none --device fakegpu.io/gpu=1 \
    --annotation fakegpu.io/memory.max=lots "$img" true > /tmp/bad 2>&1 &&
    { kill $d; fail "a bad request started"; return 1; }
  cat /tmp/bad
  grep -q 'fakegpu hook .*memory.max' /tmp/bad || { kill $d; fail "no line of fakegpu's saying why"; return 1; }
  left=$(in_root docker ps -aq)
  kill $d; wait $d
  [ -z "$left" ] || fail "containers left: $left" || return 1
  ! grep -q /docker/ /sys/kernel/fakegpu/cgroups/control ||
    fail "entries left: $(cat /sys/kernel/fakegpu/cgroups/control)" || return 1
  ! grep -q 'fakegpu-nodes' /proc/mounts || fail "node binds left: $(grep fakegpu-nodes /proc/mounts)"
}

case=$1; shift
"$case" "$@"
