"""Shared fixtures of the vkattn Python tests.

Run: VKATTN_LIBRARY=build/libvkattn.so VKATTN_VALIDATION=1 PYTHONPATH=python_bridge \
     /usr/bin/python3 -m pytest tests/python -q
(ctest does this: tests/python/CMakeLists.txt.)

Tolerances (every comparison is against a float64 reference computed by
torch from the same, already rounded, inputs):
  f16, bf16: |out - ref| <= 2 ulps of the output dtype at the row magnitude,
             i.e. 2 * eps * 2^floor(log2(max_j |ref[row, j]|)), eps = 2^-10
             (f16) or 2^-7 (bf16);
  f32:       |out - ref| <= 1e-5 * max_j |ref[row, j]| + 1e-7.
A fully masked row is all zeros from vkattn (PyTorch gives NaN there); the
reference uses vkattn's convention.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HEADER = os.path.join(REPO, "runtime", "include", "vkattn.h")

sys.path.insert(0, os.path.join(REPO, "python_bridge"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import vkattn  # noqa: E402


@pytest.fixture(autouse=True)
def no_validation_errors():
    """Fail a test during which the Vulkan validation layer reported an error."""
    before = vkattn.validation_error_count()
    yield
    after = vkattn.validation_error_count()
    assert after == before, "%d Vulkan validation error(s) during this test (see stderr)" % (after - before)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(1234)
    np.random.seed(1234)


@pytest.fixture
def ctx():
    return vkattn.default_context()


EPS = {torch.float16: 2.0 ** -10, torch.bfloat16: 2.0 ** -7}


def reference(q, k, v, mask=None, scale=None, causal=False):
    """float64 attention from the given (rounded) inputs, torch tensors of
    rank 4 [B, H, N, D] (k/v heads may divide q heads: grouped query). Fully
    masked rows give zeros (vkattn's convention)."""
    q, k, v = q.double(), k.double(), v.double()
    if k.shape[-3] != q.shape[-3]:
        rep = q.shape[-3] // k.shape[-3]
        k = k.repeat_interleave(rep, dim=-3)
        v = v.repeat_interleave(rep, dim=-3)
    s = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if causal:
        L, S = q.shape[-2], k.shape[-2]
        keep = torch.ones(L, S, dtype=torch.bool).tril()
        s = s.masked_fill(~keep, float("-inf"))
    if mask is not None:
        if mask.dtype == torch.bool:
            s = s.masked_fill(~mask, float("-inf"))
        else:
            s = s + mask.double()
    dead = torch.isneginf(s).all(dim=-1, keepdim=True)
    p = torch.softmax(s.masked_fill(dead, 0.0), dim=-1).masked_fill(dead, 0.0)
    return p @ v


def assert_close(out, ref, dtype=None):
    """out (any dtype, torch or numpy) against the float64 reference, with the
    tolerance of the module docstring."""
    if isinstance(out, np.ndarray):
        out = torch.from_numpy(np.asarray(out, dtype=np.float64))
    dtype = dtype or out.dtype
    o = out.double()
    r = ref.double()
    assert o.shape == r.shape, "shape %s != reference %s" % (tuple(o.shape), tuple(r.shape))
    assert torch.isfinite(o).all(), "non-finite output"
    mag = r.abs().amax(dim=-1, keepdim=True)
    if dtype in EPS:
        scale = torch.where(mag > 0, torch.exp2(torch.floor(torch.log2(mag.clamp_min(1e-300)))),
                            torch.zeros_like(mag))
        tol = 2 * EPS[dtype] * scale + 1e-30
    else:
        tol = 1e-5 * mag + 1e-7
    err = (o - r).abs()
    bad = err > tol
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        worst = float((err / tol).max())
        pytest.fail("%d element(s) out of tolerance (worst %.2fx the bound); first at %s: out %r ref %r tol %r"
                    % (int(bad.sum()), worst, idx, float(o[idx]), float(r[idx]), float(tol[idx[:-1] + (0,)])))


def rand(*shape, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale).to(dtype)
