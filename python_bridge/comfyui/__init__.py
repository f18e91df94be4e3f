"""vkattn nodes for ComfyUI: attention of diffusion models and VAEs on any
Vulkan GPU. Symlink or copy this folder into ComfyUI/custom_nodes/ (and make
the vkattn package importable: pip install -e python_bridge, or leave this
folder beside python_bridge/vkattn, which is found through the symlink).

Nothing here imports ComfyUI or the vkattn library at import time: the pack
loads (and its tests run) without either; a missing library only turns every
node into a pass-through, with the reason in the log and the Info node.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .override import VkattnAttentionOverride, attention_override, patch_model
from .vae import VkattnVaeAttention, patch_vae

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "VkattnAttentionOverride",
           "attention_override", "patch_model", "VkattnVaeAttention", "patch_vae"]
