"""Handles as Python objects: Context and Tensor (close() + context managers),
device enumeration and the process-wide default context."""

import atexit
import ctypes
import operator
import os
import threading
import weakref

from . import _dtypes, _lib
from ._errors import InvalidArgumentError, check, make_error
from ._lib import lib

# --------------------------------------------------------------------------
# Library-level queries
# --------------------------------------------------------------------------


def version():
    """(major, minor, patch) of the loaded library."""
    v = lib.vkattn_version()
    return (v // 10000, (v // 100) % 100, v % 100)


def abi_version():
    return lib.vkattn_abi_version()


def validation_error_count():
    """Validation-layer errors reported since the process started (all contexts)."""
    return lib.vkattn_validation_error_count()


def _info_dict(info):
    d = {}
    for name, _ in info._fields_:
        if name == "struct_size":
            continue
        val = getattr(info, name)
        if isinstance(val, bytes):
            val = val.decode("utf-8", "replace")
        elif name == "device_uuid":
            val = bytes(val).hex()
        d[name] = val
    d["device_type_name"] = _lib.DEVICE_TYPE_NAMES.get(d["device_type"], "unknown")
    api = d["api_version"]
    d["api_version_string"] = "%d.%d.%d" % ((api >> 22) & 0x7F, (api >> 12) & 0x3FF, api & 0xFFF)
    return d


def device_count():
    """The number of Vulkan devices; raises NoVulkanError without a loader/driver."""
    n = ctypes.c_uint32(0)
    check(lib.vkattn_device_count(ctypes.byref(n)), "vkattn_device_count")
    return n.value


def devices():
    """A dict of vkattn_device_info per device, in vkattn's order."""
    out = []
    for i in range(device_count()):
        info = _lib.new_struct(_lib.DeviceInfo)
        check(lib.vkattn_device_get_info(i, ctypes.byref(info)), "vkattn_device_get_info")
        out.append(_info_dict(info))
    return out


# --------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------


class _Closeable:
    """close() on leaving a with-block and (best effort) on garbage collection."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _byte_count(value, name, zero_means):
    """A non-negative int of bytes for a context option, or a clear error."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)  # ints and numpy integers; not floats or strings
    except TypeError:
        raise TypeError("%s must be an int number of bytes (%s), not %r" % (name, zero_means, value)) from None
    if value < 0 or value >= 1 << 64:
        raise InvalidArgumentError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                   "%s = %d: give a number of bytes >= 0 (%s)" % (name, value, zero_means))
    return value


class Context(_Closeable):
    """A vkattn_context: one Vulkan device, its memory pools and pipelines.

    device: None or "auto" = vkattn's choice ($VKATTN_DEVICE, else the best
    by type); an int = the device index; a str of digits = an index; any
    other str = a case-insensitive substring of the device name.
    validation: True/False forces VK_LAYER_KHRONOS_validation on/off flags;
    None leaves it to $VKATTN_VALIDATION.

    Safe to share between threads (vkattn serializes calls on one context).
    close() waits for calls in flight, frees every Tensor of the context and
    the device; afterwards every call raises a VkattnError.
    """

    def __init__(self, device=None, *, validation=None, heap_limit=0, max_buffer_range=0,
                 cache_dir=None, no_host_import=False, no_pipeline_cache=False):
        opts = _lib.new_struct(_lib.ContextOptions)
        opts.device_index = -1
        opts.device_name = None
        if isinstance(device, bool):
            raise TypeError("device must be None, an int or a str")
        if isinstance(device, int):
            if device < 0:
                raise InvalidArgumentError(_lib.VKATTN_ERROR_INVALID_ARGUMENT,
                                           "device = %d: a device index is >= 0 (None or 'auto' lets vkattn "
                                           "choose; vkattn.devices() lists them)" % device)
            opts.device_index = device
        elif isinstance(device, str) and device.strip() and device.strip().lower() != "auto":
            s = device.strip()
            if s.isdigit():
                opts.device_index = int(s)
            else:
                opts.device_name = s.encode("utf-8")
        elif device is not None and not isinstance(device, str):
            raise TypeError("device must be None, an int or a str, not %r" % type(device).__name__)
        flags = 0
        if validation:
            flags |= _lib.VKATTN_CONTEXT_VALIDATION
        if no_host_import:
            flags |= _lib.VKATTN_CONTEXT_NO_HOST_IMPORT
        if no_pipeline_cache:
            flags |= _lib.VKATTN_CONTEXT_NO_PIPELINE_CACHE
        opts.flags = flags
        opts.heap_limit = _byte_count(heap_limit, "heap_limit", "0 = no limit")
        opts.max_buffer_range = _byte_count(max_buffer_range, "max_buffer_range", "0 = the device's limit")
        opts.cache_dir = os.fsencode(cache_dir) if cache_dir else None

        self._lock = threading.Condition()
        self._pid = os.getpid()
        self._busy = 0
        self._tensors = weakref.WeakSet()
        self._info = None
        handle = ctypes.c_void_p()
        check(lib.vkattn_context_create(ctypes.byref(opts), ctypes.byref(handle)), "vkattn_context_create")
        self._handle = handle.value

    # -- lifetime -----------------------------------------------------------

    def inherited(self):
        """True in a fork()ed child of the process that created this context:
        Vulkan objects do not survive fork, so every call on it raises
        InvalidArgumentError (WRONG_CONTEXT); make a new Context in the child.
        default_context() does that by itself."""
        return self._pid != os.getpid()

    def close(self):
        """Free the context (and its tensors). Idempotent. In a fork()ed child
        only the handle goes: the device belongs to the parent."""
        if self.inherited():
            # The lock may have been held by a thread of the parent when it
            # forked; no call of this process can be in flight on it.
            handle, self._handle = self._handle, None
            tensors = list(self._tensors)
        else:
            with self._lock:
                while self._busy:
                    self._lock.wait()
                handle, self._handle = self._handle, None
                tensors = list(self._tensors)
        for t in tensors:
            t._forget()
        if handle:
            lib.vkattn_context_destroy(handle)

    @property
    def closed(self):
        return self._handle is None


    def __repr__(self):
        if self.closed:
            return "<vkattn.Context closed>"
        return "<vkattn.Context %s>" % self.device_info()["name"]

    class _Use:
        __slots__ = ("ctx",)

        def __init__(self, ctx):
            self.ctx = ctx

        def __enter__(self):
            c = self.ctx
            if c.inherited():
                # vkattn refuses the handle at once (WRONG_CONTEXT, naming
                # fork); the parent's lock is not ours to take.
                return c._handle
            with c._lock:
                c._busy += 1
                # A closed context passes NULL: vkattn reports it (status +
                # message naming the argument), never a crash.
                return c._handle

        def __exit__(self, *exc):
            c = self.ctx
            if c.inherited():
                return
            with c._lock:
                c._busy -= 1
                if not c._busy:
                    c._lock.notify_all()

    def use(self):
        """`with ctx.use() as handle:` keeps close() from freeing the context
        during a call; handle is None once closed."""
        return Context._Use(self)

    def _check(self, status, what):
        if status != _lib.VKATTN_SUCCESS and self.closed:
            msg = _lib.last_error()
            raise make_error(status, "%s: %s (the vkattn.Context was closed)" % (what, msg))
        check(status, what)

    # -- queries ------------------------------------------------------------

    def device_info(self):
        """vkattn_device_info of the context's device, as a dict."""
        if self._info is not None and not self.closed:
            return dict(self._info)
        info = _lib.new_struct(_lib.DeviceInfo)
        with self.use() as h:
            self._check(lib.vkattn_context_get_device_info(h, ctypes.byref(info)),
                        "vkattn_context_get_device_info")
        self._info = _info_dict(info)
        return dict(self._info)

    def host_alignment(self):
        """Alignment that lets vkattn import host memory instead of copying it (0: never)."""
        info = self.device_info()
        if not info["external_memory_host"]:
            return 0
        return int(info["min_imported_host_pointer_alignment"]) or 4096

    def shares_host_memory(self):
        """True when the device's memory is system RAM (an integrated GPU, or
        a CPU device such as lavapipe): what vkattn allocates there is taken
        from the host's memory."""
        return self.device_info()["device_type"] in (_lib.VKATTN_DEVICE_INTEGRATED_GPU, _lib.VKATTN_DEVICE_CPU)

    def max_buffer_range(self):
        n = ctypes.c_uint64(0)
        with self.use() as h:
            self._check(lib.vkattn_context_max_buffer_range(h, ctypes.byref(n)),
                        "vkattn_context_max_buffer_range")
        return n.value

    def memory_stats(self):
        """vkattn_memory_stats as a dict (bytes)."""
        s = _lib.new_struct(_lib.MemoryStats)
        with self.use() as h:
            self._check(lib.vkattn_memory_get_stats(h, ctypes.byref(s)), "vkattn_memory_get_stats")
        return {name: getattr(s, name) for name, _ in s._fields_ if name != "struct_size"}

    def memory_reserve(self, nbytes):
        with self.use() as h:
            self._check(lib.vkattn_memory_reserve(h, int(nbytes)), "vkattn_memory_reserve")

    def memory_trim(self):
        with self.use() as h:
            self._check(lib.vkattn_memory_trim(h), "vkattn_memory_trim")

    def memory_reset_peak(self):
        with self.use() as h:
            self._check(lib.vkattn_memory_reset_peak(h), "vkattn_memory_reset_peak")

    def last_call(self):
        """What the last op call did (path, variant, dispatches, submits, gpu_ms)."""
        ci = _lib.new_struct(_lib.CallInfo)
        with self.use() as h:
            self._check(lib.vkattn_context_last_call(h, ctypes.byref(ci)), "vkattn_context_last_call")
        return {"path": ci.path.decode("utf-8", "replace"), "variant": ci.variant.decode("utf-8", "replace"),
                "dispatches": ci.dispatches, "submits": ci.submits, "gpu_ms": ci.gpu_ms}

    def last_dispatch_times(self):
        """GPU milliseconds of each dispatch of the last op call ([] without timestamps)."""
        n = ctypes.c_uint32(0)
        with self.use() as h:
            self._check(lib.vkattn_context_last_dispatch_times(h, None, 0, ctypes.byref(n)),
                        "vkattn_context_last_dispatch_times")
            if not n.value:
                return []
            buf = (ctypes.c_double * n.value)()
            self._check(lib.vkattn_context_last_dispatch_times(h, buf, n.value, ctypes.byref(n)),
                        "vkattn_context_last_dispatch_times")
        return list(buf[:n.value])

    def tensor(self, shape, dtype="f32"):
        """A new device Tensor of this context."""
        return Tensor(self, shape, dtype)


# --------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------

class Tensor(_Closeable):
    """A dense device tensor (vkattn_tensor) of a Context.

    Close it before its context; Context.close() invalidates the tensors it
    frees. upload()/download() take numpy arrays (any strides).
    """

    def __init__(self, ctx, shape, dtype="f32"):
        self._ctx = ctx
        self._handle = None
        shape = tuple(int(s) for s in shape)
        code = _dtypes.code_from(dtype)  # an unknown dtype is refused by vkattn, naming it
        arr = (ctypes.c_int64 * max(1, len(shape)))(*shape)
        handle = ctypes.c_void_p()
        with ctx.use() as h:
            ctx._check(lib.vkattn_tensor_create(h, code, len(shape), arr, ctypes.byref(handle)),
                       "vkattn_tensor_create")
        self._handle = handle.value
        self.shape = shape
        self.dtype = code
        ctx._tensors.add(self)

    @property
    def context(self):
        return self._ctx

    @property
    def closed(self):
        return self._handle is None

    def _forget(self):
        # The context freed us (vkattn_context_destroy frees live tensors).
        self._handle = None

    def close(self):
        h, self._handle = self._handle, None
        if h and not self._ctx.closed:
            with self._ctx.use():
                lib.vkattn_tensor_destroy(h)


    @property
    def nbytes(self):
        n = ctypes.c_uint64(0)
        with self._ctx.use():
            self._ctx._check(lib.vkattn_tensor_get_info(self._handle, None, None, None, ctypes.byref(n)),
                             "vkattn_tensor_get_info")
        return n.value

    def upload(self, array):
        """Copy a host numpy array of the tensor's shape (and element size) in.
        bf16 data is passed as uint16 bit patterns."""
        import numpy as np
        a = np.asarray(array)
        if a.shape != self.shape:
            raise ValueError("upload: array shape %s != tensor shape %s" % (a.shape, self.shape))
        if a.dtype.itemsize != _dtypes.size(self.dtype):
            raise TypeError("upload: array dtype %s does not match the tensor's %s"
                            % (a.dtype, _dtypes.name(self.dtype)))
        if any(s % a.itemsize for s in a.strides):
            a = np.ascontiguousarray(a)
        with self._ctx.use():
            if a.flags.c_contiguous:
                st = lib.vkattn_tensor_upload(self._handle, a.ctypes.data, a.nbytes)
            else:
                strides = (ctypes.c_int64 * len(a.shape))(*[s // a.itemsize for s in a.strides])
                st = lib.vkattn_tensor_upload_strided(self._handle, a.ctypes.data, strides)
            self._ctx._check(st, "vkattn_tensor_upload")

    def download(self):
        """The tensor's contents as a new numpy array (bf16 as uint16 bits)."""
        import numpy as np
        out = np.empty(self.shape, dtype=_dtypes.numpy_dtype(self.dtype))
        with self._ctx.use():
            self._ctx._check(lib.vkattn_tensor_download(self._handle, out.ctypes.data, out.nbytes),
                             "vkattn_tensor_download")
        return out


# --------------------------------------------------------------------------
# The default context
# --------------------------------------------------------------------------

_default = None
_default_lock = threading.Lock()


def _forget_default_in_child():
    # fork(): the parent's default context is unusable here (and the lock
    # may have been held by one of its threads). The child's first call
    # makes a context of its own.
    # Whoever still holds the parent's Context gets WRONG_CONTEXT (naming
    # fork) from its calls; closing it releases only the handle.
    global _default, _default_lock
    _default_lock = threading.Lock()
    _default = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_default_in_child)


def default_context():
    """The context of this process, created on first use (device from
    $VKATTN_DEVICE, validation from $VKATTN_VALIDATION). Thread-safe. A
    fork()ed child (multiprocessing's default on Linux) gets a new one of its
    own on its first call."""
    global _default
    ctx = _default
    if ctx is not None and not ctx.closed and not ctx.inherited():
        return ctx
    with _default_lock:
        if _default is not None and _default.inherited():
            _default.close()
            _default = None
        if _default is None or _default.closed:
            _default = Context()
        return _default


def close_default_context():
    """Close the default context; the next default_context() makes a new one."""
    global _default
    with _default_lock:
        ctx, _default = _default, None
    if ctx is not None:
        ctx.close()


atexit.register(close_default_context)
