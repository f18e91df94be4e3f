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

import collections
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
    tensor or array over it is freed, the block is queued for return. The
    finalizer only appends to a deque (atomic, no lock): it may run in the
    middle of a pool call on the same thread (the garbage collector freeing a
    cycle), where touching the free list would corrupt a search."""

    __slots__ = ("returned", "block", "nbytes")

    def __init__(self, returned, block, nbytes):
        self.returned = returned
        self.block = block
        self.nbytes = nbytes

    def __del__(self):
        self.returned.append((self.block, self.nbytes))


class OutputPool:
    def __init__(self, limit=None, min_bytes=MIN_BYTES):
        self.limit = _limit_from_env() if limit is None else limit
        self.min_bytes = min_bytes
        self._lock = threading.Lock()
        self._returned = collections.deque()  # (block, nbytes) of dead outputs
        self._free = []   # blocks (numpy uint8 arrays), oldest first
        self.hits = 0
        self.misses = 0
        self.leased_bytes = 0
        if hasattr(os, "register_at_fork"):  # a child must not inherit a held lock
            os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self):
        self._lock = threading.Lock()

    def _collect(self):
        """Moves returned blocks to the free list and trims it to the limit
        (lock held)."""
        while True:
            try:
                block, nbytes = self._returned.popleft()
            except IndexError:
                break
            self.leased_bytes -= nbytes
            if 0 < self.limit and block.nbytes <= self.limit:
                self._free.append(block)
        total = sum(b.nbytes for b in self._free)
        while self._free and total > self.limit:
            total -= self._free.pop(0).nbytes

    def info(self):
        with self._lock:
            self._collect()
            return {"cached_bytes": sum(b.nbytes for b in self._free), "cached_blocks": len(self._free),
                    "leased_bytes": self.leased_bytes, "hits": self.hits, "misses": self.misses,
                    "limit_bytes": self.limit}

    def clear(self):
        with self._lock:
            self._collect()
            self._free = []

    def _take(self, need):
        """A free block of at least `need` bytes and at most a quarter more
        (best fit), else a new one."""
        import numpy as np
        with self._lock:
            self._collect()
            best = None
            for b in self._free:
                if need <= b.nbytes <= need + need // 4 + GRAIN and (best is None or b.nbytes < best.nbytes):
                    best = b
            if best is not None:
                self._free = [b for b in self._free if b is not best]
                self.hits += 1
                return best
            self.misses += 1
        return np.empty((need + GRAIN - 1) // GRAIN * GRAIN, dtype=np.uint8)

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
        with self._lock:
            self.leased_bytes += nbytes
        raw._vkattn_lease = _Lease(self._returned, block, nbytes)
        return np.frombuffer(raw, dtype=np.uint8)


POOL = OutputPool()
