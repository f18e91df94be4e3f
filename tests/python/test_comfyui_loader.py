"""The node pack loaded the two ways ComfyUI loads custom nodes, from a folder
named "vkattn" (the worst name: the Python package's own):

- by folder name (older ComfyUI): spec_from_file_location("vkattn", ...)
  and sys.modules["vkattn"] = the pack;
- by full path (newer ComfyUI): the module is named after its path.

Either way the pack must find the real vkattn package (installed on
PYTHONPATH, or beside the pack through the symlink), serve attention with it,
and, when the library is missing, pass every call through to ComfyUI's own
function without raising. Each case runs in a fresh interpreter.
"""

import os
import subprocess
import sys

import pytest

from conftest import REPO

LOADER = r'''
import copy, importlib.util, os, sys
import torch
custom_nodes, style, expect = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, custom_nodes)  # ComfyUI-like: the nodes folder is importable
path = os.path.join(custom_nodes, "vkattn")
name = "vkattn" if style == "folder" else path.replace(".", "_x_")
spec = importlib.util.spec_from_file_location(name, os.path.join(path, "__init__.py"))
pack = importlib.util.module_from_spec(spec)
sys.modules[name] = pack
spec.loader.exec_module(pack)

class MP:  # the parts of ComfyUI's ModelPatcher the node uses
    def __init__(self, o=None): self.model_options = o or {"transformer_options": {}}
    def clone(self): return MP(copy.deepcopy(self.model_options))

m = pack.NODE_CLASS_MAPPINGS["VkattnPatchModel"]().patch(MP(), "auto", 0, True, "auto")[0]
override = m.model_options["transformer_options"]["optimized_attention_override"]
calls = []
def func(q, k, v, heads, mask=None, attn_precision=None, skip_reshape=False, skip_output_reshape=False, **kw):
    calls.append(1)
    b = q.shape[0]
    q4, k4, v4 = (t.reshape(b, -1, heads, t.shape[-1] // heads).transpose(1, 2).double() for t in (q, k, v))
    p = torch.softmax(q4 @ k4.transpose(-2, -1) / q4.shape[-1] ** 0.5, dim=-1)
    return (p @ v4).transpose(1, 2).reshape(b, -1, q.shape[-1]).to(q.dtype)

torch.manual_seed(0)
q, k, v = (torch.randn(2, 37, 64) for _ in range(3))
out = override(func, q, k, v, 4, transformer_options={})
want = func(q, k, v, 4)
calls.clear()
assert (out - want).abs().max() <= 1e-5 * want.abs().max(), "wrong result"
vk = pack._vk.module()
if expect == "served":
    assert vk is not None and vk is not pack, pack._vk.import_error()
    assert vk.stats()["served"].get("comfyui") == 1, vk.stats()
    assert os.path.realpath(vk.__file__) == os.path.join(sys.argv[4], "vkattn", "__init__.py"), vk.__file__
    if style == "folder":
        assert sys.modules["vkattn"] is pack  # ComfyUI's entry stays as it put it
else:
    assert vk is None and "vkattn unavailable" in pack.nodes.info_text()
    out2 = override(func, q, k, v, 4, transformer_options={})
    assert len(calls) == 1 and out2 is not None
print("ok", style, expect)
'''


@pytest.fixture
def custom_nodes(tmp_path):
    d = tmp_path / "custom_nodes"
    d.mkdir()
    os.symlink(os.path.join(REPO, "python_bridge", "comfyui"), d / "vkattn")
    return str(d)


@pytest.mark.parametrize("style", ["folder", "path"])
@pytest.mark.parametrize("bridge", ["pythonpath", "beside"])
@pytest.mark.parametrize("library", ["present", "missing"])
def test_pack_in_a_folder_named_vkattn(custom_nodes, style, bridge, library):
    env = dict(os.environ)
    bridge_dir = os.path.join(REPO, "python_bridge")
    if bridge == "pythonpath":
        env["PYTHONPATH"] = bridge_dir
    else:
        env.pop("PYTHONPATH", None)  # found through the symlink's target only
    if library == "missing":
        env["VKATTN_LIBRARY"] = "/nonexistent/libvkattn.so"
    expect = "served" if library == "present" else "fallback"
    res = subprocess.run([sys.executable, "-c", LOADER, custom_nodes, style, expect, bridge_dir],
                         env=env, capture_output=True, text=True, timeout=300, cwd=os.path.dirname(custom_nodes))
    assert res.returncode == 0, res.stdout + res.stderr
    assert ("ok %s %s" % (style, expect)) in res.stdout
