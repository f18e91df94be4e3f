// The persistent host threads of runtime/worker_pool.h: every part runs
// exactly once per call, whatever the part count; calls from several threads
// take turns without losing parts; a call from inside a part runs inline; a
// fork()ed child, whose copy of the pool has no threads, still completes.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "worker_pool.h"

using vkattn::parallel_parts;

namespace {

// Runs `parts` parts that each count themselves; true when every part ran once.
bool each_once(unsigned parts) {
    std::vector<std::atomic<int>> hits(parts);
    for (auto &h : hits) h.store(0);
    parallel_parts(parts, [&](unsigned p) { hits[p].fetch_add(1); });
    for (auto &h : hits)
        if (h.load() != 1) return false;
    return true;
}

}  // namespace

TEST_CASE("worker pool: every part runs exactly once", "[worker_pool]") {
    CHECK(vkattn::host_threads() >= 1);
    for (unsigned parts : {0u, 1u, 2u, 3u, 7u, 16u, 17u, 64u, 1000u}) {
        INFO("parts " << parts);
        CHECK(each_once(parts));
    }
    // Many short calls in a row: a thread waking late must not run a part of
    // the next call twice or miss one.
    bool all = true;
    for (int i = 0; i < 2000; i++) all = all && each_once(1 + i % 19);
    CHECK(all);
}

TEST_CASE("worker pool: concurrent callers and nested calls", "[worker_pool]") {
    std::atomic<int> bad{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; t++)
        callers.emplace_back([&] {
            for (int i = 0; i < 200; i++)
                if (!each_once(1 + (i * 7) % 23)) bad.fetch_add(1);
        });
    for (auto &t : callers) t.join();
    CHECK(bad.load() == 0);

    // A part that starts its own parallel call: the inner call runs inline.
    std::vector<std::atomic<int>> hits(8 * 5);
    for (auto &h : hits) h.store(0);
    parallel_parts(8, [&](unsigned o) { parallel_parts(5, [&](unsigned i) { hits[o * 5 + i].fetch_add(1); }); });
    int wrong = 0;
    for (auto &h : hits) wrong += h.load() != 1;
    CHECK(wrong == 0);
}

TEST_CASE("worker pool: a forked child completes its calls", "[worker_pool]") {
    // The parent's threads sleep on its condition variable when it forks; a
    // child that reused that pool hung in most forks at 16 threads (ctest
    // runs this file at the machine's thread count and at 16). A child that
    // hangs is killed after 5 s and fails the check.
    int hung_or_failed = 0;
    for (int f = 0; f < 20; f++) {
        REQUIRE(each_once(16));  // threads exist in this process now
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(5);
            _exit(each_once(16) && each_once(3) ? 0 : 1);
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        hung_or_failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK(hung_or_failed == 0);
}
