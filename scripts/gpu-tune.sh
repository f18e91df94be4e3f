#!/usr/bin/env bash
# Sweeps kernel variants on one device: for each VKATTN_COOPMAT_TILE suffix
# ("-" = the automatic choice), runs vkattn-bench on the selected cases with
# VKATTN_PIPELINE_STATS=1, so the driver's register/spill statistics of every
# pipeline land beside the timings.
#   scripts/gpu-tune.sh BUILD OUTDIR FILTER[,FILTER..] SUFFIX... [-- vkattn-bench args]
# SUITE=<json> picks another suite (default assets/suites/real_models.json);
# TUNE_VAR=<name> sweeps another variable, e.g. VKATTN_ATTN_FAST for the
# portable kernel's tiling "wg,br,bc,tc,otc,dc" (pass --backend portable).
# Writes OUTDIR/tune-<suffix>.json and OUTDIR/tune.txt (timings + statistics).
set -u
build="$1"; out="$2"; filter="$3"; shift 3
suffixes=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do suffixes+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
mkdir -p "$out"
for s in "${suffixes[@]}"; do
  tile="$s"; [ "$s" = "-" ] && tile=""
  var="${TUNE_VAR:-VKATTN_COOPMAT_TILE}"
  echo "=== $var=${tile:-auto}" | tee -a "$out/tune.txt"
  env VKATTN_PIPELINE_STATS=1 "$var=$tile" \
    "$build/tools/bench/vkattn-bench" --suite "${SUITE:-assets/suites/real_models.json}" --filter "$filter" -q \
    --json "$out/tune-${s//,/_}.json" "$@" 2>&1 |
    grep -E "^(case|[a-z0-9_]+ +[0-9]+x)|vkattn: pipeline attention" | tee -a "$out/tune.txt"
done
