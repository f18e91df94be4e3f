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


# The name the bridge is loaded under when "vkattn" in sys.modules is taken
# by something else: this node pack itself, when ComfyUI imported it by a
# folder named vkattn.
_PRIVATE_NAME = "_vkattn_bridge_for_nodes"


def _pack_dir():
    return os.path.dirname(os.path.realpath(__file__))


def _is_bridge(mod):
    """True for the vkattn Python package (not this node pack, whatever its name),
    recognized by public functions the pack uses."""
    return (mod is not None and callable(getattr(mod, "scaled_dot_product_attention", None))
            and callable(getattr(mod, "default_context", None))
            and callable(getattr(mod, "count_fallback", None)))


def _spec_is_pack(spec):
    origin = getattr(spec, "origin", None)
    return bool(origin) and os.path.dirname(os.path.realpath(origin)) == _pack_dir()


def _find_bridge_spec():
    """Where the vkattn package is, found without importing anything: an
    installed or path-reachable vkattn that is not this pack (a folder named
    vkattn on sys.path, custom_nodes/vkattn say, is skipped), else
    python_bridge/vkattn beside this pack's real folder (through a symlink)."""
    import importlib.machinery
    import importlib.util
    own = _pack_dir()
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            if finder is importlib.machinery.PathFinder:
                path = [p for p in sys.path
                        if os.path.realpath(os.path.join(p or os.curdir, "vkattn")) != own]
                spec = importlib.machinery.PathFinder.find_spec("vkattn", path)
            else:
                spec = find("vkattn", None)
        except Exception:
            continue
        if spec is not None and spec.origin and not _spec_is_pack(spec):
            return spec
    beside = os.path.join(os.path.dirname(own), "vkattn", "__init__.py")
    if os.path.isfile(beside):
        return importlib.util.spec_from_file_location("vkattn", beside,
                                                      submodule_search_locations=[os.path.dirname(beside)])
    return None


def _import_bridge():
    """The vkattn package, never this pack: ComfyUI versions that import a
    custom node by its folder name put the pack in sys.modules["vkattn"]
    when its folder is named vkattn. The bridge is then loaded under a private
    name instead. Raises ModuleNotFoundError when it is nowhere."""
    import importlib.util
    for name in ("vkattn", _PRIVATE_NAME):
        if _is_bridge(sys.modules.get(name)):
            return sys.modules[name]
    spec = _find_bridge_spec()
    if spec is None:
        raise ModuleNotFoundError("the vkattn package was not found: install it (pip install -e python_bridge) "
                                  "or keep this node pack inside python_bridge/", name="vkattn")
    name = "vkattn" if "vkattn" not in sys.modules else _PRIVATE_NAME
    spec = importlib.util.spec_from_file_location(name, spec.origin,
                                                  submodule_search_locations=spec.submodule_search_locations)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        for sub in [m for m in sys.modules if m.startswith(name + ".")]:
            sys.modules.pop(sub, None)
        raise
    if not _is_bridge(mod):
        sys.modules.pop(name, None)
        raise ImportError("%s is not the vkattn package" % spec.origin)
    return mod


def module():
    """The vkattn package, or None when it cannot be imported (see import_error())."""
    global _module, _error
    if _module is not None:
        return _module
    with _lock:
        if _module is None and _error is None:
            try:
                _module = _import_bridge()
            except Exception as e:  # LibraryError (missing library, ABI mismatch), ...
                _error = "%s: %s" % (type(e).__name__, e)
            if _error:
                logger.error("vkattn nodes: the vkattn library is unavailable, attention runs ComfyUI's own "
                             "functions (%s)", _error)
    return _module


def import_error():
    return _error


def served(source):
    try:
        vk = module()
        if vk is not None:
            vk.count_served(source)
    except Exception as e:  # counting must never break a model's call
        logger.debug("vkattn nodes: counting a served call failed: %s", e)


def fallback(source, reason, detail="", level=logging.INFO):
    """Count (and log once) a call handed to ComfyUI's own function. Never
    raises: it runs on the fallback path, which must not fail."""
    try:
        vk = module()
        if vk is not None:
            vk.count_fallback(source, reason, detail, level=level)
            return
    except Exception as e:
        logger.debug("vkattn nodes: counting a fallback failed: %s", e)
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
