"""Host arrays (numpy, torch on any device) as vkattn views, and the one call
into vkattn_attention_host that every Python entry point uses."""

import ctypes
import sys

from . import _dtypes, _lib
from ._errors import InvalidArgumentError, InvalidDtypeError, make_error
from ._lib import lib
from ._outpool import POOL

# Outputs at least this large are allocated at the device's host-import
# alignment, so vkattn can write them in place instead of through staging.
ALIGN_OUTPUT_MIN_BYTES = 1 << 20


def _torch():
    return sys.modules.get("torch")


def is_torch(x):
    t = _torch()
    return t is not None and isinstance(x, t.Tensor)


class Host:
    """A host array with its element strides and the data pointer vkattn reads.

    `arr` is the object that owns the memory (a CPU torch tensor or a numpy
    array); it is kept alive as long as this object.
    """

    __slots__ = ("arr", "torch", "dtype", "shape", "strides", "ptr")

    def __init__(self, arr):
        self.arr = arr
        self.torch = is_torch(arr)
        if self.torch:
            self.shape = tuple(arr.shape)
            self.strides = tuple(arr.stride())
            self.ptr = arr.data_ptr()
        else:
            it = arr.dtype.itemsize
            self.shape = tuple(arr.shape)
            self.strides = tuple(s // it for s in arr.strides)
            self.ptr = arr.ctypes.data
        self.dtype = _dtypes.code_from(arr.dtype)  # _dtypes.UNKNOWN for float64, ints, ...

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def dtype_name(self):
        return str(self.arr.dtype)


def to_host(x, what):
    """A Host for a torch tensor (moved to the CPU if on another device) or
    anything numpy takes. Negative or odd numpy strides are copied away
    (vkattn views have non-negative element strides)."""
    if is_torch(x):
        if x.layout != _torch().strided:
            raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                    "%s: only strided torch tensors are supported, not %s" % (what, x.layout))
        if x.device.type != "cpu":
            x = x.to("cpu")
        if x.dtype.is_floating_point and getattr(x, "is_neg", None) and x.is_neg():
            x = x.resolve_neg()
        return Host(x.detach())
    import numpy as np
    a = np.asarray(x)
    it = a.dtype.itemsize
    if any(s < 0 or s % it for s in a.strides):
        a = np.array(a, order="C", copy=True)
    return Host(a)


def output_host(x, what):
    """A Host over an output that vkattn writes in place: a strided CPU torch
    tensor or a writable numpy array with non-negative strides. Never a copy
    (a copy would be written and thrown away): anything else raises
    InvalidArgumentError."""
    if is_torch(x):
        torch = _torch()
        if x.layout != torch.strided or x.device.type != "cpu" or (getattr(x, "is_neg", None) and x.is_neg()):
            raise InvalidArgumentError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                       "%s must be a strided CPU tensor (vkattn writes it in place), not %s on %s"
                                       % (what, x.layout, x.device))
        return Host(x.detach())
    import numpy as np
    if not isinstance(x, np.ndarray) or not x.flags.writeable or any(
            s < 0 or s % x.itemsize for s in x.strides):
        raise InvalidArgumentError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                   "%s must be a torch tensor or a writable numpy array with non-negative strides "
                                   "(vkattn writes it in place), not %s" % (what, type(x).__name__))
    return Host(x)


def grad_needed(*xs):
    """True when autograd would want a gradient of one of the torch tensors."""
    torch = _torch()
    if torch is None or not torch.is_grad_enabled():
        return False
    return any(is_torch(x) and x.requires_grad for x in xs if x is not None)


def is_float(h):
    """True for any floating-point dtype (float64 included), torch or numpy."""
    if h.torch:
        return h.arr.dtype.is_floating_point
    return h.arr.dtype.kind == "f" or h.dtype in _dtypes.FLOAT_CODES  # ml_dtypes' bfloat16 is not of kind "f"


def as_mask(h, what):
    """A mask Host in a dtype vkattn reads: bool (True = take part) as it is,
    float32/float16 (added to the scores) as they are, other floating dtypes
    converted to float32. Other dtypes raise InvalidDtypeError."""
    if h.dtype == _dtypes.BOOL or h.dtype in (_dtypes.F32, _dtypes.F16):
        return h
    if not is_float(h):
        raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_DTYPE,
                                "%s dtype %s: use bool or a float dtype" % (what, h.dtype_name))
    return to_float32(h)


# -- small array operations that work on torch and numpy alike ---------------

def reshape(h, shape):
    """View when the strides allow, copy otherwise (torch/numpy reshape)."""
    return Host(h.arr.reshape(shape))


def expand(h, shape):
    if h.torch:
        return Host(h.arr.expand(*shape))
    import numpy as np
    return Host(np.broadcast_to(h.arr, shape))


def contiguous(h):
    if h.torch:
        return Host(h.arr.contiguous())
    import numpy as np
    return Host(np.ascontiguousarray(h.arr))


def to_float32(h):
    if h.torch:
        return Host(h.arr.float())
    import numpy as np
    return Host(np.asarray(h.arr, dtype=np.float32))


def left_pad(h, rank):
    """Prepend size-1 dimensions up to `rank` (a view)."""
    n = rank - h.ndim
    if n <= 0:
        return h
    return Host(h.arr[(None,) * n])


def no_zero_strides(h):
    """Copy if a dimension of size > 1 has stride 0 (a broadcast that vkattn
    accepts only for masks)."""
    if any(s == 0 and n > 1 for n, s in zip(h.shape, h.strides)):
        return contiguous(h)
    return h


def empty_like_kind(like, shape, dtype_code, align=0):
    """A contiguous output Host of the kind of `like` (a torch tensor, on any
    device, gives a CPU tensor; a numpy array a numpy array), aligned to
    `align` bytes when large enough to be imported. Large outputs come from
    the pool of warm blocks (_outpool.py). Host memory that cannot be had
    raises vkattn.OutOfMemoryError (status OUT_OF_HOST_MEMORY)."""
    try:
        return _empty_like_kind(like, shape, dtype_code, align)
    except MemoryError as e:
        raise _out_of_host_memory(shape, dtype_code, e) from None
    except RuntimeError as e:  # torch's CPU allocator: "DefaultCPUAllocator: can't allocate memory"
        if "allocat" not in str(e).lower():
            raise
        raise _out_of_host_memory(shape, dtype_code, e) from None


def _out_of_host_memory(shape, dtype_code, cause):
    n = 1
    for s in shape:
        n *= s
    nbytes = n * _dtypes.size(dtype_code)
    return make_error(_lib.VKATTN_ERROR_OUT_OF_HOST_MEMORY,
                      "the output %s %s needs %.1f GiB of host memory, which could not be allocated (%s)"
                      % (list(shape), _dtypes.name(dtype_code), nbytes / 2.0 ** 30,
                         str(cause).splitlines()[0] if str(cause) else type(cause).__name__))


def _empty_like_kind(like, shape, dtype_code, align=0):
    n = 1
    for s in shape:
        n *= s
    esize = _dtypes.size(dtype_code)
    big = n * esize >= ALIGN_OUTPUT_MIN_BYTES
    if is_torch(like):
        torch = _torch()
        tdt = _dtypes.torch_dtype(dtype_code)
        raw = POOL.lease(n * esize, align if big else 0)
        if raw is not None:
            return Host(torch.from_numpy(raw).view(tdt).view(shape))
        if align and big:
            buf = torch.empty(n * esize + align, dtype=torch.uint8)
            off = (-buf.data_ptr()) % align
            return Host(buf[off:off + n * esize].view(tdt).view(shape))
        return Host(torch.empty(shape, dtype=tdt))
    import numpy as np
    if dtype_code == _dtypes.BF16:
        ndt = like.dtype  # numpy has no bfloat16: the input's own (ml_dtypes)
    else:
        ndt = _dtypes.numpy_dtype(dtype_code)
    raw = POOL.lease(n * esize, align if big else 0)
    if raw is not None:
        return Host(raw.view(ndt).reshape(shape))
    if align and big:
        buf = np.empty(n * esize + align, dtype=np.uint8)
        off = (-buf.ctypes.data) % align
        return Host(buf[off:off + n * esize].view(ndt).reshape(shape))
    return Host(np.empty(shape, dtype=ndt))


# -- the call ------------------------------------------------------------------

def _fill_view(view, shape, strides, broadcast_ok=False):
    """Fill a vkattn_view. Size-1 dimensions get a harmless positive stride
    (stride 0 means broadcast and is kept only where vkattn allows it)."""
    shape = list(shape)
    strides = list(strides)
    if not broadcast_ok:
        inner = 1
        for i in range(3, -1, -1):
            if shape[i] == 1:
                strides[i] = inner
            inner = max(inner, strides[i] * shape[i])
    for i in range(4):
        view.shape[i] = int(shape[i])
        view.strides[i] = int(strides[i])
    view.offset = 0


def attention_host(ctx, q, k, v, out, *, mask=None, scale=None, causal=False,
                   backend=_lib.VKATTN_BACKEND_AUTO, f16_compute=False):
    """One vkattn_attention_host call. q, k, v, out: Host objects of rank 4
    ([B, H, N, D] logical order, any non-negative strides) of q's dtype.
    mask: None or a rank-4 Host, bool (VKATTN_MASK_BOOL) or float32/float16
    (VKATTN_MASK_ADDITIVE: see as_mask); its size-1 dimensions broadcast
    (passed as stride 0). f16_compute: VKATTN_ATTENTION_F16_COMPUTE (f32
    inputs computed as f16)."""
    desc = _lib.new_struct(_lib.AttentionDesc)
    desc.dtype = q.dtype
    desc.out_dtype = q.dtype
    flags = 0
    if scale is not None:
        flags |= _lib.VKATTN_ATTENTION_SCALE
        desc.scale = float(scale)
    if causal:
        flags |= _lib.VKATTN_ATTENTION_CAUSAL
    if f16_compute:
        flags |= _lib.VKATTN_ATTENTION_F16_COMPUTE
    desc.flags = flags
    desc.backend = backend
    _fill_view(desc.q, q.shape, q.strides)
    _fill_view(desc.k, k.shape, k.strides)
    _fill_view(desc.v, v.shape, v.strides)
    _fill_view(desc.out, out.shape, out.strides)
    mptr = None
    if mask is not None:
        desc.mask_kind = _lib.VKATTN_MASK_BOOL if mask.dtype == _dtypes.BOOL else _lib.VKATTN_MASK_ADDITIVE
        desc.mask_dtype = mask.dtype
        _fill_view(desc.mask, mask.shape, tuple(0 if n == 1 else s for n, s in zip(mask.shape, mask.strides)),
                   broadcast_ok=True)
        mptr = mask.ptr
    with ctx.use() as handle:
        st = lib.vkattn_attention_host(handle, ctypes.byref(desc), q.ptr, k.ptr, v.ptr, mptr, out.ptr, None)
        if st != _lib.VKATTN_SUCCESS:
            ctx._check(st, "vkattn_attention_host")
    return out
