#!/usr/bin/env python3
"""Attention at the shapes of real diffusion models through the Python bridge:
host (CPU) torch tensors -> vkattn on the Vulkan device -> host, wall clock
with every transfer included, against PyTorch's own CPU attention in the same
run (and torch CUDA SDPA where CUDA torch is present, for honesty).

    PYTHONPATH=python_bridge python3 tools/bench_bridge.py                # flux, sd15, sdxl
    PYTHONPATH=python_bridge python3 tools/bench_bridge.py --cases all --json out.json

Each case is verified once (a sample of rows of the first and last head
against a float64 reference) before it is timed. PyTorch's CPU attention
is timed on a subset of heads (and of query rows for huge shapes) and scaled
up linearly; the table says so in the "cpu scaled" column.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python_bridge"))

import torch  # noqa: E402

import vkattn  # noqa: E402

# name: (B, H, Nq, Nk, D, note)
CASES = {
    "flux": (1, 24, 4352, 4352, 128, "Flux 1024x1024 (4096 image + 256 text tokens)"),
    "sd15_self": (2, 8, 4096, 4096, 40, "SD1.5 512x512 first block self-attention"),
    "sd15_cross": (2, 8, 4096, 77, 40, "SD1.5 512x512 cross-attention"),
    "sdxl_self_4096": (2, 10, 4096, 4096, 64, "SDXL 1024x1024 self-attention, 64x64 latent level"),
    "sdxl_self_1024": (2, 20, 1024, 1024, 64, "SDXL 1024x1024 self-attention, 32x32 latent level"),
    "sdxl_cross": (2, 10, 4096, 77, 64, "SDXL cross-attention"),
    "sd3": (2, 24, 4250, 4250, 64, "SD3 medium 1024x1024 joint attention"),
    "wan_self": (1, 40, 32760, 32760, 128, "WAN 2.1 14B 480p 81 frames self-attention"),
    "wan_cross": (1, 40, 32760, 512, 128, "WAN 2.1 cross-attention"),
    "vae_mid": (1, 1, 16384, 16384, 512, "VAE mid-block 1024x1024"),
}
GROUPS = {"default": ["flux", "sd15_self", "sd15_cross", "sdxl_self_4096", "sdxl_self_1024", "sdxl_cross"],
          "all": list(CASES)}
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def timed(fn, repeat, warmup, sync=None):
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times), times


def torch_cpu_sdpa():
    fn = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if fn is not None and not getattr(fn, "_vkattn_patch", False):
        return fn, "torch.nn.functional.scaled_dot_product_attention"
    return vkattn.torch_math_sdpa, "PyTorch math (this torch has no F.scaled_dot_product_attention)"


def verify(out, q, k, v, rows=48):
    """Max |error| relative to the row magnitude, on sampled rows of the first and last head."""
    worst = 0.0
    B, H, Nq, _ = q.shape
    idx = torch.linspace(0, Nq - 1, min(rows, Nq)).long()
    for b, h in {(0, 0), (B - 1, H - 1)}:
        qs = q[b, h, idx].double()
        s = (qs @ k[b, h].double().T) / math.sqrt(q.shape[-1])
        ref = torch.softmax(s, dim=-1) @ v[b, h].double()
        mag = ref.abs().amax(dim=-1, keepdim=True).clamp_min(1e-30)
        err = ((out[b, h, idx].double() - ref).abs() / mag).max().item()
        worst = max(worst, err)
    return worst


def cpu_subset(B, H, Nq, Nk, D, budget_gflop, max_scores_bytes):
    """(heads, query rows) of the CPU timing: all of it when it fits the budget."""
    h = H
    nq = Nq
    while h > 1 and 4.0 * B * h * nq * Nk * D / 1e9 > budget_gflop:
        h = max(1, h // 2)
    while nq > 256 and (4.0 * B * h * nq * Nk * D / 1e9 > budget_gflop or B * h * nq * Nk * 4 > max_scores_bytes):
        nq = max(256, nq // 2)
    return h, nq


def run_case(name, args, dtype, ctx, cpu_fn):
    B, H, Nq, Nk, D, note = CASES[name]
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(B, H, Nq, D, generator=gen).to(dtype)
    k = torch.randn(B, H, Nk, D, generator=gen).to(dtype)
    v = torch.randn(B, H, Nk, D, generator=gen).to(dtype)
    flops = 4.0 * B * H * Nq * Nk * D
    row = {"case": name, "note": note, "shape": [B, H, Nq, Nk, D], "dtype": args.dtype, "gflop": flops / 1e9,
           "precision": args.precision}

    def call():
        return vkattn.scaled_dot_product_attention(q, k, v, context=ctx, precision=args.precision)

    out = call()
    row["max_rel_err"] = verify(out, q, k, v)
    ms, all_ms = timed(call, args.repeat, args.warmup)
    row["vkattn_ms"] = ms
    row["vkattn_all_ms"] = all_ms
    row["vkattn_tflops"] = flops / (ms * 1e-3) / 1e12
    try:
        row["vkattn_gpu_ms"] = ctx.last_call().get("gpu_ms")
        row["vkattn_path"] = ctx.last_call().get("variant")
    except vkattn.VkattnError:
        pass

    if not args.no_cpu:
        h, nq = cpu_subset(B, H, Nq, Nk, D, args.cpu_budget_gflop, args.cpu_max_scores_mb << 20)
        qs, ks, vs = q[:, :h, :nq].contiguous(), k[:, :h].contiguous(), v[:, :h].contiguous()
        cms, _ = timed(lambda: cpu_fn(qs, ks, vs), max(1, args.cpu_repeat), 1)
        factor = (H / h) * (Nq / nq)
        row["cpu_ms"] = cms * factor
        row["cpu_scaled"] = "" if factor == 1 else "x%.4g (%d/%d heads, %d/%d rows)" % (factor, h, H, nq, Nq)
        row["speedup_vs_cpu"] = row["cpu_ms"] / ms

    if args.cuda:
        qc, kc, vc = q.cuda(), k.cuda(), v.cuda()
        fn = torch.nn.functional.scaled_dot_product_attention
        cms, _ = timed(lambda: fn(qc, kc, vc), args.repeat, args.warmup, sync=torch.cuda.synchronize)
        row["cuda_ms"] = cms
        row["vkattn_over_cuda"] = ms / cms
        rt, _ = timed(lambda: fn(q.cuda(), k.cuda(), v.cuda()).cpu(), args.repeat, 1, sync=torch.cuda.synchronize)
        row["cuda_roundtrip_ms"] = rt
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="default",
                    help="comma list of %s, or 'default' / 'all'" % ", ".join(CASES))
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES),
                    help="host tensor dtype (ComfyUI with torch on the CPU uses f32)")
    ap.add_argument("--device", default=None, help="Vulkan device index or name substring")
    ap.add_argument("--precision", default="exact", choices=["exact", "f16"],
                    help="f32 inputs: exact f32 arithmetic, or computed as f16 (VKATTN_ATTENTION_F16_COMPUTE)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-cpu", action="store_true", help="skip PyTorch's CPU attention")
    ap.add_argument("--cpu-repeat", type=int, default=3)
    ap.add_argument("--cpu-budget-gflop", type=float, default=60.0,
                    help="time CPU attention on a subset of heads/rows above this much work")
    ap.add_argument("--cpu-max-scores-mb", type=int, default=1024)
    ap.add_argument("--cuda", action="store_true", default=None, help="also time torch CUDA SDPA (default: if present)")
    ap.add_argument("--no-cuda", dest="cuda", action="store_false")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON ('-' for stdout)")
    args = ap.parse_args()
    if args.cuda is None:
        args.cuda = torch.cuda.is_available() and hasattr(torch.nn.functional, "scaled_dot_product_attention")
    names = GROUPS.get(args.cases) or [c.strip() for c in args.cases.split(",") if c.strip()]
    for n in names:
        if n not in CASES:
            ap.error("unknown case %r" % n)
    dtype = DTYPES[args.dtype]

    ctx = vkattn.Context(device=args.device)
    dev = ctx.device_info()
    cpu_fn, cpu_name = torch_cpu_sdpa()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "device": "%s (%s, driver %s)" % (dev["name"], dev["device_type_name"], dev["driver_name"]),
        "vkattn": ".".join(map(str, vkattn.version())),
        "library": vkattn.library_path,
        "host": "%s, %d CPUs, torch %s (%d threads)" % (platform.processor() or platform.machine(), os.cpu_count(),
                                                         torch.__version__, torch.get_num_threads()),
        "cpu_attention": cpu_name,
        "cuda": torch.cuda.get_device_name(0) if args.cuda else None,
        "timing": "median of %d wall-clock runs after %d warm-up; host tensors in, host tensor out; torch CPU "
                  "median of %d after 1 warm-up" % (args.repeat, args.warmup, max(1, args.cpu_repeat)),
    }
    rows = []
    for n in names:
        print("running %s ..." % n, file=sys.stderr, flush=True)
        rows.append(run_case(n, args, dtype, ctx, cpu_fn))
    ctx.close()

    out = sys.stdout
    if args.json != "-":
        for key in ("date", "command", "device", "host", "cpu_attention", "timing"):
            print("# %s: %s" % (key, meta[key]), file=out)
        if meta["cuda"]:
            print("# cuda: %s" % meta["cuda"], file=out)
        hdr = ["case", "B,H,Nq,Nk,D", "dtype", "vkattn ms", "GFLOP/s", "gpu ms", "max err", "cpu ms", "x cpu",
               "cpu scaled"]
        if args.cuda:
            hdr += ["cuda ms", "vkattn/cuda"]
        table = [hdr]
        for r in rows:
            dt = r["dtype"] + ("->f16" if r.get("precision") == "f16" and r["dtype"] == "f32" else "")
            line = [r["case"], ",".join(map(str, r["shape"])), dt, "%.1f" % r["vkattn_ms"],
                    "%.1f" % (r["vkattn_tflops"] * 1000),
                    "%.1f" % r["vkattn_gpu_ms"] if r.get("vkattn_gpu_ms", -1) and r.get("vkattn_gpu_ms", -1) > 0
                    else "-", "%.1e" % r["max_rel_err"],
                    "%.1f" % r["cpu_ms"] if "cpu_ms" in r else "-",
                    "%.1f" % r["speedup_vs_cpu"] if "speedup_vs_cpu" in r else "-", r.get("cpu_scaled", "-") or "no"]
            if args.cuda:
                line += ["%.2f" % r["cuda_ms"], "%.2f" % r["vkattn_over_cuda"]]
            table.append(line)
        widths = [max(len(str(row[i])) for row in table) for i in range(len(hdr))]
        for row in table:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip(), file=out)
    if args.json:
        doc = {"meta": meta, "results": rows}
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=1)
            print()
        else:
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
