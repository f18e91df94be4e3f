#include "worker_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace vkattn {
namespace {

thread_local bool t_in_part = false;  // true while this thread runs a part

class WorkerPool {
public:
    void run(unsigned parts, const std::function<void(unsigned)> &fn) {
        std::lock_guard<std::mutex> turn(run_mu_);
        grow(parts - 1);
        {
            std::lock_guard<std::mutex> l(mu_);
            job_ = &fn;
            parts_ = parts;
            next_.store(0);
            done_ = 0;
            gen_++;
        }
        wake_.notify_all();
        const unsigned mine = take_parts();
        std::unique_lock<std::mutex> l(mu_);
        done_ += mine;
        finished_.wait(l, [&] { return done_ == parts_ && inside_ == 0; });
        job_ = nullptr;  // late wakers find no job and sleep again
    }

private:
    // Runs parts until none is left; returns how many this thread ran.
    unsigned take_parts() {
        unsigned n = 0;
        t_in_part = true;
        for (unsigned p; (p = next_.fetch_add(1)) < parts_; n++) (*job_)(p);
        t_in_part = false;
        return n;
    }

    void worker() {
        uint64_t seen = 0;
        std::unique_lock<std::mutex> l(mu_);
        seen = gen_;
        for (;;) {
            wake_.wait(l, [&] { return gen_ != seen && job_ != nullptr; });
            seen = gen_;
            inside_++;
            l.unlock();
            const unsigned mine = take_parts();
            l.lock();
            inside_--;
            done_ += mine;
            if (done_ == parts_ && inside_ == 0) finished_.notify_all();
        }
    }

    // Up to `want` pool threads (at most host_threads() - 1).
    void grow(unsigned want) {
        want = std::min(want, host_threads() - 1);
        std::lock_guard<std::mutex> l(mu_);
        while (workers_.size() < want && !failed_) {
            try {
                workers_.push_back(new std::thread([this] { worker(); }));
            } catch (const std::system_error &) {
                failed_ = true;  // no more threads: run with what we have
            } catch (const std::bad_alloc &) {
                failed_ = true;
            }
        }
    }

    std::mutex run_mu_;  // one job at a time
    std::mutex mu_;
    std::condition_variable wake_, finished_;
    std::vector<std::thread *> workers_;
    bool failed_ = false;
    const std::function<void(unsigned)> *job_ = nullptr;
    unsigned parts_ = 0, done_ = 0, inside_ = 0;
    std::atomic<unsigned> next_{0};
    uint64_t gen_ = 0;
};

// The pool of this process. A fork()ed child gets a new one from the atfork
// handler (only the forking thread exists then): the parent's threads are
// not there, and its mutexes and condition variables may be mid-use (a
// condition variable still counts the parent's sleeping waiters, so
// notifying it in the child can block forever). The old pool is leaked on
// purpose. Pools are never destroyed: their threads sleep until the process
// ends, and no static destructor has to join threads that may be mid-job.
WorkerPool *g_pool = nullptr;
std::once_flag g_pool_once;

void new_pool_in_child() {
    g_pool = new WorkerPool;
}

WorkerPool &pool() {
    std::call_once(g_pool_once, [] {
        g_pool = new WorkerPool;
        pthread_atfork(nullptr, nullptr, new_pool_in_child);
    });
    return *g_pool;
}

}  // namespace

unsigned host_threads() {
    static const unsigned n = [] {
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        if (const char *e = std::getenv("VKATTN_HOST_THREADS"); e && *e) {
            const long v = std::strtol(e, nullptr, 10);
            if (v >= 1) return static_cast<unsigned>(std::min<long>(v, 64));
        }
        return std::min(16u, hw);
    }();
    return n;
}

void parallel_parts(unsigned parts, const std::function<void(unsigned)> &fn) {
    if (parts == 0) return;
    if (parts == 1 || host_threads() == 1 || t_in_part) {
        for (unsigned p = 0; p < parts; p++) fn(p);
        return;
    }
    pool().run(parts, fn);
}

}  // namespace vkattn
