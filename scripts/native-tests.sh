#!/usr/bin/env bash
# Builds and runs the native core's tests on their own, without Node: unit tests and the
# two-thread / two-process stress test under AddressSanitizer+UBSan and ThreadSanitizer, then a
# bounded fuzz run of the header parsing (libFuzzer with clang; where clang cannot be had, a
# standalone random/mutating driver under g++ -fsanitize=address,undefined).
#
#   npm run test:native            (STRESS_FRAMES=1000000 FUZZ_SECONDS=60 by default)
#
# Sized for ~4 minutes on 2 cores: the 10^6-frame runs use small frames (up to 48x48, many in two
# scanline blocks through an 8 KiB file); the second run of each sanitizer uses a fifth of that.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${NATIVE_TEST_DIR:-$root/native/build-tests}"
frames="${STRESS_FRAMES:-1000000}"
fuzz_seconds="${FUZZ_SECONDS:-60}"
cxx="${CXX:-g++}"
mkdir -p "$out"

core=("$root"/native/shmem_layout.cc "$root"/native/shmem_handoff.cc "$root"/native/shmem_file.cc "$root"/native/shmem_stream.cc "$root"/native/shmem_copy.cc "$root"/native/shmem_waiter.cc "$root"/native/frame_pool.cc)
flags=(-std=c++20 -g -O1 -Wall -Wextra -pthread -fno-omit-frame-pointer)
asan=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
tsan=(-fsanitize=thread -Wno-tsan)
# Our SIGBUS guard must own SIGBUS (it is what the truncation test exercises).
export ASAN_OPTIONS="handle_sigbus=0:abort_on_error=0:halt_on_error=1"
export TSAN_OPTIONS="handle_sigbus=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

passed=0
failed=0
step() { # name, command...
  local name="$1"; shift
  echo "# $name"
  if "$@"; then passed=$((passed + 1)); echo "ok - $name"; else failed=$((failed + 1)); echo "not ok - $name"; fi
}
build() { # output, sanitizer flags..., -- sources...
  local output="$1"; shift
  "$cxx" "${flags[@]}" "$@" -o "$out/$output"
}

step "build asan core_test" build core_test_asan "${asan[@]}" "${core[@]}" "$root/native/tests/core_test.cc"
step "build asan stress_test" build stress_test_asan "${asan[@]}" "${core[@]}" "$root/native/tests/stress_test.cc"
step "build tsan core_test" build core_test_tsan "${tsan[@]}" "${core[@]}" "$root/native/tests/core_test.cc"
step "build tsan stress_test" build stress_test_tsan "${tsan[@]}" "${core[@]}" "$root/native/tests/stress_test.cc"
step "build asan copy_waiter_test" build copy_waiter_test_asan "${asan[@]}" "${core[@]}" "$root/native/tests/copy_waiter_test.cc"
step "build tsan copy_waiter_test" build copy_waiter_test_tsan "${tsan[@]}" "${core[@]}" "$root/native/tests/copy_waiter_test.cc"
step "build asan frame_pool_test" build frame_pool_test_asan "${asan[@]}" "${core[@]}" "$root/native/tests/frame_pool_test.cc"
step "build tsan frame_pool_test" build frame_pool_test_tsan "${tsan[@]}" "${core[@]}" "$root/native/tests/frame_pool_test.cc"

step "asan core_test" "$out/core_test_asan"
step "tsan core_test" "$out/core_test_tsan"
step "asan copy_waiter_test" "$out/copy_waiter_test_asan"
step "tsan copy_waiter_test" "$out/copy_waiter_test_tsan"
step "asan frame_pool_test" "$out/frame_pool_test_asan"
step "tsan frame_pool_test" "$out/frame_pool_test_tsan"
step "tsan stress: two threads, $frames frames" "$out/stress_test_tsan" threads "$frames"
step "tsan stress: two processes, $((frames / 5)) frames" "$out/stress_test_tsan" processes "$((frames / 5))"
step "asan stress: two processes, $frames frames" "$out/stress_test_asan" processes "$frames"
step "asan stress: two threads, $((frames / 5)) frames" "$out/stress_test_asan" threads "$((frames / 5))"
# A producer that never wakes: every wait ends by looking again (the consumer predicts frames).
step "tsan stress: two threads, silent producer, $((frames / 20)) frames" "$out/stress_test_tsan" threads "$((frames / 20))" 8192 silent
step "asan stress: two processes, silent producer, $((frames / 20)) frames" "$out/stress_test_asan" processes "$((frames / 20))" 8192 silent

# libFuzzer needs clang and its runtime (.ci/run installs them; a test run never installs
# anything): without them, the standalone driver under g++ below.
fuzz_sources=("${core[@]}" "$root/native/tests/fuzz_header.cc")
if command -v clang++ >/dev/null 2>&1 &&
   clang++ "${flags[@]}" -fsanitize=fuzzer,address,undefined "${fuzz_sources[@]}" -o "$out/fuzz_header" 2>"$out/fuzz-build.log"; then
  mkdir -p "$out/corpus"
  step "libFuzzer: header parsing, ${fuzz_seconds}s" \
    "$out/fuzz_header" -max_total_time="$fuzz_seconds" -print_final_stats=1 "$out/corpus"
else
  echo "# clang/libFuzzer unavailable: standalone fuzz driver under g++ ASan+UBSan"
  step "build fuzz driver" build fuzz_driver "${asan[@]}" "${fuzz_sources[@]}" "$root/native/tests/fuzz_driver.cc"
  step "fuzz driver: header parsing, ${fuzz_seconds}s" "$out/fuzz_driver" "$fuzz_seconds"
fi

echo "native: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
