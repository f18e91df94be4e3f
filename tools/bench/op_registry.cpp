// The ops vkattn-bench runs: a suite case's "op" names one of them.
#include "op.h"

namespace vkbench {

// Each op's file defines its factory.
std::unique_ptr<BenchOp> make_attention_op();  // attention_op.cpp

const std::vector<OpEntry> &op_registry() {
    static const std::vector<OpEntry> ops = {
        {"attention", make_attention_op},
    };
    return ops;
}

std::unique_ptr<BenchOp> make_op(const std::string &name) {
    for (const OpEntry &e : op_registry())
        if (name == e.name) return e.make();
    return nullptr;
}

std::string known_ops() {
    std::string s;
    for (const OpEntry &e : op_registry()) {
        if (!s.empty()) s += ", ";
        s += e.name;
    }
    return s;
}

vkattn_status OpRun::run_host(vkattn_backend) {
    return VKATTN_ERROR_UNSUPPORTED;
}

void OpRun::check_host(Check *out) {
    *out = Check{};
}

}  // namespace vkbench
