// What every C ABI entry point shares: the registry of live handles (with
// the process that made each context, for fork()), the thread-local
// last-error message, the boundary no exception crosses, and the checks of
// handles and caller structs. Only api/ sources include this.
#pragma once

#include <cstdint>
#include <cstring>

#include "context.h"
#include "status.h"
#include "tensor.h"

namespace vkattn::api {

void register_handle(const void *h);
void unregister_handle(const void *h);
bool live(const void *h);

// True in a fork()ed child of the process that created the context: Vulkan
// objects do not survive fork(), so the child must not touch them.
bool inherited(const Context &ctx);

// Records a failed status's message for vkattn_last_error() and returns its code.
vkattn_status finish(const Status &s);
const char *last_error();

// Turns an escaped exception into a status.
vkattn_status fail_from_exception();

// Runs `f` (returning Status) and turns whatever escapes into a status.
template <class F>
vkattn_status guarded(F &&f) {
    try {
        return finish(f());
    } catch (...) {
        return fail_from_exception();
    }
}

// NULL, destroyed or inherited through fork() -> a status naming `what`.
Status check_context(vkattn_context c, const char *what = "ctx");
Status check_tensor(vkattn_tensor t, const char *what);

Status bad_struct_size(const char *what, uint32_t size, size_t expected);

// Copies a caller struct that starts with struct_size into a zeroed local,
// accepting older (smaller) versions.
template <class T>
Status read_struct(const T *in, T *out, const char *what) {
    std::memset(static_cast<void *>(out), 0, sizeof(T));
    uint32_t size = in->struct_size;
    if (size < sizeof(uint32_t) || size > sizeof(T)) return bad_struct_size(what, size, sizeof(T));
    std::memcpy(static_cast<void *>(out), in, size);
    out->struct_size = sizeof(T);
    return Status::Ok();
}

// Copies `value` into a caller struct of the caller's (possibly older) size.
template <class T>
Status write_struct(const T &value, T *out, const char *what) {
    if (!out) return Error(VKATTN_ERROR_NULL_POINTER, what, " is NULL");
    uint32_t size = out->struct_size;
    if (size < sizeof(uint32_t) || size > sizeof(T)) return bad_struct_size(what, size, sizeof(T));
    std::memcpy(static_cast<void *>(out), &value, size);
    out->struct_size = size;
    return Status::Ok();
}

}  // namespace vkattn::api
