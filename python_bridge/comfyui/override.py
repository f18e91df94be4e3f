"""The attention override ComfyUI calls for every attention of a patched model.

ComfyUI (comfy/ldm/modules/attention.py, wrap_attn) calls
    override(func, q, k, v, heads, mask=None, attn_precision=None,
             skip_reshape=False, skip_output_reshape=False, **kwargs)
where func is the attention function that would have run and kwargs carry
transformer_options, ComfyUI's own _inside_attn_wrapper marker and, in newer
versions, more (scale, enable_gqa, low_precision_attention, ...). Layouts:
    skip_reshape=False: q (B, Nq, H*D), k/v (B, Nk, H*D)
    skip_reshape=True:  q (B, H, Nq, D), k/v (B, Hkv, Nk, D)
    output (B, Nq, H*Dv), or (B, H, Nq, Dv) with skip_output_reshape=True
Masks (bool: True = keep, or additive float) follow ComfyUI's reading:
2-D (Nq, Nk), 3-D (B, Nq, Nk), 4-D (B, H, Nq, Nk), each dim 1 or full.

Every layout is expressed as strides of a vkattn view: no transpose copy on
the way in or out. Whatever vkattn cannot serve goes to func (or to an
override that was set before this one) with the arguments unchanged.
"""

import logging
import sys

from . import _vk

logger = logging.getLogger("vkattn.comfyui")

# "taylor" comes back with Taylor attention (not built yet).
BACKENDS = ("auto", "flash")
F32_PRECISIONS = ("exact", "f16")

# Calls whose vkattn operands (q, k, v, out, mask) are at least this large
# first ask ComfyUI to make room on its device (see _ask_comfy_for_room).
FREE_MEMORY_MIN_BYTES = 256 << 20


class _Unserved(Exception):
    """Internal: this call goes to the original function, for `reason`."""

    def __init__(self, reason, detail=""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


_comfy_mm = None
_comfy_mm_tried = False


def _comfy_model_management():
    """comfy.model_management when running inside ComfyUI, else None (imported lazily)."""
    global _comfy_mm, _comfy_mm_tried
    if not _comfy_mm_tried:
        _comfy_mm_tried = True
        try:
            import comfy.model_management as mm
            _comfy_mm = mm
        except Exception:
            _comfy_mm = None
    return _comfy_mm


def _shares_host_memory(ctx):
    """True when the Vulkan device's memory is system RAM (integrated GPU, CPU)."""
    try:
        return ctx.shares_host_memory()
    except Exception:
        return False


def _ask_comfy_for_room(nbytes, ctx):
    """ComfyUI does not see Vulkan allocations: before a large call, ask it to
    offload models (comfy.model_management.free_memory) from the memory vkattn
    is about to use: ComfyUI's torch device when that is a GPU, or host RAM
    (torch on the CPU) when the Vulkan device is integrated and takes its
    memory from RAM. A discrete Vulkan GPU beside a CPU torch needs nothing."""
    if nbytes < FREE_MEMORY_MIN_BYTES:
        return False
    mm = _comfy_model_management()
    if mm is None:
        return False
    try:
        dev = mm.get_torch_device()
        if getattr(dev, "type", "cpu") == "cpu" and not _shares_host_memory(ctx):
            return False
        mm.free_memory(nbytes, dev)
        return True
    except Exception as e:  # advisory only
        logger.debug("comfy.model_management.free_memory failed: %s", e)
        return False


def _operand_bytes(*tensors):
    """The dense size of vkattn's operands (torch tensors; None skipped)."""
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def _mask_view(vk, mask, B, H, Nq, Nk):
    """vkattn.mask_view, with the masks it refuses as reasons to fall back."""
    try:
        return vk.mask_view(mask, B, H, Nq, Nk)
    except vk.InvalidShapeError as e:
        raise _Unserved("mask rank", e.message) from None
    except vk.ShapeMismatchError as e:
        raise _Unserved("mask shape", e.message) from None
    except vk.InvalidDtypeError as e:
        raise _Unserved("mask dtype", e.message) from None


class VkattnAttentionOverride:
    """transformer_options["optimized_attention_override"] that runs attention
    on vkattn. Survives copy.deepcopy of model_options as itself (ComfyUI's
    ModelPatcher.clone() deep-copies them): all copies share the Vulkan context.

    device: "auto" (the default context: $VKATTN_DEVICE, else the best device),
    a device index or a name substring. min_tokens: calls with fewer query
    tokens run the original function. fallback_on_error: a vkattn error runs
    the original function (logged once per reason) instead of raising.
    backend: "auto"/"flash" run vkattn's flash attention. f32_precision: "exact", or "f16"
    to compute float32 inputs as float16 (f32 accumulation; half the bytes to
    move and the matrix units), except where ComfyUI asks for float32
    attention (attn_precision=torch.float32). previous: an override that was set
    before this one; it gets the calls vkattn does not serve.
    """

    def __init__(self, device="auto", min_tokens=0, fallback_on_error=True, backend="auto", previous=None,
                 f32_precision="exact"):
        if backend not in BACKENDS:
            raise ValueError("backend must be one of %s, not %r" % (BACKENDS, backend))
        if f32_precision not in F32_PRECISIONS:
            raise ValueError("f32_precision must be one of %s, not %r" % (F32_PRECISIONS, f32_precision))
        self.f32_precision = f32_precision
        self.device = str(device)
        self.min_tokens = int(min_tokens)
        self.fallback_on_error = bool(fallback_on_error)
        self.backend = backend
        self.previous = previous

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __repr__(self):
        return ("VkattnAttentionOverride(device=%r, min_tokens=%d, fallback_on_error=%r, backend=%r, "
                "f32_precision=%r)" % (self.device, self.min_tokens, self.fallback_on_error, self.backend,
                                       self.f32_precision))

    def __call__(self, func, q, k, v, heads, mask=None, attn_precision=None, skip_reshape=False,
                 skip_output_reshape=False, **kwargs):
        try:
            out = self._run(q, k, v, heads, mask, skip_reshape, skip_output_reshape, kwargs, attn_precision)
        except _Unserved as u:
            _vk.fallback("comfyui", u.reason, u.detail, level=logging.DEBUG if u.reason == "small" else logging.INFO)
        except Exception as e:
            if not self.fallback_on_error:
                raise
            _vk.fallback("comfyui", getattr(e, "status_name", type(e).__name__), str(e), level=logging.WARNING)
        else:
            _vk.served("comfyui")
            return out
        if self.previous is not None:
            return self.previous(func, q, k, v, heads, mask=mask, attn_precision=attn_precision,
                                 skip_reshape=skip_reshape, skip_output_reshape=skip_output_reshape, **kwargs)
        return func(q, k, v, heads, mask=mask, attn_precision=attn_precision, skip_reshape=skip_reshape,
                    skip_output_reshape=skip_output_reshape, **kwargs)

    # ------------------------------------------------------------------

    def _run(self, q, k, v, heads, mask, skip_reshape, skip_output_reshape, kwargs, attn_precision=None):
        vk = _vk.module()
        if vk is None:
            raise _Unserved("vkattn unavailable", _vk.import_error())
        torch = sys.modules.get("torch")
        if torch is None or not all(isinstance(t, torch.Tensor) for t in (q, k, v)):
            raise _Unserved("not torch tensors")
        if not vk.is_attention_dtype(q.dtype) or k.dtype != q.dtype or v.dtype != q.dtype:
            raise _Unserved("dtype", "q/k/v dtypes %s/%s/%s" % (q.dtype, k.dtype, v.dtype))
        if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
            raise _Unserved("autograd", "vkattn has no backward pass")
        if mask is not None and not isinstance(mask, torch.Tensor):
            raise _Unserved("mask type", type(mask).__name__)
        scale = kwargs.get("scale")
        gqa = bool(kwargs.get("enable_gqa", False))

        if skip_reshape:
            if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
                raise _Unserved("layout", "skip_reshape=True needs (B, H, N, D) inputs")
            B, Hq, Nq, D = q.shape
            Hk, Nk = k.shape[1], k.shape[2]
            Dv = v.shape[3]
            if v.shape[1] != Hk or v.shape[2] != Nk or k.shape[0] != B or v.shape[0] != B:
                raise _Unserved("layout", "k %s / v %s do not pair with q %s"
                                % (list(k.shape), list(v.shape), list(q.shape)))
        else:
            if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
                raise _Unserved("layout", "skip_reshape=False needs (B, N, H*D) inputs")
            B, Nq, inner = q.shape
            Nk = k.shape[1]
            if heads <= 0 or inner % heads or k.shape[2] % heads or v.shape[2] % heads:
                raise _Unserved("layout", "inner dims %d/%d/%d not divisible by %d heads"
                                % (inner, k.shape[2], v.shape[2], heads))
            Hq = Hk = heads
            D, Dv = inner // heads, v.shape[2] // heads
            if k.shape[0] != B or v.shape[0] != B or v.shape[1] != Nk:
                raise _Unserved("layout", "k %s / v %s do not pair with q %s"
                                % (list(k.shape), list(v.shape), list(q.shape)))
        if Hk != Hq and not (gqa and Hk > 0 and Hq % Hk == 0):
            raise _Unserved("heads mismatch", "q has %d heads, k/v %d" % (Hq, Hk))
        if Nq < self.min_tokens:
            raise _Unserved("small", "%d query tokens < min_tokens %d" % (Nq, self.min_tokens))

        device = q.device
        ctx = _vk.context(self.device)
        if skip_reshape:
            q4, k4, v4 = q, k, v
        else:
            # (B, N, H*D) seen as [B, H, N, D]: head h, element d at (h*D + d) * stride(-1). Views, no copies.
            q4 = q.unflatten(2, (Hq, D)).transpose(1, 2)
            k4 = k.unflatten(2, (Hk, D)).transpose(1, 2)
            v4 = v.unflatten(2, (Hk, Dv)).transpose(1, 2)

        m = None
        if mask is not None:
            m = _mask_view(vk, mask, B, Hq, Nq, Nk)

        if skip_output_reshape:
            out = vk.empty_output(q, (B, Hq, Nq, Dv), context=ctx)
            out4 = out
        else:
            out = vk.empty_output(q, (B, Nq, Hq * Dv), context=ctx)
            out4 = out.unflatten(2, (Hq, Dv)).transpose(1, 2)

        _ask_comfy_for_room(_operand_bytes(q, k, v, out, m), ctx)
        wants_f32 = attn_precision is torch.float32
        precision = "f16" if self.f32_precision == "f16" and not wants_f32 else "exact"  # f16: float32 inputs only
        vk.attention_into(q4, k4, v4, out4, mask=m, scale=scale, precision=precision, context=ctx)
        result = out
        if device.type != "cpu":
            result = result.to(device)
        return result



def attention_override(device="auto", min_tokens=0, fallback_on_error=True, backend="auto", previous=None,
                       f32_precision="exact"):
    """A VkattnAttentionOverride (see there)."""
    return VkattnAttentionOverride(device=device, min_tokens=min_tokens, fallback_on_error=fallback_on_error,
                                   backend=backend, previous=previous, f32_precision=f32_precision)


def patch_model(model, device="auto", min_tokens=0, fallback_on_error=True, backend="auto", f32_precision="exact"):
    """A clone of a ComfyUI ModelPatcher whose attention runs on vkattn.
    An override already on the model keeps the calls vkattn does not serve."""
    m = model.clone()
    opts = m.model_options
    to = opts.get("transformer_options")
    to = dict(to) if to is not None else {}
    opts["transformer_options"] = to
    prev = to.get("optimized_attention_override")
    if isinstance(prev, VkattnAttentionOverride):
        prev = prev.previous
    to["optimized_attention_override"] = attention_override(device, min_tokens, fallback_on_error, backend,
                                                            previous=prev, f32_precision=f32_precision)
    return m
