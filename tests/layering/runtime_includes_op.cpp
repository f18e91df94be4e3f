// Must not compile: the runtime cannot see an op's header.
#include "attention.h"

int layering_runtime_includes_op() {
    return 0;
}
