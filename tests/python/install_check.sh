#!/usr/bin/env bash
# The README's Python install, done for real on a fresh venv, then used from
# outside the source tree: a fresh Debian 12 refuses `pip install` outside a
# venv (PEP 668) and has no PyPI, so the venv sees Debian's numpy and torch
# (--system-site-packages) and pip builds with Debian's setuptools
# (--no-build-isolation).
# Usage: install_check.sh REPO BUILD LIBRARY [PYTHON]
set -euo pipefail
repo=$1 build=$2 library=$3 python=${4:-/usr/bin/python3}
venv="$build/test-venv"
rm -rf "$venv"
# The README's commands, with the venv in the build tree.
"$python" -m venv --system-site-packages "$venv"
"$venv/bin/pip" install --no-build-isolation --disable-pip-version-check --no-input -q -e "$repo/python_bridge"
# shellcheck disable=SC1091
. "$venv/bin/activate"
outside=$(mktemp -d)
trap 'rm -rf "$outside"' EXIT
cd "$outside"
unset PYTHONPATH
# The editable install finds the library in the checkout's build*/ folders;
# a build tree elsewhere is named through VKATTN_LIBRARY, as the README says.
case "$(realpath "$library")" in
  "$(realpath "$repo")"/build*) unset VKATTN_LIBRARY ;;
  *) export VKATTN_LIBRARY="$library" ;;
esac
python - "$repo" <<'PY'
import os, sys
repo = os.path.realpath(sys.argv[1])
assert os.path.realpath(sys.prefix) != os.path.realpath(sys.base_prefix), "not running in the venv"
assert repo not in [os.path.realpath(p) for p in sys.path if p], "the checkout is on sys.path"
import numpy as np
import vkattn
import vkattn_comfyui
here = os.path.realpath(vkattn.__file__)
assert here.startswith(os.path.join(repo, "python_bridge", "vkattn")), here
assert os.path.realpath(vkattn_comfyui.__file__).startswith(os.path.join(repo, "python_bridge", "comfyui"))
assert "VkattnPatchModel" in vkattn_comfyui.NODE_CLASS_MAPPINGS
rng = np.random.default_rng(0)
q, k, v = (rng.standard_normal((1, 2, 40, 16)).astype(np.float32) for _ in range(3))
out = vkattn.scaled_dot_product_attention(q, k, v)
s = q.astype(np.float64) @ k.astype(np.float64).transpose(0, 1, 3, 2) / 4.0
p = np.exp(s - s.max(-1, keepdims=True))
ref = (p / p.sum(-1, keepdims=True)) @ v.astype(np.float64)
err = np.abs(out - ref).max()
assert err <= 1e-5 * np.abs(ref).max(), err
print("install_check: vkattn %s from %s, library %s, max error %.2e"
      % (vkattn.__version__, here, vkattn.library_path, err))
PY
