"""Counts of calls served by vkattn and of calls handed back to the original
function, with the reason; each (source, reason) is logged once."""

import collections
import logging
import threading

logger = logging.getLogger("vkattn")


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self._served = collections.Counter()
        self._fallbacks = collections.Counter()
        self._logged = set()

    def served(self, source):
        with self._lock:
            self._served[source] += 1

    def fallback(self, source, reason, detail=None, level=logging.INFO):
        """Count a fallback; log it the first time this (source, reason) happens.
        `reason` is a short stable key; `detail` the message of this instance."""
        key = (source, reason)
        with self._lock:
            self._fallbacks[key] += 1
            first = key not in self._logged
            self._logged.add(key)
        if first:
            logger.log(level, "vkattn %s: falling back to the original attention (%s)%s; "
                       "logged once per reason", source, reason, (": " + detail) if detail else "")

    def snapshot(self):
        """{'served': {source: n}, 'fallbacks': {source: {reason: n}}}"""
        with self._lock:
            fb = {}
            for (source, reason), n in self._fallbacks.items():
                fb.setdefault(source, {})[reason] = n
            return {"served": dict(self._served), "fallbacks": fb}

    def reset(self):
        with self._lock:
            self._served.clear()
            self._fallbacks.clear()
            self._logged.clear()


STATS = Stats()


def count_served(source):
    """Count a call that vkattn served, under `source` (a short name of the
    caller, for example "comfyui"), in vkattn.stats()["served"]."""
    STATS.served(source)


def count_fallback(source, reason, detail=None, level=logging.INFO):
    """Count a call that `source` handed to another attention function
    instead of vkattn, in vkattn.stats()["fallbacks"][source][reason]. `reason`
    is a short stable key ("dtype", "mask rank", a status name, ...), `detail`
    what this instance was; the first fallback of each (source, reason) is
    logged (logger "vkattn", at `level`)."""
    STATS.fallback(source, reason, detail, level=level)
