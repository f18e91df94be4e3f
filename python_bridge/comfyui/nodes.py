"""ComfyUI nodes (legacy registration: see __init__.py)."""

import json

from . import _vk
from .override import BACKENDS, F32_PRECISIONS, patch_model
from .vae import patch_vae

CATEGORY = "vkattn"


def _device_input():
    choices = _vk.device_choices()
    return (choices, {"default": "auto",
                      "tooltip": "Vulkan device: auto = $VKATTN_DEVICE, else the best (discrete > integrated > ...)"})


class VkattnPatchModel:
    """MODEL -> a clone whose attention runs on vkattn (ComfyUI's
    optimized_attention_override)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "device": _device_input(),
            "min_tokens": ("INT", {"default": 0, "min": 0, "max": 1 << 20, "step": 1,
                                   "tooltip": "attention with fewer query tokens runs ComfyUI's own function"}),
            "fallback_on_error": ("BOOLEAN", {"default": True,
                                              "tooltip": "on a vkattn error run ComfyUI's function (logged once)"}),
            "backend": (list(BACKENDS), {"default": "auto",
                                         "tooltip": "flash: exact attention (auto: the same)"}),
        }, "optional": {
            "f32_precision": (list(F32_PRECISIONS), {"default": "exact",
                                                     "tooltip": "float32 models (torch on the CPU): f16 computes "
                                                                "attention like float16 inputs, several times faster; "
                                                                "exact keeps f32 accuracy"}),
        }}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = CATEGORY
    DESCRIPTION = "Run the model's attention on any Vulkan GPU with vkattn."

    def patch(self, model, device="auto", min_tokens=0, fallback_on_error=True, backend="auto", f32_precision="exact"):
        return (patch_model(model, device=device, min_tokens=min_tokens, fallback_on_error=fallback_on_error,
                            backend=backend, f32_precision=f32_precision),)


class VkattnPatchVAE:
    """VAE -> the same VAE with its attention blocks on vkattn (in place)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "vae": ("VAE",),
            "enabled": ("BOOLEAN", {"default": True, "tooltip": "off: put ComfyUI's VAE attention back"}),
            "device": _device_input(),
            "fallback_on_error": ("BOOLEAN", {"default": True}),
        }}

    RETURN_TYPES = ("VAE",)
    FUNCTION = "patch"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Run the VAE's mid-block attention (1 head x 512, 16384 tokens at 1024x1024) on vkattn. "
                   "Changes the VAE object in place.")

    def patch(self, vae, enabled=True, device="auto", fallback_on_error=True):
        patch_vae(vae, enabled=enabled, device=device, fallback_on_error=fallback_on_error)
        return (vae,)


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def info_text():
    """What the vkattn Info node shows."""
    vk = _vk.module()
    lines = []
    if vk is None:
        lines.append("vkattn unavailable: %s" % _vk.import_error())
    else:
        lines.append("vkattn %s (ABI %d), library %s" % (".".join(map(str, vk.version())), vk.abi_version(),
                                                          vk.library_path))
        try:
            ctx = vk.default_context()
            d = ctx.device_info()
            lines.append("device: %s (%s, driver %s, Vulkan %s)" % (d["name"], d["device_type_name"],
                                                                   d["driver_name"] or "?", d["api_version_string"]))
            caps = []
            if d["shader_float16"]:
                caps.append("f16 math")
            if d["storage_16bit"]:
                caps.append("16-bit storage")
            if d["nv_cooperative_matrix"]:
                caps.append("NV coopmat")
            if d["khr_cooperative_matrix"]:
                caps.append("KHR coopmat")
            if d["external_memory_host"]:
                caps.append("host import")
            if d["memory_budget_ext"]:
                caps.append("memory budget")
            lines.append("capabilities: subgroup %d, shared memory %s, max buffer %s; %s" % (
                d["subgroup_size"], _fmt_bytes(d["max_shared_memory"]), _fmt_bytes(d["max_storage_buffer_range"]),
                ", ".join(caps) or "-"))
            m = ctx.memory_stats()
            lines.append("vkattn memory: in use %s, reserved %s, peak %s, budget %s, staging %s" % (
                _fmt_bytes(m["in_use"]), _fmt_bytes(m["reserved"]), _fmt_bytes(m["peak"]), _fmt_bytes(m["budget"]),
                _fmt_bytes(m["staging_bytes"])))
            hc = vk.host_cache_info()
            lines.append("host output blocks: %s held by outputs, %s cached (limit %s, VKATTN_HOST_CACHE_MB)" % (
                _fmt_bytes(hc["leased_bytes"]), _fmt_bytes(hc["cached_bytes"]), _fmt_bytes(hc["limit_bytes"])))
        except Exception as e:
            lines.append("device: unavailable (%s)" % e)
    s = _vk.stats()
    for source in sorted(set(s["served"]) | set(s["fallbacks"])):
        fb = s["fallbacks"].get(source, {})
        lines.append("%s: %d served by vkattn, %d fell back%s" % (
            source, s["served"].get(source, 0), sum(fb.values()),
            (" (" + ", ".join("%s: %d" % kv for kv in sorted(fb.items())) + ")") if fb else ""))
    if not s["served"] and not s["fallbacks"]:
        lines.append("no attention calls yet")
    return "\n".join(lines)


class VkattnInfo:
    """Device, capabilities, vkattn memory use and call counts."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("info",)
    FUNCTION = "info"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")  # always re-run: the counts change

    def info(self):
        text = info_text()
        return {"ui": {"text": [text]}, "result": (text,)}


class VkattnInstallSDPA:
    """Patch torch.nn.functional.scaled_dot_product_attention process-wide."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"enabled": ("BOOLEAN", {"default": True})}}

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("status",)
    FUNCTION = "apply"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = ("Route every torch.nn.functional.scaled_dot_product_attention call of this ComfyUI process to "
                   "vkattn (whatever vkattn cannot serve runs PyTorch's). Stays until disabled or restart.")

    @classmethod
    def IS_CHANGED(cls, enabled=True):
        return json.dumps(bool(enabled))

    def apply(self, enabled=True):
        vk = _vk.module()
        if vk is None:
            text = "vkattn unavailable: %s" % _vk.import_error()
        elif enabled:
            vk.install()
            text = "torch.nn.functional.scaled_dot_product_attention -> vkattn"
        else:
            vk.uninstall()
            text = "torch.nn.functional.scaled_dot_product_attention restored"
        return {"ui": {"text": [text]}, "result": (text,)}


NODE_CLASS_MAPPINGS = {
    "VkattnPatchModel": VkattnPatchModel,
    "VkattnPatchVAE": VkattnPatchVAE,
    "VkattnInfo": VkattnInfo,
    "VkattnInstallSDPA": VkattnInstallSDPA,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "VkattnPatchModel": "vkattn Attention (Model)",
    "VkattnPatchVAE": "vkattn Attention (VAE)",
    "VkattnInfo": "vkattn Info",
    "VkattnInstallSDPA": "vkattn Install SDPA (global)",
}
