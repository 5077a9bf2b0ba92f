#!/usr/bin/env bash
# Runs test files while two busy processes keep the CPUs loaded, to show that the tests assert
# correctness and not speed (a test must pass on a loaded machine). The busy processes are this
# script's own children, stopped by pid when it ends however it ends.
#
#   scripts/test-under-load.sh [node|bun|deno] [test files or directories ...]
#
# Default: Node, and the tests that once failed only under load plus the ones most sensitive to
# scheduling (deadlines, reconnects, subscriptions, server death, exit paths, hostile servers).
# BUSY=n sets the number of busy processes (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

runtime=${1:-node}
shift || true
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(
    test/dial/deadline.test.ts
    test/dial/reconnect.test.ts
    test/dial/client-reconnect.test.ts
    test/emulator/subscriptions.test.ts
    test/client/streams.test.ts
    test/client/shmem.test.ts
    test/client/server-death.test.ts
    test/client/exit-paths.test.ts
    test/client/exit-signals.test.ts
    test/client/hostile.test.ts
  )
fi

busy=()
stop_busy() {
  for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait "${busy[@]}" 2>/dev/null || true
}
trap stop_busy EXIT
for _ in $(seq 1 "${BUSY:-2}"); do
  node -e 'for (;;) {}' &
  busy+=($!)
done
echo "busy processes: ${busy[*]} (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"

status=0
case "$runtime" in
  node) npx tap --disable-coverage "${files[@]}" || status=$? ;;
  bun | deno) node scripts/run-tests.mjs "$runtime" "${files[@]}" || status=$? ;;
  *)
    echo "usage: $0 [node|bun|deno] [files ...]" >&2
    exit 2
    ;;
esac
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
