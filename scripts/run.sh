#!/usr/bin/env bash
# The main job: install dependencies, build, then run vkattn-bench on the
# default Vulkan device (lavapipe where there is no GPU: a small suite there).
# Extra arguments go to vkattn-bench.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build="${VKATTN_BUILD_DIR:-$root/build}"
"$build/tools/vkattn-info"
bench="$build/tools/bench/vkattn-bench"
if [ $# -gt 0 ]; then exec "$bench" "$@"; fi
# lavapipe is a CPU: the real-model suite would take hours there.
if "$build/tools/vkattn-info" | grep -q "(default)" && "$build/tools/vkattn-info" | grep -A1 "(default)" | grep -q "type *CPU"; then
  exec "$bench" --suite "$root/assets/suites/lavapipe_small.json"
fi
exec "$bench" --suite "$root/assets/suites/real_models.json"
