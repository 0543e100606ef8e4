# Private apt state for fetching NVIDIA's Debian packages (non-free component of the
# machine's own Debian mirror) without touching any system file. Source it after common.sh;
# then `nvidia_apt_sources`, `nvidia_apt apt-get|apt-cache ...`, `nvidia_apt_version PKG PREFIX`,
# and `nvidia_skip WHAT-IS-NOT-TESTED REASON` to give up loudly (fatal with
# FAKEGPU_REQUIRE_NVIDIA=1). fetch-cuda-runtime.sh sources it for nvidia_skip alone.
# shellcheck shell=bash

# The Debian suite to fetch from: the machine's own (bookworm: NVIDIA 535) unless the
# caller sets NVIDIA_SUITE (e.g. trixie: NVIDIA 550). Each suite has its own apt state.
NVIDIA_SUITE=${NVIDIA_SUITE:-}
NVIDIA_APT_DIR=$FAKEGPU_CACHE/nvidia-apt${NVIDIA_SUITE:+-$NVIDIA_SUITE}

# Writes the private sources (the machine's Debian sources with contrib and non-free added;
# with NVIDIA_SUITE, the same mirrors pointed at that suite, security archive left out).
# Fails if the machine has no Debian sources.
nvidia_apt_sources() {
  local d=$NVIDIA_APT_DIR f
  local suite_edit=(-e 's/^Components:.*/Components: main contrib non-free non-free-firmware/')
  [ -n "$NVIDIA_SUITE" ] && suite_edit+=(-e "s/^Suites:.*/Suites: $NVIDIA_SUITE/")
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/sources.d"
  rm -f "$d"/sources.d/*
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q '^URIs:.*debian' "$f" || continue
    # Stanzas are separated by blank lines; another suite takes none of the security ones.
    awk -v drop="${NVIDIA_SUITE:+security}" 'BEGIN { RS = ""; ORS = "\n\n" }
      drop == "" || !/URIs:[^\n]*security/' "$f" | sed -E "${suite_edit[@]}" >"$d/sources.d/${f##*/}"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb .*debian' /etc/apt/sources.list | nvidia_apt_suite_lines | sort -u >"$d/sources.d/debian.list" || true
  fi
  ls "$d"/sources.d/* >/dev/null 2>&1
}

# One-line sources on stdin with contrib and non-free added; with NVIDIA_SUITE, that suite
# instead of theirs and no security archive.
nvidia_apt_suite_lines() {
  local line
  while read -r line; do
    line=$(echo "$line" | sed -E 's/^(deb +(\[[^]]*\] +)?[^ ]+ +[^ ]+) .*/\1 main contrib non-free non-free-firmware/')
    if [ -n "$NVIDIA_SUITE" ]; then
      case $line in *security*) continue ;; esac
      line=$(echo "$line" | sed -E "s/^(deb +(\[[^]]*\] +)?[^ ]+) +[^ ]+ /\1 $NVIDIA_SUITE /")
    fi
    echo "$line"
  done
}

# apt-get or apt-cache (first argument) with the private state.
nvidia_apt() {
  local tool=$1; shift
  "$tool" -o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$NVIDIA_APT_DIR/sources.d" \
    -o "Dir::State::Lists=$NVIDIA_APT_DIR/lists" -o "Dir::Cache=$NVIDIA_APT_DIR/cache" \
    -o "APT::Sandbox::User=root" "$@"
}

# The newest version of package $1 starting with $2 in the private lists, or nothing.
nvidia_apt_version() {
  nvidia_apt apt-cache madison "$1" | awk -v v="$2" '$3 ~ "^"v {print $3; exit}'
}

# Ends the script with success and a loud notice that $1 (what will not be tested) is
# skipped, because of $2; with FAKEGPU_REQUIRE_NVIDIA=1 (CI: .ci/run) it ends it with a
# failure instead, so NVIDIA's cases cannot silently go unrun.
nvidia_skip() {
  if [ "${FAKEGPU_REQUIRE_NVIDIA:-}" = 1 ]; then
    say "!!! FAILED: $2 — $1, and FAKEGPU_REQUIRE_NVIDIA=1 forbids skipping it !!!"
    exit 1
  fi
  say "!!! SKIPPED: $2 — $1 !!!"
  exit 0
}
