"""Warm host memory for large attention outputs.

A fresh output array (torch.empty, numpy.empty) of tens of MiB is new memory
to the kernel: every page faults and is zeroed the first time vkattn writes
it. On the H200 machine that cost 4 ms of a 53 MB Flux output, more than the
copy itself. Outputs of at least MIN_BYTES are therefore carved from blocks
this pool keeps: a block whose output has died (the last tensor or view of
it freed) comes back here, pages still mapped, and serves the next call of
that size.

The returned torch tensors are ordinary CPU tensors (torch.from_numpy over
the block); only resizing their storage in place is refused, as for any
tensor made from numpy memory. Free blocks are kept up to
VKATTN_HOST_CACHE_MB (default 1024; 0 turns the pool off), oldest dropped
first; vkattn.empty_host_cache() drops them all and
vkattn.host_cache_info() reports what is held.
"""

import ctypes
import os
import threading

MIN_BYTES = 4 << 20   # smaller outputs are cheap to fault in
GRAIN = 2 << 20       # block sizes are multiples of this (one huge page)


def _limit_from_env():
    v = os.environ.get("VKATTN_HOST_CACHE_MB", "")
    try:
        return max(0, int(v)) << 20 if v.strip() else 1024 << 20
    except ValueError:
        return 1024 << 20


class _Lease:
    """Held (through a ctypes array) by the output's memory: when the last
    tensor or array over it is freed, the block goes back to the pool."""

    __slots__ = ("pool", "block", "nbytes")

    def __init__(self, pool, block, nbytes):
        self.pool = pool
        self.block = block
        self.nbytes = nbytes

    def __del__(self):
        self.pool._give_back(self.block, self.nbytes)


class OutputPool:
    def __init__(self, limit=None, min_bytes=MIN_BYTES):
        self.limit = _limit_from_env() if limit is None else limit
        self.min_bytes = min_bytes
        self._lock = threading.RLock()  # re-entrant: a lease may die inside a pool call
        self._free = []   # blocks (numpy uint8 arrays), oldest first
        self.hits = 0
        self.misses = 0
        self.leased_bytes = 0

    def free_bytes(self):
        with self._lock:
            return sum(b.nbytes for b in self._free)

    def info(self):
        with self._lock:
            return {"cached_bytes": sum(b.nbytes for b in self._free), "cached_blocks": len(self._free),
                    "leased_bytes": self.leased_bytes, "hits": self.hits, "misses": self.misses,
                    "limit_bytes": self.limit}

    def clear(self):
        with self._lock:
            self._free = []

    def _take(self, need):
        """A free block of at least `need` bytes and at most a quarter more
        (best fit), else a new one."""
        import numpy as np
        with self._lock:
            best = None
            for i, b in enumerate(self._free):
                if need <= b.nbytes <= need + need // 4 + GRAIN and (best is None or b.nbytes < self._free[best].nbytes):
                    best = i
            if best is not None:
                self.hits += 1
                return self._free.pop(best)
            self.misses += 1
        return np.empty((need + GRAIN - 1) // GRAIN * GRAIN, dtype=np.uint8)

    def _give_back(self, block, nbytes):
        with self._lock:
            self.leased_bytes -= nbytes
            if self.limit <= 0 or block.nbytes > self.limit:
                return
            self._free.append(block)
            total = sum(b.nbytes for b in self._free)
            while total > self.limit:
                total -= self._free.pop(0).nbytes

    def lease(self, nbytes, align=0):
        """A writable numpy uint8 array of `nbytes` bytes (aligned to `align`
        bytes if align > 0) whose memory returns to the pool when the last
        object over it dies; None when the pool is off or the size is small."""
        if self.limit <= 0 or nbytes < self.min_bytes or nbytes <= 0:
            return None
        import numpy as np
        block = self._take(nbytes + max(align, 0))
        addr = block.ctypes.data
        off = (-addr) % align if align > 0 else 0
        raw = (ctypes.c_char * nbytes).from_address(addr + off)
        raw._vkattn_lease = _Lease(self, block, nbytes)
        with self._lock:
            self.leased_bytes += nbytes
        return np.frombuffer(raw, dtype=np.uint8)


POOL = OutputPool()
