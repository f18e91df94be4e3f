"""vkattn.scaled_dot_product_attention (PyTorch's semantics) and the
process-wide patch of torch.nn.functional.scaled_dot_product_attention."""

import logging
import math
import sys
import threading

from . import _dtypes, _host, _lib
from ._core import default_context
from ._errors import (InvalidArgumentError, InvalidDtypeError, InvalidShapeError, NotSupportedByVkattn,
                      ShapeMismatchError, VkattnError)
from ._host import is_torch, to_host
from ._stats import STATS

_BACKENDS = {"auto": _lib.VKATTN_BACKEND_AUTO, "portable": _lib.VKATTN_BACKEND_PORTABLE,
             "coopmat": _lib.VKATTN_BACKEND_COOPMAT}


_default_precision = "exact"


def _f16_compute(precision):
    """True for precision "f16"; None means the install() default."""
    p = _default_precision if precision is None else precision
    if p not in ("exact", "f16"):
        raise InvalidArgumentError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                   "precision must be 'exact' or 'f16', not %r" % (p,))
    return p == "f16"


def _backend_code(backend):
    if isinstance(backend, int):
        return backend
    try:
        return _BACKENDS[str(backend).lower()]
    except KeyError:
        raise InvalidArgumentError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                   "backend must be one of %s, not %r" % (sorted(_BACKENDS), backend)) from None


def _broadcast(shapes, what):
    """Broadcast equal-length shapes (each entry 1 or the common size)."""
    out = []
    for dims in zip(*shapes):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            raise ShapeMismatchError(_lib.VKATTN_ERROR_SHAPE_MISMATCH,
                                     "%s: batch dimensions %s do not broadcast" % (what, list(shapes)))
        out.append(big.pop() if big else 1)
    return tuple(out)


def _prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


def _as_bhnd(h, rank, outer, heads):
    """[outer..., H, N, D] of `rank` -> a rank-4 Host [B, H, N, D] (a view
    when the strides allow). Broadcast outer dims are materialized."""
    h = _host.left_pad(h, rank)
    own_outer = h.shape[:-3]
    if own_outer != outer:
        h = _host.expand(h, outer + h.shape[-3:])
    if h.shape[-3] != heads:
        h = _host.expand(h, h.shape[:-3] + (heads,) + h.shape[-2:])
    h = _host.reshape(h, (_prod(outer),) + h.shape[-3:])
    return _host.no_zero_strides(h)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, context=None, backend="auto", precision=None):
    out = _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa,
                     context=context, backend=backend, precision=precision)
    STATS.served("direct")
    return out


def _attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
               enable_gqa=False, *, context=None, backend="auto", precision=None):
    """softmax(scale * query @ key^T + mask) @ value on the Vulkan device,
    with torch.nn.functional.scaled_dot_product_attention's semantics.

    query (..., Hq, L, E), key (..., Hkv, S, E), value (..., Hkv, S, Ev):
    torch tensors (any device; moved through host memory and back) or numpy
    arrays; float32, float16 or bfloat16; any non-negative strides (passed to
    vkattn as views: no copy); rank 3 or more (leading dims are flattened,
    copying only when their strides do not merge); batch dims broadcast.
    attn_mask: bool (True = take part) or float (added to the scores; f32/f16
    used as is, others converted to f32), broadcastable to (..., Hq, L, S).
    is_causal: upper-left aligned like PyTorch (off unless asked for).
    enable_gqa: Hq a multiple of Hkv; query head h uses kv head h // (Hq/Hkv).
    dropout_p > 0 raises NotSupportedByVkattn (a NotImplementedError).

    Differences from PyTorch: a row whose every key is masked out gives zeros
    (PyTorch gives NaN); no autograd (raises NotSupportedByVkattn when a
    gradient would be needed). Every product and sum is accumulated in f32.
    Returns an array of query's kind, dtype and device, contiguous.

    precision (float32 inputs only): "exact" (f32 accuracy: f32 arithmetic, or
    on GPUs with NV cooperative matrices each value as a scaled pair of
    float16 values through three matrix-unit products, held to the same
    bound) or
    "f16" (inputs rounded to float16 on the way to the device and computed
    like float16 inputs, f32 accumulation: half the bytes to move and the
    matrix units, at float16 accuracy; an input beyond the float16 range makes
    the call exact). None: the value given to install(), else "exact".
    """
    f16_compute = _f16_compute(precision)
    if dropout_p and dropout_p > 0.0:
        raise NotSupportedByVkattn("dropout_p=%g: vkattn has no dropout" % dropout_p)
    if _host.grad_needed(query, key, value, attn_mask):
        raise NotSupportedByVkattn("an input requires grad: vkattn has no backward pass")
    if is_causal and attn_mask is not None:
        raise InvalidArgumentError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                   "attn_mask must be None when is_causal=True (as in PyTorch)")

    out_device = query.device if is_torch(query) else None
    q, k, v = to_host(query, "query"), to_host(key, "key"), to_host(value, "value")
    for name, h in (("query", q), ("key", k), ("value", v)):
        if h.ndim < 3:
            raise InvalidShapeError(_lib.VKATTN_ERROR_INVALID_SHAPE,
                                    "%s has rank %d, shape %s: vkattn needs (..., heads, tokens, dim), rank >= 3"
                                    % (name, h.ndim, list(h.shape)))
    if q.dtype not in _dtypes.FLOAT_CODES:
        raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_DTYPE, "query dtype %s is not supported (%s)"
                                % (q.dtype_name, _dtypes.long_names(_dtypes.FLOAT_CODES)))
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_DTYPE,
                                "query, key and value must share a dtype (got %s, %s, %s)"
                                % (q.dtype_name, k.dtype_name, v.dtype_name))

    rank = max(q.ndim, k.ndim, v.ndim, 4)
    out_rank = max(q.ndim, k.ndim, v.ndim)
    qp, kp, vp = (_host.left_pad(h, rank) for h in (q, k, v))
    outer = _broadcast([qp.shape[:-3], kp.shape[:-3], vp.shape[:-3]], "query/key/value")
    hq, hk, hv = qp.shape[-3], kp.shape[-3], vp.shape[-3]
    L, S, Ev = qp.shape[-2], kp.shape[-2], vp.shape[-1]
    hkv = hk if hk == hv else max(hk, hv)
    if hk != hv and min(hk, hv) != 1:
        raise ShapeMismatchError(_lib.VKATTN_ERROR_SHAPE_MISMATCH,
                                 "key has %d heads but value has %d" % (hk, hv))
    if hkv != hq and hkv != 1 and not enable_gqa:
        raise ShapeMismatchError(_lib.VKATTN_ERROR_SHAPE_MISMATCH,
                                 "query has %d heads but key/value have %d: pass enable_gqa=True for "
                                 "grouped-query attention" % (hq, hkv))
    # Hq % Hkv is checked by vkattn, which names the views in its message.

    mask = None
    if attn_mask is not None:
        m = to_host(attn_mask, "attn_mask")
        if m.ndim > rank:
            raise ShapeMismatchError(_lib.VKATTN_ERROR_SHAPE_MISMATCH,
                                     "attn_mask has rank %d, more than the inputs' %d" % (m.ndim, out_rank))
        m = _host.as_mask(m, "attn_mask")
        m = _host.left_pad(m, rank)
        m_outer = m.shape[:-3]
        if all(d == 1 for d in m_outer):
            m = _host.reshape(m, (1,) + m.shape[-3:])
        else:
            if m_outer != outer:
                m = _host.expand(m, outer + m.shape[-3:])
            m = _host.reshape(m, (_prod(outer),) + m.shape[-3:])
        mask = m  # size-1 dimensions broadcast (attention_host passes them as stride 0)

    out_shape_full = outer + (hq, L, Ev)
    out_shape = out_shape_full[rank - out_rank:]
    ctx = context if context is not None else default_context()
    out = _host.empty_like_kind(q.arr, (_prod(outer), hq, L, Ev), q.dtype, align=ctx.host_alignment())
    if out.arr.numel() if out.torch else out.arr.size:
        if S == 0:
            out.arr[...] = 0  # softmax over no keys: vkattn's fully-masked-row convention
        else:
            q4 = _as_bhnd(q, rank, outer, hq)
            k4 = _as_bhnd(k, rank, outer, hkv)
            v4 = _as_bhnd(v, rank, outer, hkv)
            _host.attention_host(ctx, q4, k4, v4, out, mask=mask, scale=scale, causal=bool(is_causal),
                                 backend=_backend_code(backend),
                                 f16_compute=f16_compute and q.dtype == _dtypes.F32)
    result = out.arr.reshape(out_shape)
    if out_device is not None and out_device.type != "cpu":
        result = result.to(out_device)
    return result


scaled_dot_product_attention.__doc__ = _attention.__doc__ + """
    Each successful call is counted in vkattn.stats()["served"]["direct"]
    (calls routed through install() count as "sdpa").
    """


# --------------------------------------------------------------------------
# PyTorch's math, for torch versions without F.scaled_dot_product_attention
# (torch < 2.0): the "original" that install() falls back to there.
# --------------------------------------------------------------------------

def torch_math_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                    enable_gqa=False):
    """softmax(scale * q k^T + mask) v in PyTorch operations, in float32 for
    half inputs. Attention is defined for floating-point tensors only: other
    dtypes raise TypeError naming the argument (PyTorch >= 2.0 refuses them
    too)."""
    import torch
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor):
            raise TypeError("scaled_dot_product_attention: %s must be a torch.Tensor, not %s"
                            % (name, type(t).__name__))
        if not t.dtype.is_floating_point:
            raise TypeError("scaled_dot_product_attention: %s has dtype %s; attention needs a floating-point "
                            "dtype (float32, float16, bfloat16, float64)" % (name, t.dtype))
    if key.dtype != query.dtype or value.dtype != query.dtype:
        raise TypeError("scaled_dot_product_attention: query, key and value must share a dtype (got %s, %s, %s)"
                        % (query.dtype, key.dtype, value.dtype))
    dt = query.dtype
    work = torch.float32 if dt in (torch.float16, torch.bfloat16) else dt
    q, k, v = query.to(work), key.to(work), value.to(work)
    L, S = q.shape[-2], k.shape[-2]
    s = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if enable_gqa and q.dim() >= 3 and k.shape[-3] != q.shape[-3]:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
        v = v.repeat_interleave(q.shape[-3] // v.shape[-3], dim=-3)
    scores = (q @ k.transpose(-2, -1)) * s
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask.to(work)
    p = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        p = torch.dropout(p, dropout_p, train=True)
    return (p @ v).to(dt)


# --------------------------------------------------------------------------
# install / uninstall
# --------------------------------------------------------------------------

_install_lock = threading.Lock()
_original = None
_had_attr = False
_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


def _sdpa_patch(*args, **kwargs):
    """torch.nn.functional.scaled_dot_product_attention routed to vkattn; any
    call vkattn cannot serve goes to the original function, unchanged."""
    original = _original or torch_math_sdpa
    extra = [k for k in kwargs if k not in _SDPA_ARGS]
    if extra or len(args) > len(_SDPA_ARGS):
        STATS.fallback("sdpa", "unknown argument", ", ".join(extra) or "too many positional arguments")
        return original(*args, **kwargs)
    bound = dict(zip(_SDPA_ARGS, args))
    bound.update(kwargs)
    if len(bound) < 3:
        return original(*args, **kwargs)  # let PyTorch name the missing argument
    reason, level = None, logging.WARNING
    try:
        out = _attention(**bound)
    except NotSupportedByVkattn as e:
        reason, detail = ("dropout" if "dropout" in e.message else "autograd"), e.message
        level = logging.INFO
    except VkattnError as e:
        reason, detail = e.status_name, e.message
    except Exception as e:  # never let a vkattn problem break the model: PyTorch decides
        reason, detail = type(e).__name__, str(e)
    if reason is None:
        STATS.served("sdpa")
        return out
    STATS.fallback("sdpa", reason, detail, level=level)
    return original(*args, **kwargs)


_sdpa_patch._vkattn_patch = True


def install(precision="exact"):
    """Route torch.nn.functional.scaled_dot_product_attention to vkattn in
    this process. Code that imported the function itself before install()
    keeps the original. Idempotent; undone by uninstall(). precision: the
    default for float32 inputs, "exact" or "f16" (see
    scaled_dot_product_attention)."""
    global _original, _had_attr, _default_precision
    _f16_compute(precision)  # validates
    import torch.nn.functional as F
    with _install_lock:
        _default_precision = precision
        current = getattr(F, "scaled_dot_product_attention", None)
        if getattr(current, "_vkattn_patch", False):
            return
        _had_attr = current is not None
        _original = current if current is not None else torch_math_sdpa
        F.scaled_dot_product_attention = _sdpa_patch


def uninstall():
    """Put the original torch.nn.functional.scaled_dot_product_attention back."""
    global _original
    import torch.nn.functional as F
    with _install_lock:
        if not getattr(getattr(F, "scaled_dot_product_attention", None), "_vkattn_patch", False):
            return
        if _had_attr:
            F.scaled_dot_product_attention = _original
        else:
            del F.scaled_dot_product_attention
        _original = None


def installed():
    F = sys.modules.get("torch.nn.functional")
    return F is not None and getattr(getattr(F, "scaled_dot_product_attention", None), "_vkattn_patch", False)


def original_sdpa():
    """The function install() replaced (or PyTorch's math for torch < 2.0)."""
    if _original is not None:
        return _original
    F = sys.modules.get("torch.nn.functional")
    fn = getattr(F, "scaled_dot_product_attention", None) if F is not None else None
    if fn is not None and not getattr(fn, "_vkattn_patch", False):
        return fn
    return torch_math_sdpa
