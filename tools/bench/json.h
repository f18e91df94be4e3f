// A small JSON reader and string escaper for vkattn-bench: enough for the
// shape suites and for reading back the bench's own result files. Parse
// errors name the line and column; no exceptions leave parse().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vkbench {

class Json {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };

    Json() = default;
    static Json boolean(bool b);
    static Json number(double d);
    static Json string(std::string s);
    static Json array();
    static Json object();

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::Null; }
    bool is_bool() const { return type_ == Type::Bool; }
    bool is_number() const { return type_ == Type::Number; }
    bool is_string() const { return type_ == Type::String; }
    bool is_array() const { return type_ == Type::Array; }
    bool is_object() const { return type_ == Type::Object; }

    bool as_bool() const { return bool_; }
    double as_number() const { return number_; }
    const std::string &as_string() const { return string_; }
    const std::vector<Json> &items() const { return items_; }
    // Object members in file order (duplicate keys are a parse error).
    const std::vector<std::pair<std::string, Json>> &members() const { return members_; }
    // Member `key` of an object, or nullptr.
    const Json *find(std::string_view key) const;

    void push(Json v) { items_.push_back(std::move(v)); }
    void set(std::string key, Json v) { members_.emplace_back(std::move(key), std::move(v)); }

    static const char *type_name(Type t);

private:
    Type type_ = Type::Null;
    bool bool_ = false;
    double number_ = 0;
    std::string string_;
    std::vector<Json> items_;
    std::vector<std::pair<std::string, Json>> members_;
};

// Parse a whole document. On failure returns false and sets *error to
// "line L, column C: what".
bool parse_json(std::string_view text, Json *out, std::string *error);

// Read a file and parse it; *error names the file on failure.
bool parse_json_file(const std::string &path, Json *out, std::string *error);

// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

// A number as JSON: finite values with up to 9 significant digits, integers
// exactly; NaN/inf become null.
std::string json_number(double d);

}  // namespace vkbench
