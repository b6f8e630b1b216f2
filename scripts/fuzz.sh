#!/usr/bin/env bash
# libFuzzer over the DN, filter and LDIF parsers (Sources/GWDirFuzz), each for a bounded time
# from the committed seed corpus in Fuzz/corpus/<target>. Any crash, leak or broken invariant
# fails the run and leaves the input in .build-fuzz/artifacts/. Usage:
#   scripts/fuzz.sh [seconds per target, default 90] [targets…, default: dn filter ldif]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-90}"
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then targets=("$@"); else targets=(dn filter ldif); fi

scratch=.build-fuzz
# --sanitize=fuzzer makes SwiftPM link with libFuzzer's main; the compile also needs one
# -sanitize=fuzzer,address: given as two flags, swiftc 6.3 keeps only the last, and the Swift
# code gets no coverage instrumentation (libFuzzer then runs blind).
swift build --scratch-path "$scratch" --product gwdir-fuzz --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DGWDIR_FUZZING
binary="$scratch/debug/gwdir-fuzz"
mkdir -p "$scratch/artifacts"

for target in "${targets[@]}"; do
  echo "-- fuzzing $target for ${seconds}s (seed corpus Fuzz/corpus/$target)"
  # New inputs go to a scratch copy, so the committed corpus only changes on purpose.
  work="$scratch/corpus/$target"
  mkdir -p "$work"
  set +e
  GWDIR_FUZZ_TARGET="$target" ASAN_OPTIONS="detect_leaks=1" SWIFT_BACKTRACE="enable=no" "$binary" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$scratch/artifacts/$target-" "$work" "Fuzz/corpus/$target" 2>&1 | tail -n 12
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "fuzzing $target failed (exit $status); the input is in $scratch/artifacts/" >&2
    exit 1
  fi
done
