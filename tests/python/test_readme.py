"""The README's first Python example runs as written, in a fresh interpreter,
well inside a few seconds even on lavapipe (the first example must never be
one that takes minutes on a CPU driver), and its result is right."""

import os
import re
import subprocess
import sys

from conftest import REPO


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_first_python_example_runs_and_is_right():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("\n## Python"):]
    first = _python_blocks(section)[0]
    assert "scaled_dot_product_attention" in first
    # Run it as written, then check what it computed against float64.
    check = first + r'''
qd, kd, vd = (t.double() for t in (q, k, v))
ref = torch.softmax(qd @ kd.transpose(-2, -1) / qd.shape[-1] ** 0.5, dim=-1) @ vd
err = float((out.double() - ref).abs().max())
assert err <= 1e-5 * float(ref.abs().max()), err
print("readme example ok", err)
'''
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python_bridge"))
    res = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "readme example ok" in res.stdout
    assert "path" in res.stdout  # last_call() was printed
