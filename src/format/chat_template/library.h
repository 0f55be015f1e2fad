// Internals shared by the library's two halves: builtins.cpp (filters, tests, globals) and
// python_str.cpp (Python's str methods and formatting on UTF-8 text).
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format/chat_template/interpreter.h"

namespace jamba::chat_template {

// Binds call arguments to named parameters the way Python binds a signature without *args:
// positionals in order, then keywords by name; extra or duplicate arguments are errors that
// name `what` ("filter 'join'", "str.split()", ...).
class Bound {
 public:
  Bound(const std::string& what, CallArgs& args, std::initializer_list<const char*> names)
      : what_(what), names_(names), slots_(names.size()) {
    if (args.positional.size() > names_.size())
      raise(what_ + " takes at most " + std::to_string(names_.size()) + " argument(s) (" +
            std::to_string(args.positional.size()) + " given)");
    for (size_t i = 0; i < args.positional.size(); ++i) slots_[i] = args.positional[i];
    for (auto& entry : args.keyword) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
      const std::string& key = entry.first;
      auto& value = entry.second;
      const auto it = std::find_if(names_.begin(), names_.end(), [&](const char* n) { return key == n; });
      if (it == names_.end()) raise(what_ + " got an unexpected keyword argument '" + key + "'");
      auto& slot = slots_[static_cast<size_t>(it - names_.begin())];
      if (slot) raise(what_ + " got multiple values for argument '" + key + "'");
      slot = value;
    }
  }
  bool has(size_t i) const { return slots_[i].has_value(); }
  const Value& get(size_t i) const {
    if (!slots_[i]) raise(what_ + " is missing its argument '" + std::string(names_[i]) + "'");
    return *slots_[i];
  }
  Value get_or(size_t i, Value fallback) const { return slots_[i] ? *slots_[i] : std::move(fallback); }
  // Python truthiness of an optional flag.
  bool flag(size_t i, bool fallback = false) const { return slots_[i] ? truthy(*slots_[i]) : fallback; }
  // An argument that must be None or absent to mean "not given".
  std::optional<Value> optional(size_t i) const {
    if (!slots_[i] || slots_[i]->is_none()) return std::nullopt;
    return slots_[i];
  }
  int64_t integer(size_t i, int64_t fallback) const {
    if (!slots_[i]) return fallback;
    if (!slots_[i]->is_integral())
      raise(what_ + ": '" + type_name(*slots_[i]) + "' object cannot be interpreted as an integer");
    return slots_[i]->as_int();
  }

 private:
  std::string what_;
  std::vector<const char*> names_;
  std::vector<std::optional<Value>> slots_;
};

inline std::string filter_name(const std::string& name) { return "filter '" + name + "'"; }

inline void require_string(const Value& value, const std::string& what) {
  if (value.is_undefined()) raise(value.as_string());
  if (!value.is_string()) raise(what + " requires a string, not '" + type_name(value) + "'");
}


// ---------------------------------------------------------------------------------------------
// Python str operations (python_str.cpp). Text is UTF-8; positions and lengths are code points.

// str.strip/lstrip/rstrip: `chars` nullopt strips whitespace (str.isspace).
std::string py_strip(const std::string& text, const std::optional<std::u32string>& chars, bool left, bool right);
// The `chars` argument of strip(): None/undefined -> empty, a str -> its code points.
std::u32string strip_set(const Value& chars, const char* method);
std::string py_lower(const std::string& text);
std::string py_upper(const std::string& text);
std::string py_capitalize(const std::string& text);
std::string py_title(const std::string& text);  // str.title()
std::string py_swapcase(const std::string& text);
std::string jinja_title(const std::string& text);  // the `title` filter (word starts after -([{< and spaces)
std::string py_replace(Interpreter& interpreter, const std::string& text, const std::string& old,
                       const std::string& replacement, int64_t count);
ValueList py_split(const std::string& text, const Value& separator, int64_t maxsplit);
ValueList py_rsplit(const std::string& text, const Value& separator, int64_t maxsplit);
ValueList py_splitlines(const std::string& text, bool keepends);
// Pads to `width` code points: align '<', '>' or '^' (str.center's rounding).
std::string py_pad(const std::string& text, int64_t width, const std::string& fill, char align);
std::string html_escape(const std::string& text);  // markupsafe.escape
bool parse_python_float(const std::string& text, double* out);         // float(str)
bool parse_python_int(const std::string& text, int base, int64_t* out);  // int(str, base)
// format(value, spec), the mini-language of str.format.
std::string format_with_spec(Interpreter& interpreter, const Value& value, const std::string& spec);
bool is_string_method(const std::string& name);
Value string_method(Interpreter& interpreter, const std::string& text, const std::string& name, CallArgs& args);

}  // namespace jamba::chat_template
