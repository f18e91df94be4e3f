"""The node pack's access to vkattn: imported lazily, so ComfyUI starts (and
every patched model keeps working through its fallbacks) even when the
library is missing or of another ABI; Vulkan contexts shared per device."""

import collections
import logging
import os
import sys
import threading

logger = logging.getLogger("vkattn.comfyui")

_lock = threading.Lock()
_module = None
_error = None
_contexts = {}
# Counts kept here only while vkattn cannot be imported (vkattn.stats() otherwise).
_local_fallbacks = collections.Counter()


def _ensure_path():
    # The node pack lives in python_bridge/comfyui, beside the vkattn package;
    # when it is symlinked into ComfyUI/custom_nodes without `pip install`,
    # make python_bridge importable.
    here = os.path.dirname(os.path.realpath(__file__))
    bridge = os.path.dirname(here)
    if os.path.isdir(os.path.join(bridge, "vkattn")) and bridge not in sys.path:
        sys.path.append(bridge)


def module():
    """The vkattn package, or None when it cannot be imported (see import_error())."""
    global _module, _error
    if _module is not None:
        return _module
    with _lock:
        if _module is None and _error is None:
            try:
                try:
                    import vkattn
                except ModuleNotFoundError as e:
                    if e.name != "vkattn":
                        raise
                    _ensure_path()
                    import vkattn
                _module = vkattn
            except Exception as e:  # LibraryError (missing library, ABI mismatch), ...
                _error = "%s: %s" % (type(e).__name__, e)
            if _error:
                logger.error("vkattn nodes: the vkattn library is unavailable, attention runs ComfyUI's own "
                             "functions (%s)", _error)
    return _module


def import_error():
    return _error


def served(source):
    vk = module()
    if vk is not None:
        vk._STATS.served(source)


def fallback(source, reason, detail="", level=logging.INFO):
    vk = module()
    if vk is not None:
        vk._STATS.fallback(source, reason, detail, level=level)
    else:
        with _lock:
            _local_fallbacks[(source, reason)] += 1


def stats():
    vk = module()
    if vk is not None:
        return vk.stats()
    fb = {}
    with _lock:
        for (source, reason), n in _local_fallbacks.items():
            fb.setdefault(source, {})[reason] = n
    return {"served": {}, "fallbacks": fb}


def context(device="auto"):
    """The shared Context for a device option ("auto" = vkattn's default context)."""
    vk = module()
    key = (device or "auto").strip()
    if key.lower() == "auto":
        return vk.default_context()
    # "1: NVIDIA ..." from the node's device list -> index 1
    head = key.split(":", 1)[0].strip()
    sel = int(head) if head.isdigit() else key
    with _lock:
        ctx = _contexts.get(sel)
        if ctx is not None and ctx.inherited():  # a fork()ed child: the parent's context is not ours
            ctx.close()
            ctx = None
        if ctx is None or ctx.closed:
            ctx = vk.Context(device=sel)
            _contexts[sel] = ctx
        return ctx


def device_choices():
    """"auto" and "index: name" of every Vulkan device, for the nodes' combo boxes."""
    vk = module()
    out = ["auto"]
    if vk is None:
        return out
    try:
        for d in vk.devices():
            out.append("%d: %s" % (d["index"], d["name"]))
    except Exception as e:
        logger.warning("vkattn: listing Vulkan devices failed: %s", e)
    return out


def close_all():
    with _lock:
        ctxs = list(_contexts.values())
        _contexts.clear()
    for c in ctxs:
        c.close()
