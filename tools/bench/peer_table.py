#!/usr/bin/env python3
"""Turns one scripts/gpu-compare.sh run into the README's comparison table.

usage: peer_table.py OUTDIR   (reads OUTDIR/vkattn.json, ggml.txt, torch.txt)
       peer_table.py PREFIX   (reads PREFIX-vkattn.json, PREFIX-ggml.txt, PREFIX-torch.txt,
                               e.g. docs/results/2026-11-21-h200)
Ratios are vkattn TFLOP/s over the peer's, all measured in the same run.
"""
import json
import re
import sys
from pathlib import Path


def main(out):
    out = Path(out)
    name = (lambda n: out / n) if out.is_dir() else (lambda n: Path(f"{out}-{n}"))
    data = json.loads(name("vkattn.json").read_text())
    ggml = {}
    for line in name("ggml.txt").read_text().splitlines():
        m = re.match(r"(\w+) ggml-vulkan FA B=(\d+) H=(\d+) N=(\d+) D=(\d+): ([\d.]+) ms\s+([\d.]+) TFLOP/s", line)
        if m:
            ggml[(m.group(1), "x".join(m.group(i) for i in range(2, 6)))] = float(m.group(7))
    torch = {}
    for line in name("torch.txt").read_text().splitlines():
        m = re.match(r"sdpa B=(\d+) H=(\d+) N=(\d+) Nk=(\d+) D=(\d+): (.*)", line)
        if not m:
            continue
        shape = "x".join([m.group(1), m.group(2), m.group(3), m.group(5)])
        for name, tf in re.findall(r"(\w+)=[\d.]+ms/(\d+)TF", m.group(6)):
            torch[(name, shape)] = float(tf)
    best = {}
    for r in data["results"]:
        if r.get("op", "attention") != "attention" or r.get("outcome") != "ok" or r["Nq"] != r["Nk"] \
                or r.get("mask", "none") != "none":
            continue
        best.setdefault(r["shape"], {})[r["backend"]] = r
    dev = data["device"]
    print(f"Measured {data['date']} on {dev['name']} (driver {dev.get('driver_info', '')}, Vulkan {dev.get('api_version', '')}), "
          f"f16 inputs, TFLOP/s = 4·B·H·N²·D / GPU time (vkattn: timestamps; ggml: wall clock over 8-node graphs; torch: CUDA events).\n")
    print("| shape (BxHxNxD) | vkattn auto (path) | vkattn portable | ggml coopmat2 | ggml coopmat1 | ggml scalar | torch flash | "
          "auto / coopmat2 | portable / scalar | auto / torch flash |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def ratio(a, b):
        return f"{a / b:.2f}x" if a and b else "n/a"

    for shape, by in best.items():
        auto = by.get("auto")
        port = by.get("portable", auto if auto and auto["path"].startswith("portable") else None)
        a_tf = auto["tflops"] if auto else None
        p_tf = port["tflops"] if port else None
        c2, c1, sc = (ggml.get((p, shape)) for p in ("coopmat2", "coopmat1", "scalar"))
        fl = torch.get(("flash", shape))
        fmt = lambda x: f"{x:.1f}" if x else "not run"
        print(f"| {shape} | {fmt(a_tf)} ({auto['path'] if auto else '-'}) | {fmt(p_tf)} | {fmt(c2)} | {fmt(c1)} | {fmt(sc)} | "
              f"{fmt(fl)} | {ratio(a_tf, c2)} | {ratio(p_tf, sc)} | {ratio(a_tf, fl)} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
