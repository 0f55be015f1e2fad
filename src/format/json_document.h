// Strict JSON reading shared by the format parsers (config.json, generation_config.json,
// model.safetensors.index.json): syntax errors carry the label and line/column, duplicate keys
// are errors (nlohmann would silently keep the last one), and nesting is bounded so a hostile
// file cannot make later recursive code (dump, copy) overflow the stack.
#pragma once
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace jamba {

// Deepest nesting accepted by parse_json_document. Every file we read needs at most 3 levels.
constexpr int kMaxJsonDepth = 64;

// Parses `text` as one JSON value. Throws Error("<label>: invalid JSON: ...") on syntax errors,
// Error("<label>: duplicate key 'k' ...") on duplicate object keys, and an error when nested
// deeper than kMaxJsonDepth.
nlohmann::json parse_json_document(const std::string& text, const std::string& label);

// The same checks for any nlohmann document type (e.g. ordered_json, which keeps key order as
// Python does) and nesting limit. Instantiated for nlohmann::json and nlohmann::ordered_json.
template <typename Json>
Json parse_strict_json(const std::string& text, const std::string& label, int max_depth);

// "a string \"abc\"", "a float 2.5", "null", "an array", ... for "expected X, found Y" messages;
// long values are cut short so a message stays one readable line.
std::string describe_json(const nlohmann::json& value);

// `text` in single quotes, with control bytes escaped (\n, \x07, ...) and cut to `max_chars`:
// names from untrusted files go into one-line error messages through this.
std::string in_quotes(const std::string& text, size_t max_chars = 200);

// nlohmann's exception text without its "[json.exception.parse_error.101] " prefix.
std::string json_error_text(const std::exception& error);

}  // namespace jamba
