// Must not compile: an op cannot see the C ABI layer's internals.
#include "api_common.h"

int layering_ops_includes_api() {
    return 0;
}
