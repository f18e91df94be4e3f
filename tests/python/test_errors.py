"""Bad input becomes a Python exception (a VkattnError subclass with the
status and vkattn's message), never a crash; handles and their lifetimes."""

import numpy as np
import pytest
import torch

import vkattn
from conftest import rand


def _check_vkattn_error(exc, lo, hi):
    e = exc.value
    assert isinstance(e, vkattn.VkattnError)
    assert lo <= e.status < hi, e
    assert e.message and e.status_name.startswith("VKATTN_ERROR_")
    return e


def test_wrong_rank():
    with pytest.raises(vkattn.InvalidShapeError) as exc:
        vkattn.scaled_dot_product_attention(torch.randn(8), torch.randn(8), torch.randn(8))
    assert "rank" in _check_vkattn_error(exc, 100, 200).message


def test_head_dim_mismatch_reports_vkattn_message():
    q, k = rand(1, 2, 8, 16), rand(1, 2, 8, 8)
    with pytest.raises(vkattn.InvalidArgumentError) as exc:
        vkattn.scaled_dot_product_attention(q, k, k)
    _check_vkattn_error(exc, 100, 200)


def test_gqa_heads_not_divisible_reports_vkattn_message():
    q, k = rand(1, 5, 8, 16), rand(1, 2, 8, 16)
    with pytest.raises(vkattn.InvalidArgumentError) as exc:
        vkattn.scaled_dot_product_attention(q, k, k, enable_gqa=True)
    _check_vkattn_error(exc, 100, 200)


def test_head_dim_over_limit():
    q = rand(1, 1, 4, 520)
    with pytest.raises(vkattn.VkattnError) as exc:
        vkattn.scaled_dot_product_attention(q, q, q)
    _check_vkattn_error(exc, 100, 300)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32])
def test_unsupported_dtype(dtype):
    q = torch.ones(1, 1, 4, 8, dtype=dtype)
    with pytest.raises(vkattn.InvalidDtypeError) as exc:
        vkattn.scaled_dot_product_attention(q, q, q)
    _check_vkattn_error(exc, 100, 200)


def test_mixed_dtypes():
    q, k = rand(1, 1, 4, 8), rand(1, 1, 4, 8, dtype=torch.float16)
    with pytest.raises(vkattn.InvalidDtypeError, match="share a dtype"):
        vkattn.scaled_dot_product_attention(q, k, k)


def test_integer_mask():
    q = rand(1, 1, 4, 8)
    with pytest.raises(vkattn.InvalidDtypeError):
        vkattn.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(4, 4, dtype=torch.int64))


def test_mask_that_does_not_broadcast_reports_vkattn_message():
    q, k = rand(1, 2, 6, 8), rand(1, 2, 9, 8)
    with pytest.raises(vkattn.InvalidArgumentError) as exc:
        vkattn.scaled_dot_product_attention(q, k, k, attn_mask=torch.ones(1, 1, 6, 7, dtype=torch.bool))
    _check_vkattn_error(exc, 100, 200)


def test_causal_with_mask_is_refused():
    q = rand(1, 1, 4, 8)
    with pytest.raises(vkattn.InvalidArgumentError):
        vkattn.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(4, 4, dtype=torch.bool), is_causal=True)


def test_closed_context():
    ctx = vkattn.Context()
    q = rand(1, 1, 4, 8)
    vkattn.scaled_dot_product_attention(q, q, q, context=ctx)
    ctx.close()
    ctx.close()  # idempotent
    assert ctx.closed
    with pytest.raises(vkattn.VkattnError) as exc:
        vkattn.scaled_dot_product_attention(q, q, q, context=ctx)
    assert "closed" in exc.value.message
    with pytest.raises(vkattn.VkattnError):
        ctx.memory_stats()
    with pytest.raises(vkattn.VkattnError):
        ctx.tensor((4,))


def test_no_such_device():
    with pytest.raises(vkattn.NoDeviceError) as exc:
        vkattn.Context(device="no such gpu anywhere")
    _check_vkattn_error(exc, 200, 300)
    with pytest.raises(vkattn.NoDeviceError):
        vkattn.Context(device=99)


def test_context_manager_and_device_info():
    with vkattn.Context() as ctx:
        info = ctx.device_info()
        assert info["name"] and info["subgroup_size"] >= 1
        stats = ctx.memory_stats()
        assert set(stats) >= {"reserved", "in_use", "peak", "budget"}
        assert ctx.max_buffer_range() > 0
    assert ctx.closed
    assert vkattn.device_count() >= 1
    assert vkattn.devices()[0]["name"]


def test_tensor_roundtrip_and_lifetime():
    ctx = vkattn.Context()
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    with ctx.tensor(a.shape, "f32") as t:
        t.upload(a)
        assert np.array_equal(t.download(), a)
        t.upload(np.ascontiguousarray(a.transpose(0, 2, 1)).transpose(0, 2, 1))  # strided upload
        assert np.array_equal(t.download(), a)
        assert t.nbytes == a.nbytes
    assert t.closed
    u = ctx.tensor((5,), "f16")
    ctx.close()
    assert u.closed  # freed with its context; closing again is harmless
    u.close()


def test_tensor_bad_shape_and_dtype():
    with vkattn.Context() as ctx:
        with pytest.raises(vkattn.InvalidShapeError) as exc:
            ctx.tensor((0, 3))
        _check_vkattn_error(exc, 100, 200)
        with pytest.raises(vkattn.InvalidDtypeError):
            ctx.tensor((3,), "float64")


def test_default_context_is_created_once_across_threads():
    import threading
    vkattn.close_default_context()
    got, outs = [], []
    barrier = threading.Barrier(4)
    q = rand(1, 2, 17, 40)

    def work():
        barrier.wait()
        got.append(vkattn.default_context())
        outs.append(vkattn.scaled_dot_product_attention(q, q, q))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(c is got[0] for c in got)
    assert all(torch.equal(o, outs[0]) for o in outs), "same inputs, same device: same bits"


@pytest.mark.parametrize("kwargs, name", [
    (dict(heap_limit=-1), "heap_limit"),
    (dict(max_buffer_range=-5), "max_buffer_range"),
    (dict(heap_limit=1 << 64), "heap_limit"),
    (dict(device=-1), "device"),
])
def test_context_options_out_of_range(kwargs, name):
    """Negative sizes and device indices are refused, naming the option (they
    were passed on as huge unsigned numbers, or as "no choice")."""
    with pytest.raises(vkattn.InvalidArgumentError) as exc:
        vkattn.Context(**kwargs)
    assert exc.value.message.startswith(name + " = ")


@pytest.mark.parametrize("kwargs", [dict(heap_limit="512M"), dict(heap_limit=1.5), dict(max_buffer_range=True),
                                    dict(device=2.0)])
def test_context_options_of_the_wrong_type(kwargs):
    with pytest.raises(TypeError) as exc:
        vkattn.Context(**kwargs)
    assert list(kwargs)[0] in str(exc.value)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_output_beyond_host_memory_is_out_of_memory_error(kind):
    """An output no host can hold (512 TiB, beyond any address space) raises
    vkattn.OutOfMemoryError (also a MemoryError) with OUT_OF_HOST_MEMORY, not
    numpy's or torch's own allocation error. The inputs are broadcast views."""
    n = 1 << 44
    if kind == "numpy":
        q = np.broadcast_to(np.zeros((1, 1, 1, 8), np.float32), (1, 1, n, 8))
    else:
        q = torch.zeros(1, 1, 1, 8).expand(1, 1, n, 8)
    with pytest.raises(vkattn.OutOfMemoryError) as exc:
        vkattn.scaled_dot_product_attention(q, q, q)
    e = exc.value
    assert isinstance(e, MemoryError)
    assert e.status == 301 and "host memory" in e.message and "GiB" in e.message
    # The default context stays usable.
    small = rand(1, 1, 4, 8)
    assert vkattn.scaled_dot_product_attention(small, small, small).shape == (1, 1, 4, 8)


def test_errors_pickle_with_status_and_message():
    """multiprocessing sends a worker's exception to the parent by pickling:
    every vkattn error must come back whole (it raised TypeError in the
    parent's result thread before, and the pool hung)."""
    import pickle
    errs = [vkattn.InvalidShapeError(102, "desc->q.shape[0] = 0 must be >= 1"),
            vkattn.OutOfMemoryError(300, "out of device memory"),
            vkattn.NotSupportedByVkattn("dropout_p=0.5: vkattn has no dropout")]
    for e in errs:
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e)
        assert (back.status, back.status_name, back.message, str(back)) == (e.status, e.status_name, e.message, str(e))
