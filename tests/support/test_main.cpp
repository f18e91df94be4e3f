// Catch2 runner that fails the run when the Vulkan validation layer reported
// any error during it (ctest runs each test case as its own process, so the
// failure lands on the test case that caused it).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "vkattn.h"

int main(int argc, char **argv) {
    int result = Catch::Session().run(argc, argv);
    uint64_t errors = vkattn_validation_error_count();
    if (errors) {
        std::fprintf(stderr, "FAILED: the Vulkan validation layer reported %llu error(s) (messages above)\n",
                     static_cast<unsigned long long>(errors));
        return result ? result : 1;
    }
    return result;
}
