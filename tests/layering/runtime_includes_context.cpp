// Control: a runtime source may include the runtime's own headers.
#include "context.h"

int layering_runtime_control() {
    return 0;
}
