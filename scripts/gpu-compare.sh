#!/usr/bin/env bash
# Runs vkattn-bench and the peers on the same GPU in one go, so that ratios
# compare like with like. For the GPU machine (see ../shared/device/README.md):
#   bash .device/setup.sh && scripts/gpu-compare.sh build OUTDIR [vkattn-bench args...]
# Writes OUTDIR/vkattn.json (+ .csv, .svg), OUTDIR/ggml.txt, OUTDIR/torch.txt;
# then `python3 tools/bench/peer_table.py OUTDIR` prints the README table.
set -u
build="$1"; out="$2"; shift 2
peers="${VKATTN_PEERS:-.device/peers}"
mkdir -p "$out"
# Self-attention shapes of assets/suites/real_models.json that the peers can run (B H N D).
shapes=("2 8 4096 40" "2 10 4096 64" "2 20 1024 64" "2 24 4250 64" "1 24 4352 128" "1 40 32760 128" "1 1 16384 512")

"$build/tools/bench/vkattn-bench" --suite assets/suites/real_models.json -q \
  --json "$out/vkattn.json" --csv "$out/vkattn.csv" --plot "$out/vkattn.svg" "$@"
echo "vkattn-bench exit $?"

: > "$out/ggml.txt"
for s in "${shapes[@]}"; do
  reps=5; [[ "$s" == *32760* ]] && reps=1
  for path in coopmat2 coopmat1 scalar; do
    env=()
    [ "$path" != coopmat2 ] && env+=(GGML_VK_DISABLE_COOPMAT2=1)
    [ "$path" = scalar ] && env+=(GGML_VK_DISABLE_COOPMAT=1)
    line=$(env "${env[@]}" timeout 150 "$peers/ggml_fa_bench" "$peers" $s $reps 0 2>&1 | grep "ggml-vulkan FA" | tail -1)
    [ -n "$line" ] || line="ggml-vulkan FA B=${s// /?} failed"
    echo "$path $line" | tee -a "$out/ggml.txt"
  done
done

args=()
for s in "${shapes[@]}"; do set -- $s; args+=("sdpa:$1,$2,$3,$4"); done
timeout 300 python3 "$peers/torch_ops_bench.py" "${args[@]}" 2>&1 | tee "$out/torch.txt"
