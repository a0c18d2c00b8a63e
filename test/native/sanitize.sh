#!/usr/bin/env bash
# Builds the addon with -fsanitize=address,undefined, runs the native checks and
# the integration tests that load prctl.c (master, workers and reaper inherit the
# preloaded runtimes), then rebuilds the normal addon. Linux with gcc.
set -euo pipefail
cd "$(dirname "$0")/../.."
restore() { npm run build:native >/dev/null; }
trap restore EXIT
CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g" LDFLAGS="-fsanitize=address,undefined" npm run build:native >/dev/null
npm run build >/dev/null
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
# node itself does not free everything at exit: leaks are not what this looks for.
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
node test/native/prctl-sanitizers.cjs
node --test --test-concurrency=1 dist/test/integration/orphans.test.js dist/test/integration/stop-budget.test.js dist/test/integration/worker-notify.test.js
