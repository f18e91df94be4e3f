// The shared machinery of the C ABI (api_common.h).
#include "api_common.h"

#include <pthread.h>
#include <unistd.h>

#include <mutex>
#include <new>
#include <string>
#include <unordered_set>

namespace vkattn::api {
namespace {

thread_local std::string t_last_error;

std::mutex g_handles_mutex;
std::unordered_set<const void *> g_handles;  // live contexts and tensors

// fork() while another thread holds the handle table's lock would leave the
// child's copy locked for good: hold it across the fork in both processes.
void lock_handles_for_fork() {
    g_handles_mutex.lock();
}
void unlock_handles_after_fork() {
    g_handles_mutex.unlock();
}
const int g_fork_handlers =
    ::pthread_atfork(lock_handles_for_fork, unlock_handles_after_fork, unlock_handles_after_fork);

Status refuse_inherited(const Context &ctx, const char *what) {
    return Error(VKATTN_ERROR_WRONG_CONTEXT, what, " belongs to process ", ctx.owner_pid(), " and this is process ",
                 ::getpid(),
                 " (a fork()ed child): Vulkan objects do not survive fork(), so an inherited context "
                 "and its tensors cannot be used; create a new context in this process");
}

}  // namespace

void register_handle(const void *h) {
    std::lock_guard<std::mutex> l(g_handles_mutex);
    g_handles.insert(h);
}

void unregister_handle(const void *h) {
    std::lock_guard<std::mutex> l(g_handles_mutex);
    g_handles.erase(h);
}

bool live(const void *h) {
    std::lock_guard<std::mutex> l(g_handles_mutex);
    return g_handles.count(h) != 0;
}

bool inherited(const Context &ctx) {
    return ctx.owner_pid() != ::getpid();
}

vkattn_status finish(const Status &s) {
    if (!s.ok()) t_last_error = cat(vkattn_status_string(s.code()), ": ", s.message());
    return s.code();
}

const char *last_error() {
    return t_last_error.c_str();
}

vkattn_status fail_from_exception() {
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return finish(Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
    } catch (const std::exception &e) {
        return finish(Error(VKATTN_ERROR_INTERNAL, "unexpected exception: ", e.what()));
    } catch (...) {
        return finish(Error(VKATTN_ERROR_INTERNAL, "unexpected exception"));
    }
}

Status check_context(vkattn_context c, const char *what) {
    if (!c) return Error(VKATTN_ERROR_NULL_POINTER, what, " is NULL");
    if (!live(c)) return Error(VKATTN_ERROR_INVALID_ARGUMENT, what, " is not a live vkattn_context (destroyed?)");
    if (inherited(*c->ctx)) return refuse_inherited(*c->ctx, what);
    return Status::Ok();
}

Status check_tensor(vkattn_tensor t, const char *what) {
    if (!t) return Error(VKATTN_ERROR_NULL_POINTER, what, " is NULL");
    if (!live(t)) return Error(VKATTN_ERROR_INVALID_ARGUMENT, what, " is not a live vkattn_tensor (destroyed?)");
    if (inherited(*t->ctx)) return refuse_inherited(*t->ctx, what);
    return Status::Ok();
}

Status bad_struct_size(const char *what, uint32_t size, size_t expected) {
    return Error(VKATTN_ERROR_INVALID_ARGUMENT, what, "->struct_size = ", size, " (expected ", expected,
                 "; use the *_INIT macro)");
}

}  // namespace vkattn::api
