#!/usr/bin/env bash
# Configure and build vkattn into build/ (Release; warnings are errors).
# Extra arguments go to CMake, e.g. -DVKATTN_SANITIZE=ON.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${VKATTN_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${VKATTN_BUILD_TYPE:-Release}" -DVKATTN_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
