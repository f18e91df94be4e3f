"""The pool of warm host blocks that large outputs come from (_outpool.py):
outputs are correct when carved from a reused block, a block comes back only
when the last tensor or view over it dies, the cache limit holds, numpy
outputs take the same route, and a block freed on another thread returns.
The pool's size threshold is lowered so that lavapipe-sized calls use it.
Tolerances: conftest.py."""

import gc
import threading

import numpy as np
import pytest
import torch

import vkattn
from vkattn import _outpool
from conftest import assert_close, rand, reference

SHAPE = (1, 2, 33, 40)  # 10560 bytes of f32 output


@pytest.fixture
def pool(monkeypatch):
    p = _outpool.OutputPool(limit=1 << 30, min_bytes=4096)
    monkeypatch.setattr(_outpool, "POOL", p)
    monkeypatch.setattr(vkattn._host, "POOL", p)
    yield p
    gc.collect()


def sdpa_once(dtype=torch.float32):
    q, k, v = (rand(*SHAPE, dtype=dtype) for _ in range(3))
    return q, k, v, vkattn.scaled_dot_product_attention(q, k, v)


def test_reused_block_gives_correct_output(pool):
    q, k, v, out = sdpa_once()
    assert pool.info()["misses"] == 1 and pool.info()["leased_bytes"] == out.numel() * 4
    out.fill_(float("nan"))  # what a reused block still holds must not show through
    del out
    gc.collect()
    assert pool.info()["cached_blocks"] == 1 and pool.info()["leased_bytes"] == 0
    q, k, v, out = sdpa_once()
    assert pool.info()["hits"] == 1
    assert out.is_contiguous() and out.dtype == torch.float32 and out.shape == SHAPE
    assert_close(out, reference(q, k, v))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_dtypes_from_the_pool(pool, dtype):
    q, k, v, out = sdpa_once(dtype)
    assert pool.info()["misses"] == 1 and out.dtype == dtype
    assert_close(out, reference(q, k, v))


def test_views_keep_the_block(pool):
    q, k, v, out = sdpa_once()
    view = out.transpose(1, 2)[:, 3:]
    kept = view.clone()
    del out
    gc.collect()
    assert pool.info()["cached_blocks"] == 0  # the view still uses it
    for _ in range(3):
        sdpa_once()
    assert torch.equal(view, kept)  # no later call wrote into it
    del view
    gc.collect()
    assert pool.info()["leased_bytes"] == 0 and pool.info()["cached_blocks"] >= 1


def test_numpy_outputs(pool):
    q, k, v = (rand(*SHAPE).numpy() for _ in range(3))
    out = vkattn.scaled_dot_product_attention(q, k, v)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == SHAPE
    assert out.flags.writeable and out.flags.c_contiguous
    assert pool.info()["misses"] == 1
    assert_close(torch.from_numpy(out), reference(*(torch.from_numpy(a) for a in (q, k, v))))


def test_limit_and_empty_cache(pool):
    outs = [sdpa_once()[3] for _ in range(4)]
    block = _outpool.GRAIN  # each output fits one grain-sized block
    assert pool.info()["leased_bytes"] == 4 * outs[0].numel() * 4
    pool.limit = 2 * block
    del outs
    gc.collect()
    info = pool.info()
    assert info["cached_blocks"] == 2 and info["cached_bytes"] <= pool.limit
    pool.clear()
    assert pool.info()["cached_bytes"] == 0
    pool.limit = 0  # off: plain torch.empty outputs
    out = sdpa_once()[3]
    assert pool.info()["leased_bytes"] == 0 and pool.info()["misses"] == 4 and out.shape == SHAPE


def test_freed_on_another_thread(pool):
    out = sdpa_once()[3]
    box = [out]
    del out
    t = threading.Thread(target=box.clear)
    t.start()
    t.join()
    gc.collect()
    assert pool.info()["leased_bytes"] == 0 and pool.info()["cached_blocks"] == 1


def test_alignment_and_small_outputs(pool):
    raw = pool.lease(8192, align=4096)
    assert raw.ctypes.data % 4096 == 0 and raw.nbytes == 8192
    assert pool.lease(100) is None  # under min_bytes
    del raw
    gc.collect()
    assert pool.info()["cached_blocks"] == 1


def test_public_info():
    info = vkattn.host_cache_info()
    assert set(info) >= {"cached_bytes", "leased_bytes", "hits", "misses", "limit_bytes"}
    vkattn.empty_host_cache()
    assert vkattn.host_cache_info()["cached_bytes"] == 0


def test_returns_wait_for_the_next_pool_call():
    """A dying output only queues its block: the free list changes under the
    pool's lock, never inside a finalizer (which may run mid-search)."""
    p = _outpool.OutputPool(limit=1 << 30, min_bytes=1)
    a = p.lease(3 * _outpool.GRAIN)
    b = p.lease(_outpool.GRAIN)
    del a, b
    gc.collect()
    assert p._free == [] and len(p._returned) == 2
    big = p.lease(3 * _outpool.GRAIN)  # best fit among the returned: the big block
    assert p.info()["hits"] == 1 and big.nbytes == 3 * _outpool.GRAIN
    assert p.info()["cached_blocks"] == 1 and p.info()["leased_bytes"] == 3 * _outpool.GRAIN
