"""Child processes: Vulkan objects do not survive fork(), so a forked child
must never touch (or wait on) the parent's context. Its first call makes a
context of its own; the inherited one raises at once. Each child runs under a
timeout, so a hang fails the test rather than the test run.

Results are compared bit for bit with the parent's: the same device runs the
same kernel on the same inputs (vkattn is deterministic).
"""

import multiprocessing
import os
import pickle
import time

import numpy as np
import pytest

import vkattn
import fork_worker

TIMEOUT = 120


def _fork_unsafe_driver():
    """NVIDIA's proprietary driver cannot be used again in a fork()ed child of
    a process that used it: vkattn refuses there at once (UnsupportedError
    naming 'spawn') instead of calling into the driver. Mesa's drivers
    (lavapipe in CI) work in the child."""
    return vkattn.default_context().device_info()["driver_name"] == "NVIDIA"


def _wait(pid, timeout=TIMEOUT):
    """Exit code of pid, or None if it ran past timeout (then killed)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_os_fork_child_gets_its_own_context():
    parent_ctx = vkattn.default_context()
    expected = fork_worker.attention(1)  # the parent has used the device
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 1
        try:
            report = {}
            assert parent_ctx.inherited()
            try:
                parent_ctx.memory_stats()
                report["inherited"] = "no error"
            except vkattn.VkattnError as e:
                report["inherited"] = (e.status_name, "fork" in e.message)
            try:
                out = fork_worker.attention(1)
                report["same"] = bool(np.array_equal(out, expected))
                report["own"] = (vkattn.default_context() is not parent_ctx
                                 and not vkattn.default_context().inherited())
            except vkattn.UnsupportedError as e:
                report["refused"] = "spawn" in e.message
            os.write(w, pickle.dumps(report))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    code = _wait(pid)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    assert code == 0, "the forked child %s" % ("hung (killed after %d s)" % TIMEOUT if code is None
                                              else "exited with %d" % code)
    report = pickle.loads(data)
    assert report["inherited"] == ("VKATTN_ERROR_WRONG_CONTEXT", True)
    if _fork_unsafe_driver():
        assert report.get("refused") is True, report
    else:
        assert report.get("same"), "the child's result differs from the parent's: %r" % (report,)
        assert report.get("own"), report
    # The parent's context still works and gives the same bits.
    assert vkattn.default_context() is parent_ctx
    assert np.array_equal(fork_worker.attention(1), expected)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_pool(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip("start method %s not available" % method)
    seeds = [2, 3, 4, 5]
    expected = [fork_worker.attention(s) for s in seeds]  # used in the parent before the pool starts
    refused = method == "fork" and _fork_unsafe_driver()
    pool = multiprocessing.get_context(method).Pool(2)
    try:
        results = pool.map_async(fork_worker.attention, seeds).get(timeout=TIMEOUT)
    except multiprocessing.TimeoutError:
        pytest.fail("a %s worker did not return within %d s" % (method, TIMEOUT))
    except vkattn.UnsupportedError as e:  # comes back from the worker (errors pickle)
        assert refused and "spawn" in e.message, e
        return
    finally:
        pool.terminate()
        pool.join()
    assert not refused, "a forked worker used NVIDIA's driver after its parent had"
    for s, got, want in zip(seeds, results, expected):
        assert np.array_equal(got, want), "seed %d: the worker's result differs from the parent's" % s
