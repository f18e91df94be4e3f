"""vkattn: attention on any Vulkan GPU, from Python.

    import vkattn
    out = vkattn.scaled_dot_product_attention(q, k, v)   # torch tensors or numpy arrays
    vkattn.install()    # route torch.nn.functional.scaled_dot_product_attention here

The library is found through $VKATTN_LIBRARY, else the package folder, else
the newest build*/libvkattn.so of the source tree; its ABI number is checked
at import (vkattn.LibraryError on a mismatch).

For node packs and other hosts that lay out their own views:
attention_into(), empty_output(), mask_view(), is_attention_dtype(),
count_served(), count_fallback() and Context.shares_host_memory()
(python_bridge/README.md, "For node packs and other hosts").
"""

from ._lib import ABI_VERSION, LibraryError, library_path
from ._errors import (DeviceLostError, FeatureMissingError, InternalError, InvalidArgumentError,
                      InvalidDtypeError, InvalidShapeError, NoDeviceError, NotSupportedByVkattn,
                      NoVulkanError, OutOfMemoryError, ShapeMismatchError, UnsupportedError, VkattnError,
                      VulkanError)
from ._core import (Context, Tensor, abi_version, close_default_context, default_context, device_count,
                    devices, validation_error_count, version)
from ._sdpa import (install, installed, original_sdpa, scaled_dot_product_attention, torch_math_sdpa,
                    uninstall)
from ._views import attention_into, empty_output, is_attention_dtype, mask_view
from ._stats import STATS as _STATS
from ._stats import count_fallback, count_served
from ._outpool import POOL as _OUTPUT_POOL

sdpa = scaled_dot_product_attention


def stats():
    """Calls served by vkattn and calls handed back to the original function.

    {"served": {source: n}, "fallbacks": {source: {reason: n}}}, by source:
    "direct" (vkattn.scaled_dot_product_attention called by you), "sdpa"
    (torch.nn.functional.scaled_dot_product_attention routed by install()),
    "comfyui" and "vae" (the ComfyUI nodes), and any other source counted
    with count_served()/count_fallback(). A direct call that vkattn cannot
    serve raises instead of falling back, so "direct" has no fallbacks."""
    return _STATS.snapshot()


def reset_stats():
    _STATS.reset()


def host_cache_info():
    """The pool of warm host blocks that large outputs are carved from:
    cached_bytes (free, kept), leased_bytes (held by live outputs), hits,
    misses, limit_bytes ($VKATTN_HOST_CACHE_MB)."""
    return _OUTPUT_POOL.info()


def empty_host_cache():
    """Frees the pool's free blocks (outputs still alive keep theirs)."""
    _OUTPUT_POOL.clear()


__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION", "LibraryError", "library_path",
    "VkattnError", "InvalidArgumentError", "InvalidShapeError", "InvalidDtypeError", "ShapeMismatchError",
    "UnsupportedError", "NoVulkanError", "NoDeviceError", "FeatureMissingError", "OutOfMemoryError",
    "VulkanError", "DeviceLostError", "InternalError", "NotSupportedByVkattn",
    "Context", "Tensor", "default_context", "close_default_context", "device_count", "devices",
    "validation_error_count", "version", "abi_version",
    "scaled_dot_product_attention", "sdpa", "install", "uninstall", "installed", "original_sdpa",
    "torch_math_sdpa", "stats", "reset_stats", "host_cache_info", "empty_host_cache",
    "attention_into", "empty_output", "mask_view", "is_attention_dtype", "count_served", "count_fallback",
]
