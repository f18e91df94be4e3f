#!/usr/bin/env bash
# Install dependencies, build, and run every test (C++ and Python) with the
# Vulkan validation layer on. In CI this runs on lavapipe.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$@"
build="${VKATTN_BUILD_DIR:-$root/build}"
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 1200
