"""The surface for node packs and other hosts (python_bridge/README.md, "For
node packs and other hosts"): the one dtype table (vkattn/_dtypes.py) and
its round trips, mask_view() on every rank and kind of ComfyUI mask,
attention_into() with empty_output() on caller-made views, the counting
functions, Context.shares_host_memory(); and the ComfyUI pack using nothing
but public names of vkattn. Tolerances: conftest.py."""

import logging
import os
import re

import numpy as np
import pytest
import torch

import vkattn
from vkattn import _dtypes, _lib
from conftest import REPO, assert_close, rand, reference

PUBLIC = ["attention_into", "empty_output", "mask_view", "is_attention_dtype", "count_served", "count_fallback"]


# -- the dtype table -------------------------------------------------------------

def test_table_covers_every_dtype_of_the_header_once():
    consts = {v for k, v in vars(_lib).items() if k.startswith("VKATTN_DTYPE_") and k != "VKATTN_DTYPE_COUNT_"}
    codes = [d.code for d in _dtypes.TABLE]
    assert sorted(codes) == sorted(consts) == list(range(_lib.VKATTN_DTYPE_COUNT_))
    names = [d.name for d in _dtypes.TABLE] + [d.long_name for d in _dtypes.TABLE if d.long_name != d.name]
    assert len(set(names)) == len(names)
    assert _dtypes.FLOAT_CODES == {_lib.VKATTN_DTYPE_F32, _lib.VKATTN_DTYPE_F16, _lib.VKATTN_DTYPE_BF16}
    assert _dtypes.UNKNOWN not in codes


@pytest.mark.parametrize("row", _dtypes.TABLE, ids=lambda d: d.name)
def test_round_trips(row):
    c = row.code
    assert _dtypes.code_from(c) == c
    assert _dtypes.code_from(row.name) == c and _dtypes.code_from(row.long_name) == c
    assert _dtypes.name(c) == row.name and _dtypes.info(c) is row
    # torch: the dtype object, its str() and the name
    tdt = _dtypes.torch_dtype(c)
    assert isinstance(tdt, torch.dtype) and str(tdt) == "torch." + row.torch
    assert _dtypes.code_from(tdt) == c and _dtypes.code_from(str(tdt)) == c
    # sizes agree with the C library, numpy and torch
    assert _dtypes.size(c) == _lib.lib.vkattn_dtype_size(c)
    assert _dtypes.size(c) == _dtypes.numpy_dtype(c).itemsize == torch.empty((), dtype=tdt).element_size()
    # numpy: the dtype that holds it; bf16 travels as uint16 bit patterns, which are not bf16
    ndt = _dtypes.numpy_dtype(c)
    if c == _dtypes.BF16:
        assert ndt == np.uint16 and _dtypes.code_from(ndt) == _dtypes.UNKNOWN
    else:
        assert _dtypes.code_from(ndt) == c and _dtypes.code_from(ndt.type) == c
    assert vkattn.is_attention_dtype(tdt) == row.is_float == vkattn.is_attention_dtype(row.name)


def test_bfloat16_numpy_arrays_by_name():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    assert _dtypes.code_from(np.dtype(ml_dtypes.bfloat16)) == _dtypes.BF16


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, np.float64, np.int64, np.uint16, "f64", "F32", "int8"])
def test_unknown_dtype_gives_the_sentinel_the_library_rejects(dtype, ctx):
    assert _dtypes.code_from(dtype) == _dtypes.UNKNOWN
    assert not vkattn.is_attention_dtype(dtype)
    with pytest.raises(vkattn.InvalidDtypeError) as exc:
        ctx.tensor((3,), dtype)
    assert exc.value.status == _lib.VKATTN_ERROR_INVALID_DTYPE
    with pytest.raises(vkattn.InvalidDtypeError, match="not a vkattn dtype"):
        _dtypes.name(_dtypes.UNKNOWN)
    with pytest.raises(vkattn.InvalidDtypeError):
        _dtypes.numpy_dtype(None)


@pytest.mark.parametrize("dtype", [torch.float16, np.float32, "bf16", "bool"])
def test_tensor_takes_any_spelling(ctx, dtype):
    code = _dtypes.code_from(dtype)
    with ctx.tensor((2, 3), dtype) as t:
        assert t.dtype == code
        a = (np.arange(6).reshape(2, 3) % 2).astype(_dtypes.numpy_dtype(code))
        t.upload(a)
        got = t.download()
        assert got.dtype == _dtypes.numpy_dtype(code) and np.array_equal(got, a)


# -- mask_view ------------------------------------------------------------------------

B, H, NQ, NK = 2, 3, 5, 7
SHAPES = {2: (NQ, NK), 3: (B, NQ, NK), 4: (B, 1, NQ, NK)}
KINDS = {"bool": torch.bool, "f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
         "f64": torch.float64}


def _mask(rank, kind, shape=None):
    keep = torch.rand(*(shape or SHAPES[rank])) > 0.3
    keep[..., 0] = True
    if kind == "bool":
        return keep
    return torch.zeros(keep.shape, dtype=KINDS[kind]).masked_fill(~keep, float("-inf"))


def _comfy_rank4(mask):
    """ComfyUI's own reading: (Nq, Nk) -> [1, 1, Nq, Nk], (B, Nq, Nk) -> [B, 1, Nq, Nk]."""
    return {2: lambda m: m[None, None], 3: lambda m: m[:, None], 4: lambda m: m}[mask.ndim](mask)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("rank", [2, 3, 4])
def test_mask_view_each_rank_and_kind(rank, kind):
    mask = _mask(rank, kind)
    m = vkattn.mask_view(mask, B, H, NQ, NK)
    assert isinstance(m, torch.Tensor) and m.device.type == "cpu" and m.ndim == 4
    assert all(n in (1, f) for n, f in zip(m.shape, (B, H, NQ, NK)))
    want = {"bool": torch.bool, "f32": torch.float32, "f16": torch.float16}.get(kind, torch.float32)
    assert m.dtype == want
    assert torch.equal(m.to(_comfy_rank4(mask).dtype) if kind in ("bf16", "f64") else m, _comfy_rank4(mask))
    if kind in ("bool", "f32", "f16"):
        assert m.data_ptr() == mask.data_ptr(), "a mask vkattn reads as it is must be a view, not a copy"


def test_mask_view_of_numpy_and_broadcast_dims():
    keep = np.ones((1, NK), dtype=bool)            # one row for every query: a broadcast dim of size 1
    m = vkattn.mask_view(keep, B, H, NQ, NK)
    assert isinstance(m, np.ndarray) and m.shape == (1, 1, 1, NK) and m.dtype == np.bool_


@pytest.mark.parametrize("shape, error", [
    ((NK,), vkattn.InvalidShapeError),
    ((1, B, 1, NQ, NK), vkattn.InvalidShapeError),
    ((NQ + 1, NK), vkattn.ShapeMismatchError),
    ((B + 1, NQ, NK), vkattn.ShapeMismatchError),
    ((B, H + 1, NQ, NK), vkattn.ShapeMismatchError),
])
def test_mask_view_refuses_shapes(shape, error):
    with pytest.raises(error) as exc:
        vkattn.mask_view(torch.ones(shape, dtype=torch.bool), B, H, NQ, NK)
    assert "mask" in exc.value.message


def test_mask_view_refuses_integer_masks():
    with pytest.raises(vkattn.InvalidDtypeError, match="mask dtype torch.int64"):
        vkattn.mask_view(torch.ones(NQ, NK, dtype=torch.int64), B, H, NQ, NK)


# -- attention_into and empty_output ---------------------------------------------------

def _bnc_to_bhnd(t, heads):
    return t.unflatten(2, (heads, t.shape[2] // heads)).transpose(1, 2)


@pytest.mark.parametrize("kind", ["bool", "f32", "f16", "f64"])
@pytest.mark.parametrize("rank", [2, 3, 4])
def test_attention_into_bnc_layout_with_masks(ctx, rank, kind):
    """ComfyUI's (B, N, H*D) layout in and out, as strided views: no copies."""
    q, k, v = rand(B, NQ, H * 16), rand(B, NK, H * 16), rand(B, NK, H * 8)
    mask = _mask(rank, kind)
    out = vkattn.empty_output(q, (B, NQ, H * 8), context=ctx)
    assert out.dtype == q.dtype and out.is_contiguous() and out.shape == (B, NQ, H * 8)
    out4 = _bnc_to_bhnd(out, H)
    m = vkattn.mask_view(mask, B, H, NQ, NK)
    got = vkattn.attention_into(_bnc_to_bhnd(q, H), _bnc_to_bhnd(k, H), _bnc_to_bhnd(v, H), out4, mask=m, context=ctx)
    assert got is out4
    ref = reference(_bnc_to_bhnd(q, H), _bnc_to_bhnd(k, H), _bnc_to_bhnd(v, H), mask=_comfy_rank4(mask))
    assert_close(out4, ref)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_attention_into_vae_layout_and_gqa(ctx, dtype):
    q = rand(1, 32, 6, 7, dtype=dtype)                  # (B, C, H, W): one head of C over H*W positions
    t = q.reshape(1, 32, -1).unsqueeze(1).transpose(2, 3)   # (B, C, N) seen as [B, 1, N, C]
    out = vkattn.empty_output(q, (1, 32, 42))
    out4 = out.unsqueeze(1).transpose(2, 3)
    vkattn.attention_into(t, t, t, out4, scale=0.3)
    assert_close(out4, reference(t, t, t, scale=0.3), dtype)
    qg, kg = rand(1, 6, 9, 16, dtype=dtype), rand(1, 2, 11, 16, dtype=dtype)
    out = vkattn.empty_output(qg, (1, 6, 9, 16))
    assert_close(vkattn.attention_into(qg, kg, kg, out), reference(qg, kg, kg), dtype)


def test_attention_into_numpy(ctx):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 12, 16)).astype(np.float32)
    kv = rng.standard_normal((1, 12, 2, 16)).astype(np.float32).transpose(0, 2, 1, 3)  # strided view
    out = vkattn.empty_output(q, (1, 2, 12, 16))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    vkattn.attention_into(q, kv, kv, out, context=ctx)
    t = torch.from_numpy
    assert_close(t(out), reference(t(q), t(np.ascontiguousarray(kv)), t(np.ascontiguousarray(kv))))


def test_attention_into_precision_f16(ctx):
    q = rand(1, 2, 16, 32)
    out = vkattn.empty_output(q, q.shape)
    vkattn.attention_into(q, q, q, out, precision="f16", context=ctx)
    assert "f16 compute" in ctx.last_call()["variant"]
    vkattn.attention_into(q, q, q, out, context=ctx)
    assert "f16 compute" not in ctx.last_call()["variant"]
    assert_close(out, reference(q, q, q))


def test_large_outputs_are_aligned_for_host_import(ctx):
    align = ctx.host_alignment()
    q = rand(1, 1, 1, 8)
    for like in (q, q.numpy()):
        out = vkattn.empty_output(like, (1, 8, 4096, 32), context=ctx)   # 4 MiB
        ptr = out.data_ptr() if isinstance(out, torch.Tensor) else out.ctypes.data
        assert not align or ptr % align == 0


def test_attention_into_refuses_what_it_cannot_write_or_read(ctx):
    q = rand(1, 2, 8, 16)
    out = vkattn.empty_output(q, q.shape)
    with pytest.raises(vkattn.InvalidShapeError, match="rank"):
        vkattn.attention_into(q[0], q[0], q[0], out[0])
    with pytest.raises(vkattn.InvalidDtypeError, match="share a dtype"):
        vkattn.attention_into(q, q.half(), q, out)
    with pytest.raises(vkattn.InvalidDtypeError, match="share a dtype"):
        vkattn.attention_into(q, q, q, out.half())
    with pytest.raises(vkattn.InvalidDtypeError):
        vkattn.attention_into(q.double(), q.double(), q.double(), out.double())
    with pytest.raises(vkattn.InvalidDtypeError):
        vkattn.empty_output(q.double(), q.shape)
    frozen = np.zeros(q.shape, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(vkattn.InvalidArgumentError, match="in place"):
        vkattn.attention_into(q.numpy(), q.numpy(), q.numpy(), frozen)
    with pytest.raises(vkattn.InvalidArgumentError, match="in place"):
        vkattn.attention_into(q.numpy(), q.numpy(), q.numpy(), np.zeros(q.shape, np.float32)[:, :, ::-1])
    with pytest.raises(vkattn.InvalidArgumentError, match="in place"):
        vkattn.attention_into(q, q, q, q.tolist())
    with pytest.raises(vkattn.NotSupportedByVkattn):
        vkattn.attention_into(q.requires_grad_(), q, q, out)
    with pytest.raises(vkattn.VkattnError):  # vkattn's own check: the views do not pair
        vkattn.attention_into(rand(1, 2, 8, 16), rand(1, 2, 8, 8), rand(1, 2, 8, 16), out)


# -- counting, device ----------------------------------------------------------------

def test_count_served_and_fallback(caplog):
    vkattn.reset_stats()
    vkattn.count_served("mypack")
    vkattn.count_served("mypack")
    with caplog.at_level(logging.INFO, logger="vkattn"):
        vkattn.count_fallback("mypack", "why", "the first one")
        vkattn.count_fallback("mypack", "why", "the second one", level=logging.WARNING)
    s = vkattn.stats()
    assert s["served"]["mypack"] == 2 and s["fallbacks"]["mypack"] == {"why": 2}
    logged = [r for r in caplog.records if "mypack" in r.getMessage()]
    assert len(logged) == 1 and "the first one" in logged[0].getMessage()
    vkattn.reset_stats()


def test_shares_host_memory(ctx):
    assert ctx.shares_host_memory() == (ctx.device_info()["device_type_name"] in ("integrated GPU", "CPU"))


def test_public_names_are_exported_and_documented():
    with open(os.path.join(REPO, "python_bridge", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme[readme.index("## For node packs and other hosts"):]
    for name in PUBLIC + ["shares_host_memory"]:
        assert name in section, "%s is not documented in python_bridge/README.md" % name
    for name in PUBLIC:
        assert name in vkattn.__all__ and callable(getattr(vkattn, name))


# -- the ComfyUI pack uses only public names ---------------------------------------------

PRIVATE_USE = re.compile(r"\bvk\._|\bvkattn\._|\bmodule\(\)\._|from\s+vkattn\s+import\s+(\(\s*)?_"
                         r"|import\s+vkattn\._|(?:get|has)attr\(\s*(?:vk|vkattn|mod)\s*,\s*[\"']_")


def test_private_use_pattern_catches_what_it_should():
    for line in ["host = vk._host", "vkattn._lib.VKATTN_MASK_NONE", "from vkattn import _lib",
                 "from vkattn import (_host,", "import vkattn._host", 'hasattr(mod, "_STATS")',
                 "lib = _vk.module()._lib"]:
        assert PRIVATE_USE.search(line), line
    for line in ["_vk.module()", "vk.attention_into(q4, k4, v4, out4)", "from . import _vk"]:
        assert not PRIVATE_USE.search(line), line


def test_comfyui_pack_uses_only_public_vkattn_names():
    pack = os.path.join(REPO, "python_bridge", "comfyui")
    found = []
    for name in sorted(os.listdir(pack)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(pack, name), encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if PRIVATE_USE.search(line):
                    found.append("comfyui/%s:%d: %s" % (name, i, line.strip()))
    assert not found, "the ComfyUI pack reaches into vkattn's private modules:\n" + "\n".join(found)
