#!/usr/bin/env bash
# cargo-fuzz on the parsers and ABI decoders (tests/fuzz), each target for FUZZ_PARSER_SECONDS
# (default 60). Needs a nightly toolchain (libFuzzer's sanitizers), which install-deps.sh
# installs with rustup where rustup is; without either it says so loudly and skips. Corpora
# and crashes stay in tests/fuzz/{corpus,artifacts} (ignored).
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=fuzz-parsers

seconds=${FUZZ_PARSER_SECONDS:-60}
"$FAKEGPU_ROOT/scripts/install-deps.sh" fuzz
if ! cargo +nightly --version >/dev/null 2>&1; then
  say "NOTICE: no nightly Rust toolchain (rustup toolchain install nightly): the parser fuzz targets did NOT run"
  exit 0
fi
cd "$FAKEGPU_ROOT"
fuzz=(cargo +nightly fuzz)
dir=tests/fuzz
"${fuzz[@]}" build --fuzz-dir "$dir" >&2
status=0
for target in $("${fuzz[@]}" list --fuzz-dir "$dir"); do
  mkdir -p "$dir/corpus/$target"
  log=$FAKEGPU_BUILD/fuzz-$target.log
  mkdir -p "$FAKEGPU_BUILD"
  if "${fuzz[@]}" run --fuzz-dir "$dir" "$target" -- -max_total_time="$seconds" \
      -print_final_stats=1 > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    say "$target: ${runs:-?} execs in ${seconds}s, no finding (corpus $(ls "$dir/corpus/$target" | wc -l) inputs)"
  else
    status=1
    say "$target: FINDING (see $log and $dir/artifacts/$target):"
    grep -E 'panicked|ERROR: AddressSanitizer|Test unit written' "$log" | head -5 >&2 || true
  fi
done
exit $status
