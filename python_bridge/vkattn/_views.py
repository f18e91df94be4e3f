"""Attention on views that the caller lays out: the public functions a node
pack (python_bridge/comfyui) or another host builds on where
scaled_dot_product_attention's conventions are not its own.

The caller sees each operand as a rank-4 [B, H, N, D] view of the arrays it
has (torch's transpose/unflatten/unsqueeze, or numpy's equivalents: views,
never copies), allocates the output with empty_output() in the layout it
wants back and passes a rank-4 view of it; attention_into() hands those
strides to vkattn, so nothing is transposed or copied on the host.
"""

from . import _dtypes, _host, _lib
from ._core import default_context
from ._errors import InvalidDtypeError, InvalidShapeError, NotSupportedByVkattn, ShapeMismatchError
from ._host import is_torch, to_host
from ._sdpa import _f16_compute


def is_attention_dtype(dtype):
    """True for the dtypes vkattn computes attention in (float32, float16,
    bfloat16), given as a torch or numpy dtype or a name."""
    return _dtypes.code_from(dtype) in _dtypes.FLOAT_CODES


def empty_output(like, shape, *, context=None):
    """A new contiguous host array of `shape` and `like`'s dtype, for
    attention_into() to write: a CPU torch tensor when `like` is a torch
    tensor (on any device), else a numpy array. Large outputs come from
    vkattn's pool of warm blocks (see host_cache_info()) and are aligned so
    that the device of `context` (None: the default context) can write them
    in place."""
    code = _dtypes.code_from(like.dtype)
    if code not in _dtypes.FLOAT_CODES:
        raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_DTYPE, "output dtype %s is not supported (%s)"
                                % (like.dtype, _dtypes.long_names(_dtypes.FLOAT_CODES)))
    ctx = context if context is not None else default_context()
    return _host.empty_like_kind(like, tuple(int(s) for s in shape), code, align=ctx.host_alignment()).arr


def mask_view(mask, B, H, Nq, Nk):
    """A mask as ComfyUI passes them, as the rank-4 mask attention_into()
    takes for [B, H, Nq, Nk] scores.

    mask: (Nq, Nk), (B, Nq, Nk) or (B, H, Nq, Nk), each dimension 1
    (broadcast) or full; bool (True = take part) or float (added to the
    scores); a torch tensor (any device) or anything numpy takes. Returns a
    host array of rank 4 (a CPU tensor or a numpy array) whose size-1
    dimensions broadcast: a view of the mask where it is already in host
    memory, float dtypes other than float32/float16 converted to float32.
    Raises InvalidShapeError for another rank, ShapeMismatchError for a
    dimension that is neither 1 nor full, InvalidDtypeError for a mask that is
    neither bool nor float.
    """
    if not is_torch(mask):
        import numpy as np
        mask = np.asarray(mask)
    if mask.ndim == 2:
        m = mask[None, None]
    elif mask.ndim == 3:
        m = mask[:, None]
    elif mask.ndim == 4:
        m = mask
    else:
        raise InvalidShapeError(_lib.VKATTN_ERROR_INVALID_SHAPE, "mask of rank %d" % mask.ndim)
    full = (B, H, Nq, Nk)
    for n, f in zip(m.shape, full):
        if n != 1 and n != f:
            raise ShapeMismatchError(_lib.VKATTN_ERROR_SHAPE_MISMATCH,
                                     "mask %s does not broadcast to %s" % (list(mask.shape), list(full)))
    return _host.as_mask(to_host(m, "mask"), "mask").arr


def attention_into(q, k, v, out, *, mask=None, scale=None, precision="exact", context=None):
    """softmax(scale * q @ k^T + mask) @ v on the Vulkan device, written into
    `out`, which is returned.

    q [B, Hq, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv]: rank-4 torch
    tensors (any device: moved through host memory, keeping their strides
    where torch does) or numpy arrays; one dtype, float32, float16 or
    bfloat16; any non-negative strides, read as they are (no copy). Hq a
    multiple of Hkv is grouped-query attention (query head h uses kv head
    h // (Hq / Hkv)).
    out [B, Hq, Nq, Dv]: host memory of q's dtype that vkattn writes in place
    (a CPU tensor or a writable numpy array, any non-negative strides),
    usually a view of an empty_output() array.
    mask: None, or a rank-4 bool (True = take part) or float (added to the
    scores) array whose dimensions are 1 (broadcast, no copy) or full;
    mask_view() makes one from a ComfyUI mask.
    scale: None = 1/sqrt(D). precision: "exact" or "f16" (float32 inputs
    computed as float16, f32 accumulation; see scaled_dot_product_attention);
    None = install()'s default. context: a Context (None: default_context()).

    A row whose every key is masked out gives zeros. No autograd:
    NotSupportedByVkattn when a gradient would be needed. Shapes that do not
    pair raise vkattn's own error, naming the view. Counts nothing in
    stats(): the caller counts with count_served()/count_fallback().
    """
    f16_compute = _f16_compute(precision)
    if _host.grad_needed(q, k, v, mask):
        raise NotSupportedByVkattn("an input requires grad: vkattn has no backward pass")
    qh, kh, vh = to_host(q, "q"), to_host(k, "k"), to_host(v, "v")
    oh = _host.output_host(out, "out")
    m = None
    if mask is not None:
        m = _host.as_mask(to_host(mask, "mask"), "mask")
    for name, h in (("q", qh), ("k", kh), ("v", vh), ("out", oh), ("mask", m)):
        if h is not None and h.ndim != 4:
            raise InvalidShapeError(_lib.VKATTN_ERROR_INVALID_SHAPE, "%s has rank %d, shape %s: attention_into "
                                    "takes rank-4 [B, H, N, D] views" % (name, h.ndim, list(h.shape)))
    if qh.dtype not in _dtypes.FLOAT_CODES:
        raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_DTYPE, "q dtype %s is not supported (%s)"
                                % (qh.dtype_name, _dtypes.long_names(_dtypes.FLOAT_CODES)))
    if kh.dtype != qh.dtype or vh.dtype != qh.dtype or oh.dtype != qh.dtype:
        raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_DTYPE, "q, k, v and out must share a dtype (got %s, "
                                "%s, %s, %s)" % (qh.dtype_name, kh.dtype_name, vh.dtype_name, oh.dtype_name))
    ctx = context if context is not None else default_context()
    _host.attention_host(ctx, qh, kh, vh, oh, mask=m, scale=scale,
                         f16_compute=f16_compute and qh.dtype == _dtypes.F32)
    return out
