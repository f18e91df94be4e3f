// Control: an op may include the runtime's and other ops' headers.
#include "attention.h"
#include "context.h"

int layering_ops_control() {
    return 0;
}
