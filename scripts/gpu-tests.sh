#!/usr/bin/env bash
# Runs every staged test binary (scripts/gpu-stage.sh) and the Python bridge
# tests on the GPU machine: one summary line each on stdout and in
# OUTDIR/summary.txt, every log in OUTDIR/logs.txt (two files: the device
# tool brings back at most eight).
#   bash .device/setup.sh && bash gpu/unpack.sh && scripts/gpu-tests.sh OUTDIR
# Exits non-zero when any of them failed.
set -u
out="${1:?usage: scripts/gpu-tests.sh OUTDIR}"
mkdir -p "$out"
logs="$(mktemp -d)"
export LD_LIBRARY_PATH="$PWD/gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fail=0
for t in gpu/tests/test_*; do
  name="$(basename "$t")"
  start=$(date +%s)
  timeout 900 "$t" > "$logs/$name.txt" 2>&1
  rc=$?
  [ $rc -eq 0 ] || fail=1
  summary=$(grep -E "^(All tests passed|test cases:|assertions:)" "$logs/$name.txt" | tr '\n' ' ')
  echo "$name rc=$rc $(( $(date +%s) - start ))s ${summary:-(no summary)}" | tee -a "$out/summary.txt"
done
if python3 -c "import torch, pytest" 2>/dev/null; then
  VKATTN_LIBRARY="$PWD/gpu/libvkattn.so" PYTHONPATH="$PWD/python_bridge" \
    timeout 900 python3 -m pytest -q tests/python > "$logs/pytest.txt" 2>&1
  rc=$?
  [ $rc -eq 0 ] || fail=1
  echo "pytest rc=$rc $(tail -1 "$logs/pytest.txt")" | tee -a "$out/summary.txt"
fi
for f in "$logs"/*.txt; do
  echo "===== $(basename "$f" .txt)"
  cat "$f"
done > "$out/logs.txt"
rm -rf "$logs"
exit $fail
