// Persistent host threads for the CPU copies of host calls (packing inputs
// into staging, unpacking results). A host call makes a dozen parallel
// copies of a few MiB each; starting and joining fresh threads for each one
// cost as much as the copy itself on the H200 machine, so the threads are
// started once, on first use, and kept.
#pragma once

#include <functional>

namespace vkattn {

// Threads a host copy may use: VKATTN_HOST_THREADS (1-64), else all cores up
// to 16. Read once.
unsigned host_threads();

// Runs fn(part) once for every part in [0, parts), spread over the calling
// thread and up to parts - 1 pool threads, and returns when all parts are
// done. Parts must not throw. Calls from different threads take turns; a
// call from inside fn runs its parts on the calling thread. Where threads
// cannot be started the calling thread runs the parts itself: the result
// never depends on how many threads ran them. A fork()ed child starts a
// pool of its own on its first call.
void parallel_parts(unsigned parts, const std::function<void(unsigned)> &fn);

}  // namespace vkattn
