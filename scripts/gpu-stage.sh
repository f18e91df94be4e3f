#!/usr/bin/env bash
# Builds vkattn in Release and stages what the GPU machine runs into gpu/
# (ignored by git), xz-compressed so that the library, the tools and every
# test binary fit the device tool's 64 MiB carry together with .device/
# (../shared/device/README.md). On the device:
#   bash .device/setup.sh && bash gpu/unpack.sh && export LD_LIBRARY_PATH=$PWD/gpu && ...
# Environment: BUILD (default build-rel), TUNING=ON embeds the tuning
# variants (scripts/gpu-tune.sh), TESTS="test_a test_b" stages only those
# tests (default: all), TESTS=none stages none.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build-rel}"
cd "$root"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVKATTN_TUNING_VARIANTS="${TUNING:-OFF}" >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
rm -rf gpu
mkdir -p gpu/tests gpu/tools/bench
cp -a "$build"/libvkattn.so* gpu/
cp "$build/tools/bench/vkattn-bench" gpu/tools/bench/
cp "$build/tools/vkattn-info" "$build/tools/vkattn-coopmat-peak" gpu/tools/
if [ "${TESTS:-all}" = all ]; then
  for t in "$build"/tests/test_*; do [ -x "$t" ] && [ -f "$t" ] && cp "$t" gpu/tests/; done
elif [ "${TESTS}" != none ]; then
  for t in $TESTS; do cp "$build/tests/$t" gpu/tests/; done
fi
for f in gpu/libvkattn.so.*.* gpu/tools/bench/vkattn-bench gpu/tools/vkattn-* gpu/tests/*; do
  [ -f "$f" ] || continue
  strip "$f"
  xz -T "$(nproc)" -6 "$f"
done
cat > gpu/unpack.sh <<'UNPACK'
# Decompresses what scripts/gpu-stage.sh staged (run from the repository root).
for f in $(find gpu -name '*.xz'); do
  xz -d "$f" 2>/dev/null ||
    python3 -c "import lzma,os,sys; p=sys.argv[1]; open(p[:-3],'wb').write(lzma.decompress(open(p,'rb').read())); os.remove(p)" "$f"
  chmod +x "${f%.xz}"
done
UNPACK
du -sh gpu .device 2>/dev/null || du -sh gpu
