"""The ComfyUI node pack, called exactly as ComfyUI calls it.

ComfyUI is not installed here. `comfy_wrap` below does what ComfyUI's
wrap_attn (comfy/ldm/modules/attention.py) does with an override: it marks
kwargs with `_inside_attn_wrapper` and calls
transformer_options["optimized_attention_override"](func, *args, **kwargs).
`comfy_attention` is a stand-in for ComfyUI's attention functions with their
signature and both layouts (used as the fallback `func`; it records calls).
The argument patterns are those of SD1.5 (CrossAttention), Flux
(flux/math.py attention: skip_reshape=True), WAN (heads= keyword) and the
VAE's AttnBlock (self.optimized_attention(q, k, v)).
"""

import copy
import sys
import types

import pytest
import torch

import vkattn
from conftest import assert_close, rand, reference

import comfyui
from comfyui import _vk, override as ov_mod
from comfyui.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, info_text


class ComfyAttention:
    """Stand-in for comfy.ldm.modules.attention.attention_pytorch (in float64)."""

    def __init__(self):
        self.calls = []

    def __call__(self, q, k, v, heads, mask=None, attn_precision=None, skip_reshape=False,
                 skip_output_reshape=False, **kwargs):
        self.calls.append(dict(heads=heads, mask=mask, attn_precision=attn_precision, skip_reshape=skip_reshape,
                               skip_output_reshape=skip_output_reshape, kwargs=dict(kwargs)))
        out = comfy_reference(q, k, v, heads, mask, skip_reshape, skip_output_reshape, kwargs.get("scale"))
        return out.to(q.dtype)


def comfy_reference(q, k, v, heads, mask=None, skip_reshape=False, skip_output_reshape=False, scale=None):
    b = q.shape[0]
    if skip_reshape:
        q4, k4, v4 = q, k, v
    else:
        q4, k4, v4 = (t.reshape(b, -1, heads, t.shape[-1] // heads).transpose(1, 2) for t in (q, k, v))
    m = mask
    if m is not None:
        if m.ndim == 2:
            m = m[None, None]
        elif m.ndim == 3:
            m = m[:, None]
    out = reference(q4, k4, v4, mask=m, scale=scale)
    if skip_output_reshape:
        return out
    return out.transpose(1, 2).reshape(b, -1, heads * v4.shape[-1])


def comfy_wrap(func):
    """What ComfyUI's wrap_attn does around each attention function."""
    def wrapper(*args, **kwargs):
        if "_inside_attn_wrapper" in kwargs:
            return func(*args, **kwargs)
        kwargs["_inside_attn_wrapper"] = True
        try:
            to = kwargs.get("transformer_options")
            if to is not None and "optimized_attention_override" in to:
                return to["optimized_attention_override"](func, *args, **kwargs)
            return func(*args, **kwargs)
        finally:
            del kwargs["_inside_attn_wrapper"]
    return wrapper


class FakeModelPatcher:
    """The parts of comfy.model_patcher.ModelPatcher the node uses."""

    def __init__(self, model_options=None):
        self.model_options = model_options if model_options is not None else {"transformer_options": {}}

    def clone(self):
        return FakeModelPatcher(copy.deepcopy(self.model_options))


@pytest.fixture
def patched():
    """(optimized_attention as ComfyUI calls it, transformer_options, the stand-in func)."""
    vkattn.reset_stats()
    model = FakeModelPatcher()
    m = NODE_CLASS_MAPPINGS["VkattnPatchModel"]().patch(model, "auto", 0, True, "auto")[0]
    assert "optimized_attention_override" not in model.model_options["transformer_options"]
    func = ComfyAttention()
    return comfy_wrap(func), m.model_options["transformer_options"], func


def served():
    return vkattn.stats()["served"].get("comfyui", 0)


def fallbacks():
    return vkattn.stats()["fallbacks"].get("comfyui", {})


# -- calling patterns ----------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=["f32", "f16", "bf16"])
def test_sd15_self_and_cross(patched, dtype):
    attn, to, func = patched
    x = rand(2, 64, 320, dtype=dtype)          # (B, N, H*D), 8 heads x 40
    ctx = rand(2, 77, 320, dtype=dtype)         # text tokens
    # CrossAttention.forward: optimized_attention(q, k, v, self.heads, attn_precision=..., transformer_options=...)
    out = attn(x, x, x, 8, attn_precision=torch.float32, transformer_options=to)
    assert out.shape == (2, 64, 320) and out.dtype == dtype
    assert_close(out.reshape(2, 64, 8, 40), comfy_reference(x, x, x, 8).reshape(2, 64, 8, 40), dtype)
    out = attn(x, ctx, ctx, 8, attn_precision=None, transformer_options=to)
    assert_close(out.reshape(2, 64, 8, 40), comfy_reference(x, ctx, ctx, 8).reshape(2, 64, 8, 40), dtype)
    assert not func.calls and served() == 2


@pytest.mark.parametrize("kind", ["bool", "additive"])
@pytest.mark.parametrize("mdim", [2, 3, 4])
def test_masks_positional_and_keyword(patched, kind, mdim):
    attn, to, func = patched
    q, k = rand(2, 24, 64), rand(2, 30, 64)
    shape = {2: (24, 30), 3: (2, 24, 30), 4: (2, 1, 24, 30)}[mdim]
    keep = torch.rand(*shape) > 0.3
    keep[..., 0] = True
    mask = keep if kind == "bool" else torch.zeros(shape).masked_fill(~keep, float("-inf"))
    ref = comfy_reference(q, k, k, 4, mask)
    # optimized_attention_masked(q, k, v, self.heads, mask, attn_precision=..., transformer_options=...)
    out = attn(q, k, k, 4, mask, attn_precision=None, transformer_options=to)
    assert_close(out.reshape(2, 24, 4, 16), ref.reshape(2, 24, 4, 16))
    out = attn(q, k, k, 4, mask=mask, transformer_options=to)
    assert_close(out.reshape(2, 24, 4, 16), ref.reshape(2, 24, 4, 16))
    assert not func.calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_flux_skip_reshape_non_contiguous(patched, dtype):
    attn, to, func = patched
    B, H, N, D = 1, 24, 40, 128
    qkv = rand(B, N, 3, H, D, dtype=dtype)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)        # (B, H, N, D) strided views, as after a fused qkv
    q, k = q * 1.0, k * 1.0                     # rope makes q, k new tensors; v stays a view
    assert not v.is_contiguous()
    # flux/math.py attention: optimized_attention(q, k, v, heads, skip_reshape=True, mask=mask, transformer_options=...)
    out = attn(q, k, v, H, skip_reshape=True, mask=None, transformer_options=to)
    assert out.shape == (B, N, H * D) and out.dtype == dtype
    ref = comfy_reference(q, k, v, H, skip_reshape=True)
    assert_close(out.reshape(B, N, H, D), ref.reshape(B, N, H, D), dtype)
    out = attn(q, k, v, H, skip_reshape=True, skip_output_reshape=True, transformer_options=to)
    assert out.shape == (B, H, N, D)
    assert_close(out, reference(q, k, v), dtype)
    assert not func.calls


def test_wan_heads_keyword_self_and_cross(patched):
    attn, to, func = patched
    b, s, n, d = 1, 36, 40, 128
    q = rand(b, s, n, d, dtype=torch.bfloat16)
    k = rand(b, s, n, d, dtype=torch.bfloat16)
    v = rand(b, s, n * d, dtype=torch.bfloat16)
    # WanSelfAttention: optimized_attention(q.view(b, s, n*d), k.view(...), v, heads=self.num_heads, transformer_options=...)
    out = attn(q.view(b, s, n * d), k.view(b, s, n * d), v, heads=n, transformer_options=to)
    ref = comfy_reference(q.view(b, s, n * d), k.view(b, s, n * d), v, n)
    assert_close(out.reshape(b, s, n, d), ref.reshape(b, s, n, d), torch.bfloat16)
    ctx = rand(b, 24, n * d, dtype=torch.bfloat16)   # cross attention, Nk = 512 at full size
    out = attn(q.view(b, s, n * d), ctx, ctx, heads=n, transformer_options=to)
    ref = comfy_reference(q.view(b, s, n * d), ctx, ctx, n)
    assert_close(out.reshape(b, s, n, d), ref.reshape(b, s, n, d), torch.bfloat16)
    assert not func.calls and served() == 2


def test_skip_output_reshape_from_bnc(patched):
    attn, to, func = patched
    q, k = rand(2, 20, 96), rand(2, 26, 96)
    out = attn(q, k, k, 3, skip_output_reshape=True, transformer_options=to)
    assert out.shape == (2, 3, 20, 32)
    assert_close(out, comfy_reference(q, k, k, 3, skip_output_reshape=True))


def test_unknown_kwargs_ignored_and_scale_honoured(patched):
    attn, to, func = patched
    q, k = rand(1, 16, 64), rand(1, 16, 64)
    out = attn(q, k, k, 2, transformer_options=to, low_precision_attention=False, some_future_option=123)
    assert_close(out.reshape(1, 16, 2, 32), comfy_reference(q, k, k, 2).reshape(1, 16, 2, 32))
    out = attn(q, k, k, 2, transformer_options=to, scale=0.5)
    assert_close(out.reshape(1, 16, 2, 32), comfy_reference(q, k, k, 2, scale=0.5).reshape(1, 16, 2, 32))
    assert not func.calls


def test_gqa_keyword(patched):
    attn, to, func = patched
    q, k = rand(1, 6, 12, 16), rand(1, 2, 15, 16)
    out = attn(q, k, k, 6, skip_reshape=True, skip_output_reshape=True, transformer_options=to, enable_gqa=True)
    assert_close(out, reference(q, k, k))
    assert not func.calls


# -- what goes to func ---------------------------------------------------------

def _assert_forwarded(func, call, **expect):
    assert len(func.calls) == 1
    c = func.calls[0]
    for key, val in expect.items():
        assert c[key] is val or c[key] == val, (key, c[key], val)
    assert c["kwargs"]["_inside_attn_wrapper"] is True
    assert c["kwargs"]["transformer_options"] is call


def test_unsupported_goes_to_func_unchanged(patched):
    attn, to, func = patched
    q = torch.randn(1, 10, 32, dtype=torch.float64)
    out = attn(q, q, q, 2, attn_precision=torch.float32, transformer_options=to, custom_flag="x")
    _assert_forwarded(func, to, heads=2, attn_precision=torch.float32, skip_reshape=False, skip_output_reshape=False)
    assert func.calls[0]["kwargs"]["custom_flag"] == "x"
    assert out.dtype == torch.float64
    assert fallbacks().get("dtype") == 1


def test_mask_of_rank_5_goes_to_func(patched):
    attn, to, func = patched
    q = rand(1, 8, 16)
    mask = torch.ones(1, 1, 1, 8, 8, dtype=torch.bool)
    attn(q, q, q, 2, mask, transformer_options=to)
    _assert_forwarded(func, to, heads=2, mask=mask)
    assert fallbacks().get("mask rank") == 1


def test_heads_not_dividing_goes_to_func(patched):
    attn, to, func = patched
    q = rand(1, 8, 30)
    with pytest.raises(RuntimeError):          # ComfyUI's own function cannot reshape it either
        attn(q, q, q, 4, transformer_options=to)
    assert len(func.calls) == 1 and fallbacks().get("layout") == 1


def test_vkattn_error_falls_back_or_raises():
    func = ComfyAttention()
    attn = comfy_wrap(func)
    q = rand(1, 1, 4, 600)            # head dim over vkattn's limit: an error from vkattn
    to = {"optimized_attention_override": comfyui.attention_override(fallback_on_error=True)}
    out = attn(q, q, q, 1, skip_reshape=True, transformer_options=to)
    assert len(func.calls) == 1 and out.shape == (1, 4, 600)
    to = {"optimized_attention_override": comfyui.attention_override(fallback_on_error=False)}
    with pytest.raises(vkattn.VkattnError):
        attn(q, q, q, 1, skip_reshape=True, transformer_options=to)


def test_min_tokens_falls_back_and_taylor_is_not_offered():
    func = ComfyAttention()
    attn = comfy_wrap(func)
    q = rand(1, 16, 32)
    vkattn.reset_stats()
    to = {"optimized_attention_override": comfyui.attention_override(min_tokens=17)}
    attn(q, q, q, 2, transformer_options=to)
    assert len(func.calls) == 1
    assert fallbacks().get("small") == 1
    # Taylor attention is not built: the node does not offer it, and asking refuses.
    assert "taylor" not in NODE_CLASS_MAPPINGS["VkattnPatchModel"].INPUT_TYPES()["required"]["backend"][0]
    with pytest.raises(ValueError):
        comfyui.attention_override(backend="taylor")


def test_previous_override_keeps_unserved_calls():
    seen = []

    def previous(func, *args, **kwargs):
        seen.append(kwargs.get("_inside_attn_wrapper"))
        return func(*args, **kwargs)

    model = FakeModelPatcher({"transformer_options": {"optimized_attention_override": previous}})
    m = comfyui.patch_model(model, min_tokens=1000)
    func = ComfyAttention()
    q = rand(1, 8, 32)
    comfy_wrap(func)(q, q, q, 2, transformer_options=m.model_options["transformer_options"])
    assert seen == [True] and len(func.calls) == 1


# -- deepcopy, nodes -----------------------------------------------------------

def test_deepcopy_keeps_one_override_and_one_context(patched):
    attn, to, func = patched
    ov = to["optimized_attention_override"]
    opts = {"transformer_options": to}
    for _ in range(3):
        opts = copy.deepcopy(opts)
    assert opts["transformer_options"]["optimized_attention_override"] is ov
    model = FakeModelPatcher(opts)
    clone = model.clone().clone()
    assert clone.model_options["transformer_options"]["optimized_attention_override"] is ov
    q = rand(1, 8, 32)
    attn(q, q, q, 2, transformer_options=clone.model_options["transformer_options"])
    assert _vk.context("auto") is vkattn.default_context()


def test_node_mappings():
    assert set(NODE_CLASS_MAPPINGS) == set(NODE_DISPLAY_NAME_MAPPINGS)
    for name, cls in NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        assert "required" in spec
        assert isinstance(cls.RETURN_TYPES, tuple) and hasattr(cls, cls.FUNCTION) and cls.CATEGORY
    devices = NODE_CLASS_MAPPINGS["VkattnPatchModel"].INPUT_TYPES()["required"]["device"][0]
    assert devices[0] == "auto" and len(devices) >= 2


def test_patch_node_with_device_choice():
    choice = _vk.device_choices()[1]           # "0: <name>"
    m = NODE_CLASS_MAPPINGS["VkattnPatchModel"]().patch(FakeModelPatcher(), choice, 0, True, "flash")[0]
    func = ComfyAttention()
    q = rand(1, 12, 32)
    out = comfy_wrap(func)(q, q, q, 2, transformer_options=m.model_options["transformer_options"])
    assert not func.calls
    assert_close(out.reshape(1, 12, 2, 16), comfy_reference(q, q, q, 2).reshape(1, 12, 2, 16))


def test_info_and_install_nodes(patched):
    attn, to, func = patched
    q = rand(1, 8, 32)
    attn(q, q, q, 2, transformer_options=to)
    res = NODE_CLASS_MAPPINGS["VkattnInfo"]().info()
    text = res["result"][0]
    assert "device:" in text and "vkattn memory" in text and "comfyui: 1 served" in text
    assert "host output blocks:" in text
    assert info_text() == text or "comfyui" in info_text()
    node = NODE_CLASS_MAPPINGS["VkattnInstallSDPA"]()
    try:
        node.apply(True)
        assert vkattn.installed()
    finally:
        node.apply(False)
    assert not vkattn.installed()


def test_free_memory_asked_before_large_calls(patched, monkeypatch):
    attn, to, func = patched
    calls = []
    mm = types.ModuleType("comfy.model_management")
    mm.get_torch_device = lambda: torch.device("cuda", 0)
    mm.free_memory = lambda nbytes, device, keep_loaded=[]: calls.append((nbytes, device))
    comfy = types.ModuleType("comfy")
    comfy.model_management = mm
    monkeypatch.setitem(sys.modules, "comfy", comfy)
    monkeypatch.setitem(sys.modules, "comfy.model_management", mm)
    monkeypatch.setattr(ov_mod, "_comfy_mm_tried", False)
    monkeypatch.setattr(ov_mod, "_comfy_mm", None)
    monkeypatch.setattr(ov_mod, "FREE_MEMORY_MIN_BYTES", 1000)
    q = rand(1, 16, 32)
    attn(q, q, q, 2, transformer_options=to)
    assert calls and calls[0][0] >= 4 * 16 * 32 * 4 and calls[0][1] == torch.device("cuda", 0)
    # torch on the CPU: only a Vulkan device that takes its memory from RAM (lavapipe here) asks
    mm.get_torch_device = lambda: torch.device("cpu")
    calls.clear()
    attn(q, q, q, 2, transformer_options=to)
    shares = vkattn.default_context().device_info()["device_type_name"] in ("CPU", "integrated GPU")
    assert bool(calls) == shares


# -- VAE -----------------------------------------------------------------------

class AttnBlockLike(torch.nn.Module):
    """The shape of ComfyUI's VAE AttnBlock: 1x1 convs and an
    `optimized_attention` instance attribute called as (q, k, v)."""

    def __init__(self, c):
        super().__init__()
        self.norm = torch.nn.GroupNorm(32, c, eps=1e-6)
        self.q = torch.nn.Conv2d(c, c, 1)
        self.k = torch.nn.Conv2d(c, c, 1)
        self.v = torch.nn.Conv2d(c, c, 1)
        self.proj_out = torch.nn.Conv2d(c, c, 1)
        self.optimized_attention = vae_reference_attention

    def forward(self, x):
        h = self.norm(x)
        return x + self.proj_out(self.optimized_attention(self.q(h), self.k(h), self.v(h)))


def vae_reference_attention(q, k, v):
    B, C = q.shape[:2]
    t = [x.reshape(B, 1, C, -1).transpose(2, 3) for x in (q, k, v)]
    out = reference(*t).to(q.dtype)
    return out.transpose(2, 3).reshape(q.shape)


class FakeVAE:
    def __init__(self, module):
        self.first_stage_model = module


def test_vae_block_single_head_512():
    vkattn.reset_stats()
    torch.manual_seed(3)
    net = torch.nn.Sequential(AttnBlockLike(512)).eval()
    vae = FakeVAE(net)
    x = torch.randn(1, 512, 6, 7)
    with torch.no_grad():
        expect = net(x)
        block = net[0]
        h = block.norm(x)
        q, k, v = block.q(h), block.k(h), block.v(h)
    node = NODE_CLASS_MAPPINGS["VkattnPatchVAE"]()
    assert node.patch(vae, True, "auto", True)[0] is vae
    assert isinstance(block.optimized_attention, comfyui.VkattnVaeAttention)
    with torch.no_grad():
        out = block.optimized_attention(q, k, v)
        assert out.shape == q.shape
        ref = vae_reference_attention(q.double(), k.double(), v.double())
        assert_close(out.reshape(1, 512, 42).transpose(1, 2), ref.reshape(1, 512, 42).transpose(1, 2))
        full = net(x)
    assert (full - expect).abs().max() < 1e-3
    assert vkattn.stats()["served"]["vae"] == 2
    node.patch(vae, False, "auto", True)
    assert block.optimized_attention is vae_reference_attention


def test_vae_chunked_qkv_views_and_fallback():
    """WAN-VAE style: q, k, v are chunks of one conv output (strided views)."""
    patch = comfyui.VkattnVaeAttention(vae_reference_attention)
    qkv = torch.randn(2, 3 * 64, 5, 5)
    q, k, v = qkv.chunk(3, dim=1)
    out = patch(q, k, v)
    assert_close(out.reshape(2, 64, 25).transpose(1, 2),
                 vae_reference_attention(q.double(), k.double(), v.double()).reshape(2, 64, 25).transpose(1, 2))
    calls = []

    def original(q, k, v, *a, **kw):
        calls.append(1)
        return q
    patch = comfyui.VkattnVaeAttention(original)
    patch(q.double(), k.double(), v.double())
    patch(q, k, v, "extra")
    assert len(calls) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA torch")
def test_override_with_cuda_tensors(patched):
    attn, to, func = patched
    q = rand(2, 20, 64).cuda()
    out = attn(q, q, q, 4, transformer_options=to)
    assert out.device == q.device and not func.calls
    assert_close(out.cpu().reshape(2, 20, 4, 16), comfy_reference(q.cpu(), q.cpu(), q.cpu(), 4).reshape(2, 20, 4, 16))


def test_pack_loads_and_passes_through_without_the_library():
    """ComfyUI must start even when libvkattn is missing: every node passes through."""
    import os
    import subprocess
    from conftest import REPO
    code = r"""
import copy, torch
import comfyui
from comfyui.nodes import NODE_CLASS_MAPPINGS, info_text
class MP:
    def __init__(self, o=None): self.model_options = o or {"transformer_options": {}}
    def clone(self): return MP(copy.deepcopy(self.model_options))
m = NODE_CLASS_MAPPINGS["VkattnPatchModel"]().patch(MP(), "auto", 0, True, "auto")[0]
ov = m.model_options["transformer_options"]["optimized_attention_override"]
calls = []
def func(q, k, v, heads, **kw):
    calls.append(kw)
    return q
q = torch.randn(1, 4, 8)
assert ov(func, q, q, q, 2, transformer_options={}) is q and len(calls) == 1
assert NODE_CLASS_MAPPINGS["VkattnPatchModel"].INPUT_TYPES()["required"]["device"][0] == ["auto"]
print(info_text())
"""
    env = dict(os.environ, VKATTN_LIBRARY="/nonexistent/libvkattn.so",
               PYTHONPATH=os.path.join(REPO, "python_bridge"))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "vkattn unavailable" in res.stdout and "comfyui: 0 served by vkattn, 1 fell back" in res.stdout


def test_f32_precision_f16_option(dtype=torch.float32):
    """The node's f32_precision="f16": float32 inputs computed as float16,
    except where ComfyUI asks for float32 attention."""
    vkattn.reset_stats()
    m = NODE_CLASS_MAPPINGS["VkattnPatchModel"]().patch(FakeModelPatcher(), "auto", 0, True, "auto", "f16")[0]
    to = m.model_options["transformer_options"]
    attn, func = comfy_wrap(ComfyAttention()), None
    x = rand(2, 64, 320, dtype=dtype)
    out = attn(x, x, x, 8, attn_precision=None, transformer_options=to)
    assert "f16 compute" in vkattn.default_context().last_call()["variant"]
    x16 = x.to(torch.float16).to(torch.float32)
    assert_close(out.to(torch.float16).reshape(2, 64, 8, 40),
                 comfy_reference(x16, x16, x16, 8).reshape(2, 64, 8, 40), torch.float16)
    out = attn(x, x, x, 8, attn_precision=torch.float32, transformer_options=to)
    assert "f16 compute" not in vkattn.default_context().last_call()["variant"]
    assert_close(out.reshape(2, 64, 8, 40), comfy_reference(x, x, x, 8).reshape(2, 64, 8, 40), dtype)
    assert "f32_precision='f16'" in repr(to["optimized_attention_override"])
