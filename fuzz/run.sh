#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, starting from the committed seeds in
# fuzz/corpus/<target>; fails on the first crash (its input is kept in fuzz/artifacts/).
#
#   fuzz/run.sh                      # CI: 20 s per target (7 targets, about 2.5 minutes)
#   FUZZ_SECONDS=600 fuzz/run.sh     # longer
#   FUZZ_RUNS=10000000 FUZZ_SECONDS=0 fuzz/run.sh signature   # 10 M executions of one target
#   FUZZ_MAX_LEN=512 …               # inputs of at most 512 bytes (libFuzzer's -max_len)
#
# libFuzzer needs `-Zsanitizer=address`; on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# rustc accept it (docs/fuzzing.md). Inputs the fuzzer finds go to fuzz/found/<target>
# (not committed).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v c++ >/dev/null; then # libFuzzer is C++
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(frame_binary frame_base64 query_where message_json signature lc_sign conv_update)
fi
seconds=${FUZZ_SECONDS:-20}
runs=${FUZZ_RUNS:--1}
max_len=()
if [ -n "${FUZZ_MAX_LEN:-}" ]; then
  max_len=(-max_len="$FUZZ_MAX_LEN")
fi

cargo fuzz build
for target in "${targets[@]}"; do
  mkdir -p "found/$target" "corpus/$target"
  echo "== fuzz $target (${seconds}s, runs ${runs})"
  start=$(date +%s)
  status=0
  cargo fuzz run "$target" "found/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -runs="$runs" "${max_len[@]}" -print_final_stats=1 >"found/$target.log" 2>&1 || status=$?
  grep -E '^#[0-9]+\s+DONE|stat::number_of_executed_units|panicked|ERROR|SUMMARY' "found/$target.log" || true
  echo "== $target: exit $status after $(( $(date +%s) - start ))s"
  if [ "$status" -ne 0 ]; then
    tail -n 60 "found/$target.log" >&2
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
done
