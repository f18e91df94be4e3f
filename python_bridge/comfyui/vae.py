"""VAE attention on vkattn.

ComfyUI's VAE attention blocks (AttnBlock in
comfy/ldm/modules/diffusionmodules/model.py, and the blocks of other VAEs
built the same way) pick their function once, in __init__:
    self.optimized_attention = vae_attention()
and call it as self.optimized_attention(q, k, v) with q, k, v of shape
(B, C, *spatial) straight from 1x1 convolutions; the result has q's shape.
That is single-head attention over the N = prod(spatial) positions with
head dim C (512 for the SD/Flux VAE mid block: N = 16384 at 1024x1024).

patch_vae() replaces that instance attribute on every module that has one
with a VkattnVaeAttention wrapping the original, which it calls for
anything it cannot serve. (B, C, N) is read as the view [B, 1, N, C] with
strides (sB, -, sN, sC) and the result written through the same kind of
view: no transposes are copied.
"""

import logging
import sys

from . import _vk
from .override import _ask_comfy_for_room, _operand_bytes


class VkattnVaeAttention:
    """Stands in for a VAE block's optimized_attention(q, k, v)."""

    def __init__(self, original, device="auto", fallback_on_error=True):
        self.original = original
        self.device = str(device)
        self.fallback_on_error = bool(fallback_on_error)

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return "VkattnVaeAttention(device=%r, original=%r)" % (self.device, self.original)

    def __call__(self, q, k, v, *args, **kwargs):
        reason = detail = None
        try:
            if args or kwargs:
                reason, detail = "unknown arguments", "%d positional, %s" % (len(args), sorted(kwargs))
            elif _vk.module() is None:
                reason, detail = "vkattn unavailable", _vk.import_error()
            else:
                out = self._run(q, k, v)
                if out is None:
                    reason, detail = "unsupported input", "q %s %s" % (
                        list(getattr(q, "shape", [])), getattr(q, "dtype", type(q).__name__))
                else:
                    _vk.served("vae")
                    return out
        except Exception as e:
            if not self.fallback_on_error:
                raise
            reason, detail = getattr(e, "status_name", type(e).__name__), str(e)
        _vk.fallback("vae", reason, detail)
        return self.original(q, k, v, *args, **kwargs)

    def _run(self, q, k, v):
        vk = _vk.module()
        torch = sys.modules.get("torch")
        if vk is None or torch is None:
            return None
        if not all(isinstance(t, torch.Tensor) for t in (q, k, v)):
            return None
        if not vk.is_attention_dtype(q.dtype) or k.dtype != q.dtype or v.dtype != q.dtype:
            return None
        if q.ndim < 3 or k.ndim != q.ndim or v.ndim != q.ndim or torch.is_grad_enabled() and (
                q.requires_grad or k.requires_grad or v.requires_grad):
            return None
        B, C = q.shape[0], q.shape[1]
        if k.shape[:2] != (B, C) or v.shape[0] != B or v.shape[2:] != k.shape[2:]:
            return None
        Cv = v.shape[1]
        # Flatten the spatial dims (a view when their strides merge).
        q3, k3, v3 = (t.reshape(t.shape[0], t.shape[1], -1) for t in (q, k, v))
        Nq = q3.shape[2]
        # (B, C, N) seen as [B, 1, N, C]: views, no transposes copied.
        q4, k4, v4 = (t.unsqueeze(1).transpose(2, 3) for t in (q3, k3, v3))
        ctx = _vk.context(self.device)
        out = vk.empty_output(q, (B, Cv, Nq), context=ctx)
        out4 = out.unsqueeze(1).transpose(2, 3)
        _ask_comfy_for_room(_operand_bytes(q3, k3, v3, out), ctx)
        vk.attention_into(q4, k4, v4, out4, context=ctx)
        result = out.reshape((B, Cv) + tuple(q.shape[2:]))
        if q.device.type != "cpu":
            result = result.to(q.device)
        return result


def _modules(vae):
    model = getattr(vae, "first_stage_model", vae)
    mods = getattr(model, "modules", None)
    if mods is None:
        return []
    return list(mods())


def patch_vae(vae, enabled=True, device="auto", fallback_on_error=True):
    """Route the attention of a ComfyUI VAE (comfy.sd.VAE, or a torch module)
    to vkattn, in place; enabled=False puts the original functions back.
    Returns the number of attention blocks changed."""
    n = 0
    for m in _modules(vae):
        fn = m.__dict__.get("optimized_attention")
        if fn is None or not callable(fn):
            continue
        original = fn.original if isinstance(fn, VkattnVaeAttention) else fn
        if enabled:
            new = VkattnVaeAttention(original, device=device, fallback_on_error=fallback_on_error)
        else:
            new = original
        setattr(m, "optimized_attention", new)
        n += 1
    if n == 0:
        logging.getLogger("vkattn.comfyui").warning(
            "vkattn VAE patch: no module with an optimized_attention attribute found in %s", type(vae).__name__)
    return n
