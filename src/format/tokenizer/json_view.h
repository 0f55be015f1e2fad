// Typed, labelled access to the tokenizer files' JSON: every failure names the file and the
// path of the field ("tokenizer.json: field 'model.merges[12]' must be ..., found ...").
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "format/json_document.h"

namespace jamba::tok {

class JsonView {
 public:
  JsonView(const nlohmann::json& value, std::string path, const std::string& file)
      : value_(&value), path_(std::move(path)), file_(&file) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }

  template <typename... Parts>
  [[noreturn]] void error(const Parts&... parts) const {
    if (path_.empty()) fail(*file_, ": ", parts...);
    fail(*file_, ": field '", path_, "' ", parts...);
  }
  [[noreturn]] void expected(const std::string& what) const { error("must be ", what, ", found ", describe_json(*value_)); }

  bool is_null() const { return value_->is_null(); }
  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_string() const { return value_->is_string(); }

  // A required member (absent -> "missing field").
  JsonView at(const std::string& key) const {
    if (!value_->is_object()) expected("an object");
    auto it = value_->find(key);
    if (it == value_->end()) {
      if (path_.empty()) fail(*file_, ": missing field '", key, "'");
      fail(*file_, ": field '", path_, "' has no field '", key, "'");
    }
    return JsonView(*it, child_path(key), *file_);
  }
  // An optional member; absent and null are both "not given".
  std::optional<JsonView> find(const std::string& key) const {
    if (!value_->is_object()) expected("an object");
    auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) return std::nullopt;
    return JsonView(*it, child_path(key), *file_);
  }
  bool has(const std::string& key) const { return find(key).has_value(); }

  size_t size() const {
    if (!value_->is_array()) expected("an array");
    return value_->size();
  }
  JsonView operator[](size_t i) const {
    if (!value_->is_array()) expected("an array");
    return JsonView((*value_)[i], path_ + "[" + std::to_string(i) + "]", *file_);
  }

  std::string str() const {
    if (!value_->is_string()) expected("a string");
    return value_->get<std::string>();
  }
  bool boolean() const {
    if (!value_->is_boolean()) expected("a boolean");
    return value_->get<bool>();
  }
  uint64_t uint(uint64_t max = UINT64_MAX) const {
    if (!value_->is_number_unsigned() && !(value_->is_number_integer() && value_->get<int64_t>() >= 0))
      expected("a non-negative integer");
    uint64_t v = value_->get<uint64_t>();
    if (v > max) error("is ", v, ", above the largest accepted value ", max);
    return v;
  }
  double number() const {
    if (!value_->is_number()) expected("a number");
    return value_->get<double>();
  }

  std::string str(const std::string& key) const { return at(key).str(); }
  bool boolean(const std::string& key) const { return at(key).boolean(); }
  bool boolean_or(const std::string& key, bool fallback) const {
    auto v = find(key);
    return v ? v->boolean() : fallback;
  }

 private:
  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  const nlohmann::json* value_;
  std::string path_;
  const std::string* file_;
};

}  // namespace jamba::tok
