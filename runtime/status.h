// Errors as values inside vkattn. A Status carries a stable vkattn_status code
// and a message that names what was wrong; the C ABI turns it into the
// thread-local last-error message.
#pragma once

#include <sstream>
#include <string>
#include <utility>

#include "vkattn.h"

namespace vkattn {

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(vkattn_status code, std::string message) : code_(code), message_(std::move(message)) {}
    static Status Ok() { return {}; }

    bool ok() const { return code_ == VKATTN_SUCCESS; }
    vkattn_status code() const { return code_; }
    const std::string &message() const { return message_; }

private:
    vkattn_status code_ = VKATTN_SUCCESS;
    std::string message_;
};

// Concatenate anything streamable into a message.
template <class... Args>
std::string cat(Args &&...args) {
    std::ostringstream s;
    (s << ... << std::forward<Args>(args));
    return s.str();
}

template <class... Args>
Status Error(vkattn_status code, Args &&...args) {
    return Status(code, cat(std::forward<Args>(args)...));
}

}  // namespace vkattn

#define VKA_RETURN_IF_ERROR(expr)                  \
    do {                                           \
        ::vkattn::Status vka_status_ = (expr);     \
        if (!vka_status_.ok()) return vka_status_; \
    } while (0)
