#include "json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace vkbench {

Json Json::boolean(bool b) {
    Json j;
    j.type_ = Type::Bool;
    j.bool_ = b;
    return j;
}
Json Json::number(double d) {
    Json j;
    j.type_ = Type::Number;
    j.number_ = d;
    return j;
}
Json Json::string(std::string s) {
    Json j;
    j.type_ = Type::String;
    j.string_ = std::move(s);
    return j;
}
Json Json::array() {
    Json j;
    j.type_ = Type::Array;
    return j;
}
Json Json::object() {
    Json j;
    j.type_ = Type::Object;
    return j;
}

const Json *Json::find(std::string_view key) const {
    for (const auto &m : members_)
        if (m.first == key) return &m.second;
    return nullptr;
}

const char *Json::type_name(Type t) {
    switch (t) {
        case Type::Null: return "null";
        case Type::Bool: return "boolean";
        case Type::Number: return "number";
        case Type::String: return "string";
        case Type::Array: return "array";
        case Type::Object: return "object";
    }
    return "?";
}

namespace {

// Recursive descent over the text; depth-limited so a hostile file cannot
// exhaust the stack.
class Parser {
public:
    explicit Parser(std::string_view text) : s_(text) {}

    bool document(Json *out, std::string *error) {
        skip_ws();
        if (!value(out, 0)) {
            *error = error_;
            return false;
        }
        skip_ws();
        if (pos_ != s_.size()) {
            fail("unexpected text after the document");
            *error = error_;
            return false;
        }
        return true;
    }

private:
    std::string_view s_;
    size_t pos_ = 0;
    std::string error_;

    bool fail(const std::string &what) {
        if (!error_.empty()) return false;  // keep the first, innermost error
        size_t line = 1, col = 1;
        for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
            if (s_[i] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        error_ = "line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + what;
        return false;
    }

    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }

    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return fail("invalid literal");
        pos_ += word.size();
        return true;
    }

    bool value(Json *out, int depth) {
        if (depth > 64) return fail("nesting deeper than 64 levels");
        if (pos_ >= s_.size()) return fail("unexpected end of input");
        char c = s_[pos_];
        if (c == '{') return object(out, depth);
        if (c == '[') return array(out, depth);
        if (c == '"') {
            std::string str;
            if (!string(&str)) return false;
            *out = Json::string(std::move(str));
            return true;
        }
        if (c == 't') {
            *out = Json::boolean(true);
            return literal("true");
        }
        if (c == 'f') {
            *out = Json::boolean(false);
            return literal("false");
        }
        if (c == 'n') {
            *out = Json();
            return literal("null");
        }
        if (c == '-' || (c >= '0' && c <= '9')) return number(out);
        return fail(std::string("unexpected character '") + c + "'");
    }

    bool number(Json *out) {
        size_t start = pos_;
        if (s_[pos_] == '-') ++pos_;
        auto digits = [&] {
            size_t d = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
            return pos_ > d;
        };
        if (!digits()) return fail("malformed number");
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            if (!digits()) return fail("malformed number (digits expected after '.')");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (!digits()) return fail("malformed number (exponent)");
        }
        std::string tok(s_.substr(start, pos_ - start));
        *out = Json::number(std::strtod(tok.c_str(), nullptr));
        return true;
    }

    static void put_utf8(std::string *o, uint32_t cp) {
        if (cp < 0x80) {
            o->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            o->push_back(static_cast<char>(0xC0 | (cp >> 6)));
            o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            o->push_back(static_cast<char>(0xE0 | (cp >> 12)));
            o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            o->push_back(static_cast<char>(0xF0 | (cp >> 18)));
            o->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    bool hex4(uint32_t *v) {
        if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
        *v = 0;
        for (int i = 0; i < 4; ++i) {
            char c = s_[pos_++];
            *v <<= 4;
            if (c >= '0' && c <= '9')
                *v |= static_cast<uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                *v |= static_cast<uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                *v |= static_cast<uint32_t>(c - 'A' + 10);
            else
                return fail("bad hex digit in \\u escape");
        }
        return true;
    }

    bool string(std::string *out) {
        ++pos_;  // opening quote
        while (true) {
            if (pos_ >= s_.size()) return fail("unterminated string");
            char c = s_[pos_++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
            if (c != '\\') {
                out->push_back(c);
                continue;
            }
            if (pos_ >= s_.size()) return fail("unterminated escape");
            char e = s_[pos_++];
            switch (e) {
                case '"': out->push_back('"'); break;
                case '\\': out->push_back('\\'); break;
                case '/': out->push_back('/'); break;
                case 'b': out->push_back('\b'); break;
                case 'f': out->push_back('\f'); break;
                case 'n': out->push_back('\n'); break;
                case 'r': out->push_back('\r'); break;
                case 't': out->push_back('\t'); break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!hex4(&cp)) return false;
                    if (cp >= 0xD800 && cp < 0xDC00) {  // surrogate pair
                        uint32_t lo = 0;
                        if (s_.substr(pos_, 2) != "\\u") return fail("lone high surrogate");
                        pos_ += 2;
                        if (!hex4(&lo)) return false;
                        if (lo < 0xDC00 || lo > 0xDFFF) return fail("bad low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: return fail(std::string("unknown escape '\\") + e + "'");
            }
        }
    }

    bool array(Json *out, int depth) {
        ++pos_;
        *out = Json::array();
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return true;
        }
        while (true) {
            skip_ws();
            Json item;
            if (!value(&item, depth + 1)) return false;
            out->push(std::move(item));
            skip_ws();
            if (pos_ >= s_.size()) return fail("unterminated array");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == ']') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or ']' in array");
        }
    }

    bool object(Json *out, int depth) {
        ++pos_;
        *out = Json::object();
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return true;
        }
        while (true) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a quoted key in object");
            size_t key_pos = pos_;
            std::string key;
            if (!string(&key)) return false;
            if (out->find(key)) {
                pos_ = key_pos;
                return fail("duplicate key \"" + key + "\"");
            }
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after key");
            ++pos_;
            skip_ws();
            Json v;
            if (!value(&v, depth + 1)) return false;
            out->set(std::move(key), std::move(v));
            skip_ws();
            if (pos_ >= s_.size()) return fail("unterminated object");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == '}') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or '}' in object");
        }
    }
};

}  // namespace

bool parse_json(std::string_view text, Json *out, std::string *error) {
    Parser p(text);
    return p.document(out, error);
}

bool parse_json_file(const std::string &path, Json *out, std::string *error) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        *error = path + ": cannot open file";
        return false;
    }
    std::ostringstream ss;
    ss << f.rdbuf();
    std::string why;
    if (!parse_json(ss.str(), out, &why)) {
        *error = path + ": " + why;
        return false;
    }
    return true;
}

std::string json_quote(std::string_view s) {
    std::string o = "\"";
    for (char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
                    o += buf;
                } else {
                    o.push_back(c);
                }
        }
    }
    o += '"';
    return o;
}

std::string json_number(double d) {
    if (!std::isfinite(d)) return "null";
    char buf[64];
    if (d == std::floor(d) && std::fabs(d) < 9.0e15)
        std::snprintf(buf, sizeof buf, "%.0f", d);
    else
        std::snprintf(buf, sizeof buf, "%.9g", d);
    return buf;
}

}  // namespace vkbench
