"""The one place where Python mirrors vkattn.h.

Everything that depends on the C ABI lives here: the loader, the constants,
the ctypes Structures and ONE table of prototypes (each beside its C
declaration). tests/python/test_abi.py parses runtime/include/vkattn.h and
compares it with what this module declares, so an edit to the header that is
not mirrored here fails the tests.
"""

import ctypes
import glob
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int32,
                    c_int64, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p)

# VKATTN_ABI_VERSION of the header this package mirrors. A library reporting
# another number is refused at import.
ABI_VERSION = 1

# --------------------------------------------------------------------------
# Constants (enums and #defines of vkattn.h)
# --------------------------------------------------------------------------

VKATTN_MAX_DIMS = 8

# vkattn_status
VKATTN_SUCCESS = 0
VKATTN_ERROR_INVALID_ARGUMENT = 100
VKATTN_ERROR_NULL_POINTER = 101
VKATTN_ERROR_INVALID_SHAPE = 102
VKATTN_ERROR_INVALID_DTYPE = 103
VKATTN_ERROR_SIZE_OVERFLOW = 104
VKATTN_ERROR_SHAPE_MISMATCH = 105
VKATTN_ERROR_OUT_OF_BOUNDS = 106
VKATTN_ERROR_WRONG_CONTEXT = 107
VKATTN_ERROR_UNSUPPORTED = 200
VKATTN_ERROR_NO_VULKAN = 201
VKATTN_ERROR_NO_DEVICE = 202
VKATTN_ERROR_FEATURE_MISSING = 203
VKATTN_ERROR_OUT_OF_DEVICE_MEMORY = 300
VKATTN_ERROR_OUT_OF_HOST_MEMORY = 301
VKATTN_ERROR_VULKAN = 400
VKATTN_ERROR_SHADER_INTERFACE = 401
VKATTN_ERROR_DEVICE_LOST = 500
VKATTN_ERROR_INTERNAL = 900

# vkattn_dtype (names, sizes, numpy and torch dtypes: the table in _dtypes.py)
VKATTN_DTYPE_F32 = 0
VKATTN_DTYPE_F16 = 1
VKATTN_DTYPE_BF16 = 2
VKATTN_DTYPE_BOOL = 3
VKATTN_DTYPE_COUNT_ = 4

# vkattn_device_type
VKATTN_DEVICE_OTHER = 0
VKATTN_DEVICE_INTEGRATED_GPU = 1
VKATTN_DEVICE_DISCRETE_GPU = 2
VKATTN_DEVICE_VIRTUAL_GPU = 3
VKATTN_DEVICE_CPU = 4

# context flags
VKATTN_CONTEXT_VALIDATION = 1 << 0
VKATTN_CONTEXT_NO_PIPELINE_CACHE = 1 << 1
VKATTN_CONTEXT_NO_HOST_IMPORT = 1 << 2

# vkattn_mask_kind
VKATTN_MASK_NONE = 0
VKATTN_MASK_ADDITIVE = 1
VKATTN_MASK_BOOL = 2

# vkattn_backend
VKATTN_BACKEND_AUTO = 0
VKATTN_BACKEND_PORTABLE = 1
VKATTN_BACKEND_COOPMAT = 2

# attention flags
VKATTN_ATTENTION_SCALE = 1 << 0
VKATTN_ATTENTION_CAUSAL = 1 << 1
VKATTN_ATTENTION_LSE = 1 << 2
VKATTN_ATTENTION_F16_COMPUTE = 1 << 3

DEVICE_TYPE_NAMES = {VKATTN_DEVICE_OTHER: "other", VKATTN_DEVICE_INTEGRATED_GPU: "integrated GPU",
                     VKATTN_DEVICE_DISCRETE_GPU: "discrete GPU", VKATTN_DEVICE_VIRTUAL_GPU: "virtual GPU",
                     VKATTN_DEVICE_CPU: "CPU"}

# C enums are int-sized; every vkattn enum is passed and stored as this.
c_enum = c_int

# --------------------------------------------------------------------------
# Structures: field for field as in vkattn.h, struct_size first.
# --------------------------------------------------------------------------


class DeviceInfo(Structure):
    """struct vkattn_device_info"""
    _fields_ = [
        ("struct_size", c_uint32),
        ("index", c_uint32),
        ("name", c_char * 256),
        ("driver_name", c_char * 256),
        ("driver_info", c_char * 256),
        ("vendor_id", c_uint32),
        ("device_id", c_uint32),
        ("device_type", c_uint32),
        ("api_version", c_uint32),
        ("driver_version", c_uint32),
        ("device_uuid", c_uint8 * 16),
        ("subgroup_size", c_uint32),
        ("min_subgroup_size", c_uint32),
        ("max_subgroup_size", c_uint32),
        ("subgroup_size_control", c_uint32),
        ("subgroup_ops", c_uint32),
        ("max_shared_memory", c_uint32),
        ("max_workgroup_invocations", c_uint32),
        ("max_push_constants", c_uint32),
        ("max_storage_buffer_range", c_uint64),
        ("min_storage_buffer_offset_alignment", c_uint64),
        ("shader_float16", c_uint32),
        ("storage_16bit", c_uint32),
        ("shader_int64", c_uint32),
        ("nv_cooperative_matrix", c_uint32),
        ("khr_cooperative_matrix", c_uint32),
        ("memory_budget_ext", c_uint32),
        ("external_memory_host", c_uint32),
        ("min_imported_host_pointer_alignment", c_uint64),
        ("device_local_heap_size", c_uint64),
        ("device_local_budget", c_uint64),
        ("timestamps", c_uint32),
        ("timestamp_period_ns", c_float),
    ]


class ContextOptions(Structure):
    """struct vkattn_context_options"""
    _fields_ = [
        ("struct_size", c_uint32),
        ("device_index", c_int32),
        ("device_name", c_char_p),
        ("flags", c_uint32),
        ("heap_limit", c_uint64),
        ("max_buffer_range", c_uint64),
        ("cache_dir", c_char_p),
    ]


class MemoryStats(Structure):
    """struct vkattn_memory_stats"""
    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved", c_uint64),
        ("in_use", c_uint64),
        ("peak", c_uint64),
        ("budget", c_uint64),
        ("block_count", c_uint64),
        ("allocation_count", c_uint64),
        ("staging_bytes", c_uint64),
    ]


class View(Structure):
    """struct vkattn_view (no struct_size: it is embedded, never passed alone)"""
    _fields_ = [
        ("shape", c_int64 * 4),
        ("strides", c_int64 * 4),
        ("offset", c_int64),
    ]


class AttentionDesc(Structure):
    """struct vkattn_attention_desc"""
    _fields_ = [
        ("struct_size", c_uint32),
        ("dtype", c_enum),
        ("out_dtype", c_enum),
        ("flags", c_uint32),
        ("scale", c_float),
        ("mask_kind", c_enum),
        ("mask_dtype", c_enum),
        ("backend", c_enum),
        ("q", View),
        ("k", View),
        ("v", View),
        ("out", View),
        ("mask", View),
        ("lse", View),
    ]


class CallInfo(Structure):
    """struct vkattn_call_info"""
    _fields_ = [
        ("struct_size", c_uint32),
        ("path", c_char * 64),
        ("variant", c_char * 128),
        ("dispatches", c_uint32),
        ("submits", c_uint32),
        ("gpu_ms", c_double),
    ]


def new_struct(cls):
    """A zeroed struct with struct_size set (the *_INIT macros)."""
    s = cls()
    s.struct_size = ctypes.sizeof(cls)
    return s


# --------------------------------------------------------------------------
# The prototype table: (C declaration, restype, argtypes). The function name
# is read from the declaration, so the two cannot drift apart.
# --------------------------------------------------------------------------

_ctx = c_void_p     # vkattn_context
_tensor = c_void_p  # vkattn_tensor

PROTOTYPES = [
    ("const char *vkattn_status_string(vkattn_status status)",
     c_char_p, [c_enum]),
    ("const char *vkattn_last_error(void)",
     c_char_p, []),
    ("uint32_t vkattn_version(void)",
     c_uint32, []),
    ("uint32_t vkattn_abi_version(void)",
     c_uint32, []),
    ("size_t vkattn_dtype_size(vkattn_dtype dtype)",
     c_size_t, [c_enum]),
    ("vkattn_status vkattn_device_count(uint32_t *count)",
     c_enum, [POINTER(c_uint32)]),
    ("vkattn_status vkattn_device_get_info(uint32_t index, vkattn_device_info *info)",
     c_enum, [c_uint32, POINTER(DeviceInfo)]),
    ("vkattn_status vkattn_context_create(const vkattn_context_options *options, vkattn_context *out)",
     c_enum, [POINTER(ContextOptions), POINTER(_ctx)]),
    ("void vkattn_context_destroy(vkattn_context ctx)",
     None, [_ctx]),
    ("vkattn_status vkattn_context_get_device_info(vkattn_context ctx, vkattn_device_info *info)",
     c_enum, [_ctx, POINTER(DeviceInfo)]),
    ("vkattn_status vkattn_context_max_buffer_range(vkattn_context ctx, uint64_t *bytes)",
     c_enum, [_ctx, POINTER(c_uint64)]),
    ("uint64_t vkattn_validation_error_count(void)",
     c_uint64, []),
    ("vkattn_status vkattn_memory_reserve(vkattn_context ctx, uint64_t bytes)",
     c_enum, [_ctx, c_uint64]),
    ("vkattn_status vkattn_memory_trim(vkattn_context ctx)",
     c_enum, [_ctx]),
    ("vkattn_status vkattn_memory_get_stats(vkattn_context ctx, vkattn_memory_stats *stats)",
     c_enum, [_ctx, POINTER(MemoryStats)]),
    ("vkattn_status vkattn_memory_reset_peak(vkattn_context ctx)",
     c_enum, [_ctx]),
    ("vkattn_status vkattn_tensor_create(vkattn_context ctx, vkattn_dtype dtype, int32_t ndim, "
     "const int64_t *shape, vkattn_tensor *out)",
     c_enum, [_ctx, c_enum, c_int32, POINTER(c_int64), POINTER(_tensor)]),
    ("void vkattn_tensor_destroy(vkattn_tensor tensor)",
     None, [_tensor]),
    ("vkattn_status vkattn_tensor_get_info(vkattn_tensor tensor, vkattn_dtype *dtype, int32_t *ndim, "
     "int64_t *shape, uint64_t *bytes)",
     c_enum, [_tensor, POINTER(c_enum), POINTER(c_int32), POINTER(c_int64), POINTER(c_uint64)]),
    ("vkattn_status vkattn_tensor_upload(vkattn_tensor tensor, const void *src, uint64_t bytes)",
     c_enum, [_tensor, c_void_p, c_uint64]),
    ("vkattn_status vkattn_tensor_download(vkattn_tensor tensor, void *dst, uint64_t bytes)",
     c_enum, [_tensor, c_void_p, c_uint64]),
    ("vkattn_status vkattn_tensor_upload_strided(vkattn_tensor tensor, const void *src, "
     "const int64_t *host_strides)",
     c_enum, [_tensor, c_void_p, POINTER(c_int64)]),
    ("vkattn_status vkattn_tensor_download_strided(vkattn_tensor tensor, void *dst, "
     "const int64_t *host_strides)",
     c_enum, [_tensor, c_void_p, POINTER(c_int64)]),
    ("vkattn_status vkattn_attention(vkattn_context ctx, const vkattn_attention_desc *desc, "
     "vkattn_tensor q, vkattn_tensor k, vkattn_tensor v, vkattn_tensor mask, vkattn_tensor out, "
     "vkattn_tensor lse)",
     c_enum, [_ctx, POINTER(AttentionDesc), _tensor, _tensor, _tensor, _tensor, _tensor, _tensor]),
    ("vkattn_status vkattn_attention_host(vkattn_context ctx, const vkattn_attention_desc *desc, "
     "const void *q, const void *k, const void *v, const void *mask, void *out, float *lse)",
     c_enum, [_ctx, POINTER(AttentionDesc), c_void_p, c_void_p, c_void_p, c_void_p, c_void_p,
              POINTER(c_float)]),
    ("vkattn_status vkattn_attention_workspace_size(vkattn_context ctx, const vkattn_attention_desc *desc, "
     "uint64_t *bytes)",
     c_enum, [_ctx, POINTER(AttentionDesc), POINTER(c_uint64)]),
    ("vkattn_status vkattn_context_last_call(vkattn_context ctx, vkattn_call_info *info)",
     c_enum, [_ctx, POINTER(CallInfo)]),
    ("vkattn_status vkattn_context_last_dispatch_times(vkattn_context ctx, double *ms, uint32_t capacity, "
     "uint32_t *count)",
     c_enum, [_ctx, POINTER(c_double), c_uint32, POINTER(c_uint32)]),
]


def prototype_name(decl):
    """The function name of a C declaration in PROTOTYPES."""
    head = decl.split("(", 1)[0]
    return head.replace("*", " ").split()[-1]


# --------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------

_LIB_NAMES = ("libvkattn.so", "libvkattn.so.1", "libvkattn.dylib", "vkattn.dll")


class LibraryError(ImportError):
    """libvkattn could not be found or loaded, or it is of another ABI."""


def _package_dir():
    return os.path.dirname(os.path.abspath(__file__))


def _repo_root():
    # python_bridge/vkattn/_lib.py -> the repository root, two folders up.
    return os.path.dirname(os.path.dirname(_package_dir()))


def candidate_paths():
    """Where the library is looked for, in order (VKATTN_LIBRARY is handled apart)."""
    out = []
    for name in _LIB_NAMES:
        out.append(os.path.join(_package_dir(), name))
    builds = []
    for name in _LIB_NAMES:
        builds += glob.glob(os.path.join(_repo_root(), "build*", name))
        builds += glob.glob(os.path.join(_repo_root(), "build*", "*", name))
    # The most recently built first: a stale build tree should not win.
    builds.sort(key=lambda p: os.path.getmtime(p) if os.path.exists(p) else 0, reverse=True)
    return out + builds


def _bind(lib, path):
    for decl, restype, argtypes in PROTOTYPES:
        name = prototype_name(decl)
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise LibraryError(
                "%s does not export %s (declared in vkattn.h as `%s`): the library is older or newer "
                "than this Python package; rebuild it, or set VKATTN_LIBRARY to a matching build"
                % (path, name, decl)) from None
        fn.restype = restype
        fn.argtypes = argtypes


def load():
    """Load libvkattn: $VKATTN_LIBRARY, else the package folder, else the
    newest build*/ of the repository. Returns (CDLL, path)."""
    env = os.environ.get("VKATTN_LIBRARY")
    if env:
        paths = [env]
    else:
        paths = [p for p in candidate_paths() if os.path.exists(p)]
        if not paths:
            raise LibraryError(
                "libvkattn not found: set VKATTN_LIBRARY=/path/to/libvkattn.so, copy the library into %s, "
                "or build it in the repository (cmake -S . -B build && cmake --build build --target vkattn)"
                % _package_dir())
    errors = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            _bind(lib, path)
            abi = lib.vkattn_abi_version()
            if abi != ABI_VERSION:
                raise LibraryError(
                    "ABI mismatch: %s has VKATTN_ABI_VERSION %d but this vkattn Python package expects %d. "
                    "Rebuild the library from the same source as the package, or set VKATTN_LIBRARY to a "
                    "matching libvkattn" % (path, abi, ABI_VERSION))
            return lib, path
        except (OSError, LibraryError) as e:
            if env:
                raise LibraryError("VKATTN_LIBRARY=%s: %s" % (env, e)) from None
            errors.append(str(e))  # a stale or half-built tree: try the next one
    raise LibraryError("no usable libvkattn among %d candidate(s): %s" % (len(paths), " | ".join(errors)))


lib, library_path = load()


def last_error():
    msg = lib.vkattn_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def status_string(status):
    s = lib.vkattn_status_string(status)
    return s.decode("utf-8", "replace") if s else "status %d" % status
