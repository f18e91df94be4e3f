// Helpers shared by the ops of vkattn-bench (op.h): dtype names, status
// messages, host arrays filled with deterministic inputs, device tensors,
// non-finite counts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "vkattn.h"

namespace vkbench {

const char *dtype_name(vkattn_dtype t);
bool parse_dtype(const std::string &s, vkattn_dtype *out);

// "STATUS_NAME: last error" for a failed call.
std::string status_message(vkattn_status s);

// ---------------------------------------------------------------- inputs

inline uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 bits, so the value is exact in f32.
inline float unit(uint64_t *state) {
    return static_cast<float>(splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

// Element i of a host array of `dtype`, rounded to nearest even (bool: x != 0).
void store(void *base, vkattn_dtype dtype, size_t i, float x);

// Fill n elements in parallel: gen(i, &state) for each i. Each chunk of 64Ki
// elements has its own generator seeded from (seed, stream, chunk), so the
// values do not depend on the number of threads.
template <class F>
void fill_parallel(size_t n, uint64_t seed, uint64_t stream, F &&gen) {
    const size_t chunk = size_t{1} << 16;
    const size_t chunks = (n + chunk - 1) / chunk;
    unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    if (chunks < 4) threads = 1;
    auto work = [&](unsigned t) {
        for (size_t c = t; c < chunks; c += threads) {
            uint64_t st = seed * 0x2545F4914F6CDD1Dull ^ (stream << 48) ^ c;
            splitmix64(&st);
            size_t end = std::min(n, (c + 1) * chunk);
            for (size_t i = c * chunk; i < end; ++i) gen(i, &st);
        }
    };
    if (threads == 1) {
        work(0);
        return;
    }
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto &th : pool) th.join();
}

int64_t product(const std::vector<int64_t> &s);

// A dense host array, the device tensor it is uploaded to, and the view of
// it that the op's descriptor uses.
struct HostArray {
    std::vector<uint8_t> bytes;
    std::vector<int64_t> shape;  // dense array / device tensor shape
    vkattn_dtype dtype = VKATTN_DTYPE_F32;
    vkattn_view view{};
    void *data() { return bytes.data(); }
    const void *data() const { return bytes.data(); }
    size_t elements() const { return bytes.size() / vkattn_dtype_size(dtype); }
    // Size `bytes` for `shape` and `dtype`.
    void allocate() { bytes.resize(static_cast<size_t>(product(shape)) * vkattn_dtype_size(dtype)); }
};

// Non-finite values of a float array, by their bit patterns (fast over big outputs).
uint64_t count_nonfinite(const HostArray &a);

// ----------------------------------------------------------------- device

struct TensorDeleter {
    void operator()(vkattn_tensor_s *t) const { vkattn_tensor_destroy(t); }
};
using TensorPtr = std::unique_ptr<vkattn_tensor_s, TensorDeleter>;

// Create the device tensor of `a` (its dtype and shape) and, with `upload`,
// copy a's bytes into it. On failure *error says "creating tensor NAME: ..."
// or "uploading NAME: ...".
vkattn_status create_tensor(vkattn_context ctx, const HostArray &a, bool upload, const char *name, TensorPtr *out,
                            std::string *error);

}  // namespace vkbench
