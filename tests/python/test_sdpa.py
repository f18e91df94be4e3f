"""vkattn.scaled_dot_product_attention against a float64 reference
(tolerances: conftest.py), install()/uninstall() and the fallbacks."""

import logging

import numpy as np
import pytest
import torch

import vkattn
from conftest import assert_close, rand, reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
@pytest.mark.parametrize("shape", [(2, 3, 37, 40), (1, 2, 1, 72), (1, 1, 129, 80)], ids=["sd", "one_token", "odd"])
def test_dtypes_and_sizes(dtype, shape):
    q, k, v = rand(*shape, dtype=dtype), rand(*shape, dtype=dtype), rand(*shape, dtype=dtype)
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert out.dtype == dtype and out.shape == q.shape and out.is_contiguous()
    assert_close(out, reference(q, k, v))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
def test_cross_attention_and_value_dim(dtype):
    q = rand(2, 4, 50, 64, dtype=dtype)
    k = rand(2, 4, 77, 64, dtype=dtype)
    v = rand(2, 4, 77, 24, dtype=dtype)
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 4, 50, 24)
    assert_close(out, reference(q, k, v))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
def test_bnhd_layout_as_strides(dtype):
    """Inputs stored (B, N, H, D) and transposed to (B, H, N, D): passed as views, not copied."""
    base = [rand(2, 45, 3, 32, dtype=dtype) for _ in range(3)]
    q, k, v = (t.transpose(1, 2) for t in base)
    assert not q.is_contiguous()
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert_close(out, reference(q, k, v))


def test_rank3_inputs():
    q, k, v = rand(5, 33, 16), rand(5, 40, 16), rand(5, 40, 16)
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert out.shape == (5, 33, 16)
    assert_close(out, reference(q[None], k[None], v[None])[0])


def test_rank5_inputs_flattened():
    q, k, v = rand(2, 3, 2, 20, 8), rand(2, 3, 2, 21, 8), rand(2, 3, 2, 21, 8)
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 2, 20, 8)
    ref = reference(q.reshape(6, 2, 20, 8), k.reshape(6, 2, 21, 8), v.reshape(6, 2, 21, 8)).reshape(out.shape)
    assert_close(out, ref)


def test_non_contiguous_slices_and_qkv_split():
    qkv = rand(2, 30, 3, 4, 16)                      # (B, N, 3, H, D) like a fused qkv projection
    q, k, v = qkv.permute(2, 0, 3, 1, 4)             # each (B, H, N, D), strided
    q = q[:, :, 1:29:2]                              # every other query
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert_close(out, reference(q, k, v))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
def test_scale(dtype):
    q, k, v = rand(1, 2, 20, 16, dtype=dtype), rand(1, 2, 20, 16, dtype=dtype), rand(1, 2, 20, 16, dtype=dtype)
    out = vkattn.scaled_dot_product_attention(q, k, v, scale=0.37)
    assert_close(out, reference(q, k, v, scale=0.37))


def test_causal_square_and_rectangular():
    q, k, v = rand(1, 2, 24, 16), rand(1, 2, 24, 16), rand(1, 2, 24, 16)
    assert_close(vkattn.scaled_dot_product_attention(q, k, v, is_causal=True), reference(q, k, v, causal=True))
    k2, v2 = rand(1, 2, 31, 16), rand(1, 2, 31, 16)
    assert_close(vkattn.scaled_dot_product_attention(q, k2, v2, is_causal=True),
                 reference(q, k2, v2, causal=True))


def test_not_causal_by_default():
    q, k, v = rand(1, 1, 16, 8), rand(1, 1, 16, 8), rand(1, 1, 16, 8)
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert_close(out, reference(q, k, v))
    assert (out - reference(q, k, v, causal=True).float()).abs().max() > 1e-2


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
@pytest.mark.parametrize("mshape", [(1, 1, 20, 33), (2, 3, 20, 33), (20, 33), (33,), (2, 1, 1, 33), (3, 20, 1)],
                         ids=["11LS", "BHLS", "LS", "S", "B11S", "HL1"])
def test_bool_mask_broadcast(dtype, mshape):
    q, k, v = rand(2, 3, 20, 16, dtype=dtype), rand(2, 3, 33, 16, dtype=dtype), rand(2, 3, 33, 16, dtype=dtype)
    mask = torch.rand(*mshape) > 0.3
    if mshape[-1] > 1:
        mask[..., 0] = True                # no fully masked row here
    out = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out, reference(q, k, v, mask=mask))


@pytest.mark.parametrize("mdtype", [torch.float32, torch.float16, torch.bfloat16], ids=["f32", "f16", "bf16"])
def test_additive_mask(mdtype):
    q, k, v = rand(2, 2, 20, 16), rand(2, 2, 26, 16), rand(2, 2, 26, 16)
    mask = (torch.randn(2, 1, 20, 26) * 2).to(mdtype)
    mask[:, :, :, 5] = float("-inf")
    out = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out, reference(q, k, v, mask=mask.float()))


def test_additive_mask_non_contiguous():
    q, k, v = rand(1, 2, 12, 8), rand(1, 2, 14, 8), rand(1, 2, 14, 8)
    big = torch.randn(1, 2, 14, 12)
    mask = big.transpose(-2, -1)            # (1, 2, 12, 14), strided
    out = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out, reference(q, k, v, mask=mask))


@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_fully_masked_rows_give_zeros(kind):
    """PyTorch returns NaN for a row with no key left; vkattn returns zeros."""
    q, k, v = rand(1, 2, 10, 8), rand(1, 2, 12, 8), rand(1, 2, 12, 8)
    keep = torch.rand(1, 2, 10, 12) > 0.5
    keep[..., 0] = True
    keep[0, 1, 3] = False
    keep[0, 0, 7] = False
    mask = keep if kind == "bool" else torch.zeros(keep.shape).masked_fill(~keep, float("-inf"))
    out = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.equal(out[0, 1, 3], torch.zeros(8)) and torch.equal(out[0, 0, 7], torch.zeros(8))
    assert_close(out, reference(q, k, v, mask=mask))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
def test_grouped_query(dtype):
    # torch 1.13 has no enable_gqa: the reference repeats kv heads (repeat_interleave).
    q = rand(2, 6, 19, 32, dtype=dtype)
    k, v = rand(2, 2, 23, 32, dtype=dtype), rand(2, 2, 23, 32, dtype=dtype)
    out = vkattn.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    assert out.shape == (2, 6, 19, 32)
    assert_close(out, reference(q, k, v))


def test_heads_mismatch_without_gqa_is_an_error():
    q, k = rand(1, 4, 8, 8), rand(1, 2, 8, 8)
    with pytest.raises(vkattn.ShapeMismatchError, match="enable_gqa"):
        vkattn.scaled_dot_product_attention(q, k, k)


def test_single_kv_head_broadcasts():
    q, k, v = rand(2, 4, 9, 8), rand(2, 1, 11, 8), rand(2, 1, 11, 8)
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert_close(out, reference(q, k, v))


def test_batch_broadcast():
    q, k, v = rand(3, 2, 9, 8), rand(1, 2, 11, 8), rand(1, 2, 11, 8)
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert_close(out, reference(q, k.expand(3, -1, -1, -1), v.expand(3, -1, -1, -1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_numpy_inputs(dtype):
    q = np.random.randn(2, 3, 17, 24).astype(dtype)
    k = np.random.randn(2, 3, 21, 24).astype(dtype)
    v = np.random.randn(2, 3, 21, 24).astype(dtype)
    mask = np.random.rand(3, 17, 21) > 0.2          # numpy bool: one byte each
    mask[..., 0] = True
    out = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == (2, 3, 17, 24)
    t = [torch.from_numpy(x) for x in (q, k, v)]
    assert_close(torch.from_numpy(out), reference(*t, mask=torch.from_numpy(mask)))


def test_numpy_negative_strides_are_copied():
    q = np.random.randn(1, 2, 13, 8).astype(np.float32)
    k = np.random.randn(1, 2, 15, 8).astype(np.float32)[:, :, ::-1]
    v = np.random.randn(1, 2, 15, 8).astype(np.float32)[:, ::-1]
    out = vkattn.scaled_dot_product_attention(q, k, v)
    t = [torch.from_numpy(np.ascontiguousarray(x)) for x in (q, k, v)]
    assert_close(torch.from_numpy(out), reference(*t))


def test_zero_sized():
    q, k = rand(1, 2, 0, 8), rand(1, 2, 5, 8)
    assert vkattn.scaled_dot_product_attention(q, k, k).shape == (1, 2, 0, 8)


def test_explicit_context_and_backend(ctx):
    q, k, v = rand(1, 2, 15, 16), rand(1, 2, 15, 16), rand(1, 2, 15, 16)
    out = vkattn.scaled_dot_product_attention(q, k, v, context=ctx, backend="portable")
    assert_close(out, reference(q, k, v))
    info = ctx.last_call()
    assert info["dispatches"] >= 1 and info["path"]


def test_dropout_is_not_implemented():
    q = rand(1, 1, 4, 8)
    with pytest.raises(NotImplementedError):
        vkattn.scaled_dot_product_attention(q, q, q, dropout_p=0.1)


# -- install / uninstall -------------------------------------------------------

@pytest.fixture
def installed():
    vkattn.reset_stats()
    vkattn.install()
    yield
    vkattn.uninstall()


def test_install_routes_sdpa(installed):
    F = torch.nn.functional
    assert vkattn.installed()
    q, k, v = rand(2, 2, 21, 16), rand(2, 2, 21, 16), rand(2, 2, 21, 16)
    out = F.scaled_dot_product_attention(q, k, v)
    assert_close(out, reference(q, k, v))
    assert vkattn.stats()["served"].get("sdpa") == 1


def test_install_is_idempotent_and_uninstall_restores():
    F = torch.nn.functional
    before = getattr(F, "scaled_dot_product_attention", None)
    vkattn.install()
    vkattn.install()
    assert vkattn.installed()
    vkattn.uninstall()
    assert getattr(F, "scaled_dot_product_attention", None) is before
    assert not vkattn.installed()


def test_dropout_falls_back_to_original(installed, caplog):
    F = torch.nn.functional
    q, k, v = rand(1, 2, 8, 8), rand(1, 2, 8, 8), rand(1, 2, 8, 8)
    with caplog.at_level(logging.INFO, logger="vkattn"):
        torch.manual_seed(0)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
        F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    torch.manual_seed(0)
    expect = vkattn.original_sdpa()(q, k, v, dropout_p=0.5)
    assert torch.equal(out, expect)
    s = vkattn.stats()
    assert s["fallbacks"]["sdpa"]["dropout"] == 2
    assert sum("dropout" in r.getMessage() for r in caplog.records) == 1, "logged once per reason"


def test_unsupported_dtype_and_autograd_fall_back(installed):
    F = torch.nn.functional
    q = torch.randn(1, 1, 6, 8, dtype=torch.float64)
    out = F.scaled_dot_product_attention(q, q, q)
    assert out.dtype == torch.float64
    assert_close(out, reference(q, q, q))
    x = torch.randn(1, 1, 6, 8, requires_grad=True)
    y = F.scaled_dot_product_attention(x, x, x)
    y.sum().backward()
    assert x.grad is not None
    fb = vkattn.stats()["fallbacks"]["sdpa"]
    assert fb.get("VKATTN_ERROR_INVALID_DTYPE") == 1 and fb.get("autograd") == 1


def test_stats_count_direct_and_routed_calls_apart(installed):
    F = torch.nn.functional
    q = rand(1, 2, 9, 8)
    vkattn.scaled_dot_product_attention(q, q, q)
    vkattn.scaled_dot_product_attention(q, q, q)
    F.scaled_dot_product_attention(q, q, q)
    assert vkattn.stats()["served"] == {"direct": 2, "sdpa": 1}
    with pytest.raises(vkattn.InvalidShapeError):  # a direct call raises; it is no fallback
        vkattn.scaled_dot_product_attention(torch.randn(8), torch.randn(8), torch.randn(8))
    assert vkattn.stats()["served"] == {"direct": 2, "sdpa": 1} and "direct" not in vkattn.stats()["fallbacks"]


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool])
def test_integer_tensors_go_to_torch_unchanged(installed, dtype):
    """Integer tensors are not vkattn's: the call goes to the original
    function with the arguments unchanged, which refuses them with its own
    error (torch >= 2.0), or, where torch has no SDPA (1.13), with a TypeError
    from vkattn's math fallback that names the argument and the dtype."""
    F = torch.nn.functional
    q = torch.ones(1, 1, 4, 8, dtype=dtype)
    with pytest.raises((TypeError, RuntimeError)) as exc:
        F.scaled_dot_product_attention(q, q, q)
    if vkattn.original_sdpa() is vkattn.torch_math_sdpa:
        assert isinstance(exc.value, TypeError)
        assert "query has dtype %s" % dtype in str(exc.value) and "floating-point" in str(exc.value)
    assert vkattn.stats()["fallbacks"]["sdpa"].get("VKATTN_ERROR_INVALID_DTYPE") == 1
    assert not vkattn.stats()["served"].get("sdpa")


def test_error_falls_back(installed):
    """Bad input for vkattn (a 2-D query) goes to the original function."""
    F = torch.nn.functional
    q = torch.randn(6, 8)
    out = F.scaled_dot_product_attention(q, q, q)
    assert out.shape == (6, 8)
    assert "VKATTN_ERROR_INVALID_SHAPE" in vkattn.stats()["fallbacks"]["sdpa"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA torch")
def test_cuda_tensors_come_back_on_their_device():
    q, k, v = (rand(1, 2, 33, 40).cuda() for _ in range(3))
    mask = (torch.rand(33, 33) > 0.2).cuda()
    mask[:, 0] = True
    out = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert out.device == q.device and out.dtype == q.dtype
    assert_close(out.cpu(), reference(q.cpu(), k.cpu(), v.cpu(), mask=mask.cpu()))


# -- precision="f16": float32 inputs computed as float16 -------------------------

def test_f16_precision_for_float32_inputs():
    q, k, v = rand(2, 3, 70, 64), rand(2, 3, 90, 64), rand(2, 3, 90, 48)
    out = vkattn.scaled_dot_product_attention(q, k, v, precision="f16")
    assert out.dtype == torch.float32 and out.shape == (2, 3, 70, 48)
    assert "f16 compute" in vkattn.default_context().last_call()["variant"]
    # float16 accuracy against the reference on the rounded inputs
    q16, k16, v16 = (t.to(torch.float16).to(torch.float32) for t in (q, k, v))
    assert_close(out.to(torch.float16), reference(q16, k16, v16), torch.float16)
    exact = vkattn.scaled_dot_product_attention(q, k, v)
    assert "f16 compute" not in vkattn.default_context().last_call()["variant"]
    assert_close(exact, reference(q, k, v))


def test_f16_precision_overflow_runs_exact_and_bad_values_raise():
    q, k, v = rand(1, 2, 20, 32), rand(1, 2, 20, 32), rand(1, 2, 20, 32)
    k[0, 1, 5, 3] = 1e5  # finite, beyond float16
    out = vkattn.scaled_dot_product_attention(q, k, v, precision="f16")
    assert "declined" in vkattn.default_context().last_call()["variant"]
    assert torch.isfinite(out).all()
    assert_close(out, reference(q, k, v))
    with pytest.raises(vkattn.InvalidArgumentError, match="precision"):
        vkattn.scaled_dot_product_attention(q, k, v, precision="bf16")


def test_install_precision_default():
    q, k, v = rand(1, 2, 20, 32), rand(1, 2, 20, 32), rand(1, 2, 20, 32)
    vkattn.install(precision="f16")
    try:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
        assert "f16 compute" in vkattn.default_context().last_call()["variant"]
    finally:
        vkattn.uninstall()
        vkattn.install()  # back to the exact default
        vkattn.uninstall()
    vkattn.scaled_dot_product_attention(q, k, v)
    assert "f16 compute" not in vkattn.default_context().last_call()["variant"]
