#include "format/chat_template/builtins.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "format/chat_template/library.h"
#include "format/chat_template/parser.h"
#include "format/chat_template/unicode.h"

namespace jamba::chat_template {

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers shared by filters.

Value ignore_case(const Value& value) {
  if (value.is_string()) return Value::string(py_lower(value.as_string()));
  return value;
}

// Jinja's attribute paths: "a.b.0" -> getitem(getitem(getitem(x, "a"), "b"), 0).
std::vector<Value> attribute_parts(const Value& attribute) {
  std::vector<Value> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) {
    parts.push_back(attribute);
    return parts;
  }
  for (const Value& piece : py_split(attribute.as_string(), Value::string("."), -1)) {
    const std::string& text = piece.as_string();
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    int64_t index = 0;
    if (digits && parse_python_int(text, 10, &index)) parts.push_back(Value::integer(index));
    else parts.push_back(piece);
  }
  return parts;
}

Value lookup_path(Interpreter& interpreter, Value item, const std::vector<Value>& parts, const Value* fallback) {
  for (const Value& part : parts) {
    item = interpreter.getitem(item, part);
    if (fallback && !fallback->is_none() && item.is_undefined()) item = *fallback;
  }
  return item;
}

void sort_values(ValueList& items, std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? py_less(keys[b], keys[a]) : py_less(keys[a], keys[b]);
  });
  ValueList sorted;
  std::vector<Value> sorted_keys;
  for (size_t i : order) {
    sorted.push_back(items[i]);
    sorted_keys.push_back(keys[i]);
  }
  items = std::move(sorted);
  keys = std::move(sorted_keys);
}

int64_t py_len(const Value& value) {
  switch (value.type()) {
    case Value::Type::Undefined: return 0;
    case Value::Type::String: return static_cast<int64_t>(code_point_count(value.as_string()));
    case Value::Type::List:
    case Value::Type::Tuple: return static_cast<int64_t>(value.items().size());
    case Value::Type::Dict: return static_cast<int64_t>(value.dict_data()->items.size());
    case Value::Type::Loop: return static_cast<int64_t>(value.loop_data().items->size());
    default: raise("object of type '" + type_name(value) + "' has no len()");
  }
}

Value python_round(const Value& value, int64_t digits) {
  if (value.is_undefined()) raise(value.as_string());
  if (value.is_integral()) {
    int64_t v = value.as_int();
    if (digits >= 0) return Value::integer(v);
    if (digits < -18) return Value::integer(0);
    int64_t scale = 1;
    for (int64_t i = 0; i < -digits; ++i) scale *= 10;
    const int64_t rem = ((v % scale) + scale) % scale;
    int64_t down = v - rem;
    if (rem * 2 > scale || (rem * 2 == scale && (down / scale) % 2 != 0)) down += scale;
    return Value::integer(down);
  }
  if (!value.is_float()) raise("type " + type_name(value) + " doesn't define __round__ method");
  const double v = value.as_float();
  if (!std::isfinite(v)) return Value::number(v);
  if (digits >= 0) {
    if (digits > 300) return Value::number(v);
    std::vector<char> buffer(static_cast<size_t>(digits) + 400);
    std::snprintf(buffer.data(), buffer.size(), "%.*f", static_cast<int>(digits), v);
    return Value::number(std::strtod(buffer.data(), nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(-digits));
  char buffer[400];
  std::snprintf(buffer, sizeof buffer, "%.0f", v / scale);
  return Value::number(std::strtod(buffer, nullptr) * scale);
}

std::string strftime_python(const std::string& format, std::time_t now) {
  std::tm local{};
  localtime_r(&now, &local);
  std::string prepared;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      const char c = format[++i];
      if (c == 'f') prepared += "000000";
      else if (c == 'z' || c == 'Z') continue;  // a naive datetime has no zone
      else if (c == '%') prepared += "%%";
      else prepared += std::string("%") + c;
    } else {
      prepared += format[i];
    }
  }
  prepared += '\x01';  // strftime returns 0 both for "empty" and "too small"; keep it non-empty
  std::vector<char> buffer(prepared.size() * 4 + 256);
  while (true) {
    const size_t written = std::strftime(buffer.data(), buffer.size(), prepared.c_str(), &local);
    if (written > 0) return std::string(buffer.data(), written - 1);
    if (buffer.size() > (size_t{1} << 20)) raise("strftime_now: format produces too much text");
    buffer.resize(buffer.size() * 4);
  }
}

// ---------------------------------------------------------------------------------------------
// Filters

using FilterFn = Value (*)(Interpreter&, const std::string&, const Value&, CallArgs&);

Value select_or_reject(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args,
                       bool select, bool by_attribute) {
  if (!truthy(input)) return Value::iterator({});
  ValueList items = interpreter.iterate(input);
  size_t offset = 0;
  std::vector<Value> parts;
  if (by_attribute) {
    if (args.positional.empty()) raise("Missing parameter for attribute name");
    parts = attribute_parts(args.positional[0]);
    offset = 1;
  }
  std::optional<std::string> test;
  CallArgs test_args;
  if (args.positional.size() > offset) {
    const Value& test_name = args.positional[offset];
    if (!test_name.is_string()) raise(filter_name(name) + ": the test name must be a string");
    test = test_name.as_string();
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(offset + 1), args.positional.end());
    test_args.keyword = args.keyword;
  }
  ValueList kept;
  for (const Value& item : items) {
    interpreter.step();
    const Value subject = by_attribute ? lookup_path(interpreter, item, parts, nullptr) : item;
    bool result;
    if (test) {
      CallArgs call_args = test_args;
      result = interpreter.call_test(*test, subject, call_args);
    } else {
      result = truthy(subject);
    }
    if (result == select) kept.push_back(item);
  }
  return Value::iterator(std::move(kept));
}

Value f_select(Interpreter& i, const std::string& n, const Value& v, CallArgs& a) { return select_or_reject(i, n, v, a, true, false); }
Value f_reject(Interpreter& i, const std::string& n, const Value& v, CallArgs& a) { return select_or_reject(i, n, v, a, false, false); }
Value f_selectattr(Interpreter& i, const std::string& n, const Value& v, CallArgs& a) { return select_or_reject(i, n, v, a, true, true); }
Value f_rejectattr(Interpreter& i, const std::string& n, const Value& v, CallArgs& a) { return select_or_reject(i, n, v, a, false, true); }

Value f_map(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  if (!truthy(input)) return Value::iterator({});
  ValueList items = interpreter.iterate(input);
  ValueList out;
  const auto attribute = std::find_if(args.keyword.begin(), args.keyword.end(), [](const auto& kw) { return kw.first == "attribute"; });
  if (args.positional.empty() && attribute != args.keyword.end()) {
    const std::vector<Value> parts = attribute_parts(attribute->second);
    std::optional<Value> fallback;
    for (const auto& [key, value] : args.keyword) {
      if (key == "default") fallback = value;
      else if (key != "attribute") raise("Unexpected keyword argument '" + key + "'");
    }
    for (const Value& item : items) {
      interpreter.step();
      out.push_back(lookup_path(interpreter, item, parts, fallback ? &*fallback : nullptr));
    }
    return Value::iterator(std::move(out));
  }
  if (args.positional.empty()) raise("map requires a filter argument");
  if (!args.positional[0].is_string()) raise("map: the filter name must be a string");
  const std::string filter = args.positional[0].as_string();
  if (!is_known_filter(filter)) raise("No filter named '" + filter + "'.");
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    interpreter.step();
    CallArgs call_args = rest;
    out.push_back(interpreter.call_filter(filter, item, call_args));
  }
  return Value::iterator(std::move(out));
}

Value f_tojson(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions options;
  options.ensure_ascii = b.flag(0);
  if (auto indent = b.optional(1)) {
    options.has_indent = true;
    if (indent->is_string()) {
      options.indent = indent->as_string();
    } else if (indent->is_integral()) {
      options.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(indent->as_int(), 1 << 16))), ' ');
    } else {
      raise("tojson: indent must be an integer or a string, not " + type_name(*indent));
    }
    options.item_separator = ",";
  }
  if (auto separators = b.optional(2)) {
    const ValueList parts = interpreter.iterate(*separators);
    if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string())
      raise("tojson: separators must be a pair of strings");
    options.item_separator = parts[0].as_string();
    options.key_separator = parts[1].as_string();
  }
  options.sort_keys = b.flag(3);
  std::string text = to_json(input, options);
  interpreter.check_size(text.size());
  return Value::string(std::move(text));
}

Value f_join(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"d", "attribute"});
  const std::string separator = py_str(b.get_or(0, Value::string("")));
  ValueList items = interpreter.iterate(input);
  std::optional<std::vector<Value>> parts;
  if (auto attribute = b.optional(1)) parts = attribute_parts(*attribute);
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out += py_str(parts ? lookup_path(interpreter, items[i], *parts, nullptr) : items[i]);
    interpreter.check_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_default(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"default_value", "boolean"});
  if (input.is_undefined() || (b.flag(1) && !truthy(input))) return b.get_or(0, Value::string(""));
  return input;
}

Value f_length(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::integer(py_len(input)); }

Value f_first(Interpreter& interpreter, const std::string&, const Value& input, CallArgs&) {
  if (input.is_iterator()) {
    IteratorData& data = input.iterator_data();
    if (data.position < data.items.size()) return data.items[data.position++];
    return Value::undefined("No first item, sequence was empty.");
  }
  if (input.is_sequence()) {
    if (input.items().empty()) return Value::undefined("No first item, sequence was empty.");
    return input.items().front();
  }
  ValueList items = interpreter.iterate(input);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter& interpreter, const std::string&, const Value& input, CallArgs&) {
  if (!(input.is_sequence() || input.is_string() || input.is_dict() || input.is_undefined()))
    raise("'" + type_name(input) + "' object is not reversible");
  ValueList items = interpreter.iterate(input);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_list(Interpreter& interpreter, const std::string&, const Value& input, CallArgs&) {
  return Value::list(interpreter.iterate(input));
}

Value f_items(Interpreter&, const std::string&, const Value& input, CallArgs&) {
  if (input.is_undefined()) return Value::iterator({});
  if (!input.is_dict()) raise("Can only get item pairs from a mapping.");
  ValueList pairs;
  for (const auto& [key, value] : input.dict_data()->items) pairs.push_back(Value::tuple({key, value}));
  return Value::iterator(std::move(pairs));
}

Value f_dictsort(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"case_sensitive", "by", "reverse"});
  if (input.is_undefined()) raise(input.as_string());
  if (!input.is_dict()) raise("'" + type_name(input) + "' object has no attribute 'items'");
  const bool case_sensitive = b.flag(0);
  const Value by = b.get_or(1, Value::string("key"));
  size_t position = 0;
  if (by.is_string() && by.as_string() == "value") position = 1;
  else if (!(by.is_string() && by.as_string() == "key")) raise("You can only sort by either \"key\" or \"value\"");
  ValueList pairs;
  std::vector<Value> keys;
  for (const auto& [key, value] : input.dict_data()->items) {
    pairs.push_back(Value::tuple({key, value}));
    const Value& k = position == 0 ? key : value;
    keys.push_back(case_sensitive ? k : ignore_case(k));
  }
  sort_values(pairs, keys, b.flag(2));
  return Value::list(std::move(pairs));
}

Value f_sort(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"reverse", "case_sensitive", "attribute"});
  ValueList items = interpreter.iterate(input);
  const bool case_sensitive = b.flag(1);
  std::vector<std::vector<Value>> paths;
  const Value attribute = b.get_or(2, Value::none());
  if (attribute.is_string()) {
    for (const Value& piece : py_split(attribute.as_string(), Value::string(","), -1)) paths.push_back(attribute_parts(piece));
  } else {
    paths.push_back(attribute_parts(attribute));
  }
  std::vector<Value> keys;
  for (const Value& item : items) {
    ValueList key;
    for (const auto& path : paths) {
      Value part = lookup_path(interpreter, item, path, nullptr);
      key.push_back(case_sensitive ? part : ignore_case(part));
    }
    keys.push_back(Value::list(std::move(key)));
  }
  sort_values(items, keys, b.flag(0));
  return Value::list(std::move(items));
}

Value f_unique(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"case_sensitive", "attribute"});
  const bool case_sensitive = b.flag(0);
  const std::vector<Value> parts = attribute_parts(b.get_or(1, Value::none()));
  ValueList seen, out;
  for (const Value& item : interpreter.iterate(input)) {
    interpreter.step();
    Value key = lookup_path(interpreter, item, parts, nullptr);
    if (!case_sensitive) key = ignore_case(key);
    if (!py_hashable(key)) raise("unhashable type: '" + type_name(key) + "'");
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return py_equal(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::iterator(std::move(out));
}

Value min_or_max(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args, bool want_max) {
  Bound b(filter_name(name), args, {"case_sensitive", "attribute"});
  const ValueList items = interpreter.iterate(input);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool case_sensitive = b.flag(0);
  const std::vector<Value> parts = attribute_parts(b.get_or(1, Value::none()));
  auto key_of = [&](const Value& item) {
    Value key = lookup_path(interpreter, item, parts, nullptr);
    return case_sensitive ? key : ignore_case(key);
  };
  size_t best = 0;
  Value best_key = key_of(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = key_of(items[i]);
    if (want_max ? py_less(best_key, key) : py_less(key, best_key)) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}
Value f_min(Interpreter& i, const std::string& n, const Value& v, CallArgs& a) { return min_or_max(i, n, v, a, false); }
Value f_max(Interpreter& i, const std::string& n, const Value& v, CallArgs& a) { return min_or_max(i, n, v, a, true); }

Value f_sum(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"attribute", "start"});
  const std::vector<Value> parts = attribute_parts(b.get_or(0, Value::none()));
  Value total = b.get_or(1, Value::integer(0));
  for (const Value& item : interpreter.iterate(input))
    total = py_binary(interpreter, BinaryOp::Add, total, lookup_path(interpreter, item, parts, nullptr));
  return total;
}

Value f_string(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::string(py_str(input)); }
Value f_safe(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::string(py_str(input)); }
Value f_escape(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::string(html_escape(py_str(input))); }
Value f_upper(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::string(py_upper(py_str(input))); }
Value f_lower(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::string(py_lower(py_str(input))); }
Value f_capitalize(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::string(py_capitalize(py_str(input))); }
Value f_title(Interpreter&, const std::string&, const Value& input, CallArgs&) { return Value::string(jinja_title(py_str(input))); }

Value f_trim(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"chars"});
  std::optional<std::u32string> chars;
  if (auto given = b.optional(0)) chars = strip_set(*given, "strip");
  return Value::string(py_strip(py_str(input), chars, true, true));
}

Value f_replace(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"old", "new", "count"});
  int64_t count = -1;
  if (auto given = b.optional(2)) {
    if (!given->is_integral()) raise("'" + type_name(*given) + "' object cannot be interpreted as an integer");
    count = given->as_int();
  }
  return Value::string(py_replace(interpreter, py_str(input), py_str(b.get(0)), py_str(b.get(1)), count));
}

Value f_indent(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"width", "first", "blank"});
  if (input.is_undefined()) raise(input.as_string());
  if (!input.is_string()) raise("unsupported operand type(s) for +=: '" + type_name(input) + "' and 'str'");
  const Value width = b.get_or(0, Value::integer(4));
  std::string indentation;
  if (width.is_string()) indentation = width.as_string();
  else if (width.is_integral()) indentation = std::string(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(width.as_int(), 1 << 16))), ' ');
  else raise("can't multiply sequence by non-int of type '" + type_name(width) + "'");
  const ValueList lines = py_splitlines(input.as_string() + "\n", false);
  std::string out;
  if (b.flag(2)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) out += "\n" + indentation;
      out += lines[i].as_string();
      interpreter.check_size(out.size());
    }
  } else {
    out = lines.empty() ? "" : lines[0].as_string();
    for (size_t i = 1; i < lines.size(); ++i) {
      out += "\n";
      if (!lines[i].as_string().empty()) out += indentation;
      out += lines[i].as_string();
      interpreter.check_size(out.size());
    }
  }
  if (b.flag(1)) out = indentation + out;
  return Value::string(std::move(out));
}

Value f_int(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"default", "base"});
  const Value fallback = b.get_or(0, Value::integer(0));
  const int64_t base = b.integer(1, 10);
  if (input.is_undefined()) raise(input.as_string());
  if (input.is_integral()) return Value::integer(input.as_int());
  if (input.is_float()) {
    const double v = input.as_float();
    if (std::isnan(v)) return fallback;
    if (std::isinf(v)) raise("cannot convert float infinity to integer");
    if (std::fabs(v) >= 9.2e18) raise("integer too large for jamba.cpp's 64-bit template integers");
    return Value::integer(static_cast<int64_t>(v));
  }
  if (input.is_string()) {
    int64_t value = 0;
    if (parse_python_int(input.as_string(), static_cast<int>(base), &value)) return Value::integer(value);
    double real = 0;
    if (parse_python_float(input.as_string(), &real) && std::isfinite(real) && std::fabs(real) < 9.2e18)
      return Value::integer(static_cast<int64_t>(real));
  }
  return fallback;
}

Value f_float(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"default"});
  if (input.is_undefined()) raise(input.as_string());
  if (input.is_number()) return Value::number(input.as_float());
  double value = 0;
  if (input.is_string() && parse_python_float(input.as_string(), &value)) return Value::number(value);
  return b.get_or(0, Value::number(0.0));
}

Value f_abs(Interpreter&, const std::string&, const Value& input, CallArgs&) {
  if (input.is_undefined()) raise(input.as_string());
  if (input.is_float()) return Value::number(std::fabs(input.as_float()));
  if (input.is_integral()) {
    if (input.as_int() == std::numeric_limits<int64_t>::min()) raise("integer overflow");
    return Value::integer(std::llabs(input.as_int()));
  }
  raise("bad operand type for abs(): '" + type_name(input) + "'");
}

Value f_round(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"precision", "method"});
  const int64_t precision = b.integer(0, 0);
  const Value method = b.get_or(1, Value::string("common"));
  const std::string how = method.is_string() ? method.as_string() : "";
  if (how != "common" && how != "ceil" && how != "floor") raise("method must be common, ceil or floor");
  if (how == "common") {
    // Python's round(x, n): an int stays an int; a float is rounded half-to-even on its exact value.
    if (!b.has(0) && input.is_float()) return python_round(input, 0);
    return python_round(input, precision);
  }
  if (!input.is_number()) raise("must be real number, not " + type_name(input));
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = input.as_float() * scale;
  const double rounded = how == "ceil" ? std::ceil(scaled) : std::floor(scaled);
  return Value::number(rounded / scale);
}

Value f_center(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"width"});
  const int64_t width = b.integer(0, 80);
  interpreter.check_size(static_cast<size_t>(std::max<int64_t>(0, width)));
  return Value::string(py_pad(py_str(input), width, " ", '^'));
}

Value f_wordcount(Interpreter&, const std::string&, const Value& input, CallArgs&) {
  const std::u32string text = to_u32(py_str(input));
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : text) {
    const bool word = py_isword(c);
    if (word && !in_word) ++words;
    in_word = word;
  }
  return Value::integer(words);
}

Value f_truncate(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"length", "killwords", "end", "leeway"});
  require_string(input, "truncate");
  const int64_t length = b.integer(0, 255);
  const std::string end = py_str(b.get_or(2, Value::string("...")));
  const int64_t leeway = b.optional(3) ? b.integer(3, 5) : 5;
  const std::u32string text = to_u32(input.as_string());
  const int64_t end_length = static_cast<int64_t>(code_point_count(end));
  if (length < end_length) raise("expected length >= " + std::to_string(end_length) + ", got " + std::to_string(length));
  if (static_cast<int64_t>(text.size()) <= length + leeway) return input;
  const std::u32string head = text.substr(0, static_cast<size_t>(length - end_length));
  if (b.flag(1)) return Value::string(to_utf8(head) + end);
  const size_t space = head.rfind(U' ');
  return Value::string(to_utf8(space == std::u32string::npos ? head : head.substr(0, space)) + end);
}

Value f_reverse(Interpreter& interpreter, const std::string&, const Value& input, CallArgs&) {
  if (input.is_string()) {
    std::u32string text = to_u32(input.as_string());
    std::reverse(text.begin(), text.end());
    return Value::string(to_utf8(text));
  }
  if (input.is_iterator()) {
    ValueList items = interpreter.iterate(input);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (!(input.is_sequence() || input.is_dict() || input.is_undefined())) raise("argument must be iterable");
  ValueList items = interpreter.iterate(input);
  std::reverse(items.begin(), items.end());
  return Value::iterator(std::move(items));
}

Value f_batch(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"linecount", "fill_with"});
  const int64_t count = b.integer(0, 1);
  if (count <= 0) raise("batch: linecount must be positive");
  const auto fill = b.optional(1);
  ValueList out, current;
  for (const Value& item : interpreter.iterate(input)) {
    if (static_cast<int64_t>(current.size()) == count) {
      out.push_back(Value::list(std::move(current)));
      current.clear();
    }
    current.push_back(item);
  }
  if (!current.empty()) {
    if (fill)
      while (static_cast<int64_t>(current.size()) < count) current.push_back(*fill);
    out.push_back(Value::list(std::move(current)));
  }
  return Value::iterator(std::move(out));
}

Value f_slice(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"slices", "fill_with"});
  const int64_t slices = b.integer(0, 1);
  if (slices <= 0) raise("slice: the number of slices must be positive");
  interpreter.check_items(static_cast<size_t>(slices));
  const auto fill = b.optional(1);
  const ValueList items = interpreter.iterate(input);
  const int64_t length = static_cast<int64_t>(items.size());
  const int64_t per_slice = length / slices, with_extra = length % slices;
  int64_t offset = 0;
  ValueList out;
  for (int64_t number = 0; number < slices; ++number) {
    const int64_t start = offset + number * per_slice;
    if (number < with_extra) ++offset;
    const int64_t end = offset + (number + 1) * per_slice;
    ValueList part(items.begin() + start, items.begin() + end);
    if (fill && number >= with_extra) part.push_back(*fill);
    out.push_back(Value::list(std::move(part)));
  }
  return Value::iterator(std::move(out));
}

Value f_groupby(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"attribute", "default", "case_sensitive"});
  const std::vector<Value> parts = attribute_parts(b.get(0));
  const Value fallback = b.get_or(1, Value::none());
  const bool case_sensitive = b.flag(2);
  ValueList items = interpreter.iterate(input);
  std::vector<Value> keys;
  for (const Value& item : items) {
    Value key = lookup_path(interpreter, item, parts, &fallback);
    keys.push_back(case_sensitive ? key : ignore_case(key));
  }
  sort_values(items, keys, false);
  ValueList groups;
  for (size_t i = 0; i < items.size();) {
    size_t j = i;
    ValueList members;
    while (j < items.size() && py_equal(keys[j], keys[i])) members.push_back(items[j++]);
    const Value grouper = case_sensitive ? keys[i] : lookup_path(interpreter, members[0], parts, &fallback);
    groups.push_back(Value::tuple({grouper, Value::list(std::move(members))}));
    i = j;
  }
  return Value::list(std::move(groups));
}

Value f_format(Interpreter& interpreter, const std::string&, const Value& input, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty())
    raise("can't handle positional and keyword arguments at the same time");
  Value values;
  if (!args.keyword.empty()) {
    auto data = std::make_shared<DictData>();
    for (auto& [key, value] : args.keyword) data->items.emplace_back(Value::string(key), value);
    values = Value::dict(std::move(data));
  } else {
    values = Value::tuple(args.positional);
  }
  return Value::string(py_percent_format(interpreter, py_str(input), values));
}

Value f_attr(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"name"});
  const Value attribute = b.get(0);
  if (!attribute.is_string()) raise("attribute name must be string");
  if (input.is_dict() && method_kind(input, attribute.as_string()) == MethodKind::None)
    return Value::undefined("'dict object' has no attribute '" + attribute.as_string() + "'");
  return interpreter.getattr(input, attribute.as_string());
}

Value f_filesizeformat(Interpreter&, const std::string& name, const Value& input, CallArgs& args) {
  Bound b(filter_name(name), args, {"binary"});
  double bytes = 0;
  if (input.is_number()) bytes = input.as_float();
  else if (!(input.is_string() && parse_python_float(input.as_string(), &bytes)))
    raise("could not convert " + type_name(input) + " to float");
  const bool binary = b.flag(0);
  const double base = binary ? 1024 : 1000;
  static const char* const kDecimal[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  static const char* const kBinary[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  if (bytes == 1) return Value::string("1 Byte");
  if (bytes < base) return Value::string(std::to_string(static_cast<int64_t>(bytes)) + " Bytes");
  double unit = base;
  const char* prefix = "";
  for (int i = 0; i < 8; ++i) {
    unit = std::pow(base, i + 2);
    prefix = binary ? kBinary[i] : kDecimal[i];
    if (bytes < unit) break;
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f %s", base * bytes / unit, prefix);
  return Value::string(buffer);
}

Value f_unsupported(Interpreter&, const std::string& name, const Value&, CallArgs&) {
  raise("the '" + name + "' filter is not supported by jamba.cpp's template engine");
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> table = {
      {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
      {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"filesizeformat", f_filesizeformat},
      {"first", f_first}, {"float", f_float}, {"forceescape", f_escape}, {"format", f_format},
      {"groupby", f_groupby}, {"indent", f_indent}, {"int", f_int}, {"items", f_items},
      {"join", f_join}, {"last", f_last}, {"length", f_length}, {"list", f_list},
      {"lower", f_lower}, {"map", f_map}, {"max", f_max}, {"min", f_min},
      {"pprint", f_unsupported}, {"random", f_unsupported}, {"reject", f_reject},
      {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
      {"round", f_round}, {"safe", f_safe}, {"select", f_select}, {"selectattr", f_selectattr},
      {"slice", f_slice}, {"sort", f_sort}, {"string", f_string}, {"striptags", f_unsupported},
      {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim},
      {"truncate", f_truncate}, {"unique", f_unique}, {"upper", f_upper},
      {"urlencode", f_unsupported}, {"urlize", f_unsupported}, {"wordcount", f_wordcount},
      {"wordwrap", f_unsupported}, {"xmlattr", f_unsupported},
  };
  return table;
}

// ---------------------------------------------------------------------------------------------
// Tests

bool is_iterable(const Value& value) {
  switch (value.type()) {
    case Value::Type::String:
    case Value::Type::List:
    case Value::Type::Tuple:
    case Value::Type::Dict:
    case Value::Type::Iterator:
    case Value::Type::Undefined:
    case Value::Type::Loop: return true;
    default: return false;
  }
}

bool same_object(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: return true;
    case Value::Type::Bool:
    case Value::Type::Int:
    case Value::Type::Float:
    case Value::Type::String: return py_equal(a, b);
    default: return a.identity() == b.identity();
  }
}

bool run_test(Interpreter& interpreter, const std::string& name, const Value& v, CallArgs& args) {
  const std::string what = "test '" + name + "'";
  auto one_arg = [&]() -> Value {
    Bound b(what, args, {"other"});
    return b.get(0);
  };
  static const std::set<std::string> kWithoutArguments = {
      "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string",
      "mapping", "iterable", "sequence", "callable", "escaped", "filter", "test", "lower", "upper", "odd", "even"};
  if (kWithoutArguments.count(name)) Bound(what, args, {});  // rejects arguments
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return is_iterable(v);
  if (name == "sequence") return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
  if (name == "callable") return v.is_callable() || v.is_undefined() || v.is_loop();
  if (name == "escaped") return false;  // no value is Markup when autoescaping is off
  if (name == "filter") return v.is_string() && is_known_filter(v.as_string());
  if (name == "test") return v.is_string() && is_known_test(v.as_string());
  if (name == "lower" || name == "upper") {
    const std::string text = py_str(v);
    bool cased = false;
    for (size_t pos = 0; pos < text.size();) {
      const char32_t c = next_code_point(text, pos);
      if (name == "lower" ? py_isupper_char(c) : py_islower_char(c)) return false;
      if (py_iscased(c)) cased = true;
    }
    return cased;
  }
  if (name == "odd" || name == "even") {
    const Value remainder = py_binary(interpreter, BinaryOp::Mod, v, Value::integer(2));
    return py_equal(remainder, Value::integer(name == "odd" ? 1 : 0));
  }
  if (name == "divisibleby") {
    Bound b(what, args, {"num"});
    return py_equal(py_binary(interpreter, BinaryOp::Mod, v, b.get(0)), Value::integer(0));
  }
  if (name == "sameas") return same_object(v, one_arg());
  if (name == "in") {
    Bound b(what, args, {"seq"});
    return interpreter.contains(b.get(0), v);
  }
  if (name == "==" || name == "eq" || name == "equalto") return py_equal(v, one_arg());
  if (name == "!=" || name == "ne") return !py_equal(v, one_arg());
  if (name == ">" || name == "gt" || name == "greaterthan") return py_less(one_arg(), v);
  if (name == "<" || name == "lt" || name == "lessthan") return py_less(v, one_arg());
  if (name == ">=" || name == "ge") {
    const Value other = one_arg();
    return py_less(other, v) || py_equal(v, other);
  }
  if (name == "<=" || name == "le") {
    const Value other = one_arg();
    return py_less(v, other) || py_equal(v, other);
  }
  raise("No test named '" + name + "'.");
}

const std::set<std::string>& test_names() {
  static const std::set<std::string> names = {
      "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean",
      "false", "true", "integer", "float", "lower", "upper", "string", "mapping", "number",
      "sequence", "iterable", "callable", "sameas", "escaped", "in", "==", "eq", "equalto", "!=",
      "ne", ">", "gt", "greaterthan", "ge", ">=", "<", "lt", "lessthan", "<=", "le"};
  return names;
}

// ---------------------------------------------------------------------------------------------
// Methods

Value dict_method(Interpreter&, const Value& object, const std::string& name, CallArgs& args) {
  const std::string what = "dict." + name + "()";
  const DictData& data = *object.dict_data();
  if (name == "items" || name == "keys" || name == "values") {
    Bound b(what, args, {});
    ValueList out;
    for (const auto& [key, value] : data.items) {
      if (name == "items") out.push_back(Value::tuple({key, value}));
      else out.push_back(name == "keys" ? key : value);
    }
    return Value::list(std::move(out));
  }
  if (name == "get") {
    Bound b(what, args, {"key", "default"});
    const Value key = b.get(0);
    if (!py_hashable(key)) raise("unhashable type: '" + type_name(key) + "'");
    if (const Value* value = data.find(key)) return *value;
    return b.get_or(1, Value::none());
  }
  if (name == "copy") {
    Bound b(what, args, {});
    return Value::dict(std::make_shared<DictData>(data));
  }
  raise("'dict' object has no attribute '" + name + "'");
}

Value sequence_method(Interpreter&, const Value& object, const std::string& name, CallArgs& args) {
  const std::string what = type_name(object) + "." + name + "()";
  const ValueList& items = object.items();
  if (name == "count") {
    Bound b(what, args, {"value"});
    const Value needle = b.get(0);
    return Value::integer(std::count_if(items.begin(), items.end(), [&](const Value& v) { return py_equal(v, needle); }));
  }
  if (name == "index") {
    Bound b(what, args, {"value", "start", "stop"});
    const Value needle = b.get(0);
    const int64_t n = static_cast<int64_t>(items.size());
    auto adjust = [&](int64_t i) { return i < 0 ? std::max<int64_t>(0, i + n) : std::min(i, n); };
    const int64_t start = adjust(b.integer(1, 0)), stop = adjust(b.integer(2, n));
    for (int64_t i = start; i < stop; ++i)
      if (py_equal(items[static_cast<size_t>(i)], needle)) return Value::integer(i);
    raise(py_repr(needle) + " is not in " + type_name(object));
  }
  if (name == "copy") {
    Bound b(what, args, {});
    return Value::list(items);
  }
  raise("'" + type_name(object) + "' object has no attribute '" + name + "'");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public entry points

bool is_known_filter(const std::string& name) { return filters().count(name) != 0; }
bool is_known_test(const std::string& name) { return test_names().count(name) != 0; }

Value apply_filter(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  const auto& table = filters();
  const auto it = table.find(name);
  if (it == table.end()) raise("No filter named '" + name + "'.");
  interpreter.step();
  return it->second(interpreter, name, input, args);
}

bool apply_test(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args) {
  if (!is_known_test(name)) raise("No test named '" + name + "'.");
  return run_test(interpreter, name, input, args);
}

MethodKind method_kind(const Value& object, const std::string& name) {
  switch (object.type()) {
    case Value::Type::String: return is_string_method(name) ? MethodKind::Safe : MethodKind::None;
    case Value::Type::Dict:
      if (name == "items" || name == "keys" || name == "values" || name == "get" || name == "copy") return MethodKind::Safe;
      if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear")
        return MethodKind::Unsafe;
      return MethodKind::None;
    case Value::Type::List:
      if (name == "index" || name == "count" || name == "copy") return MethodKind::Safe;
      if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
          name == "reverse" || name == "sort" || name == "clear")
        return MethodKind::Unsafe;
      return MethodKind::None;
    case Value::Type::Tuple:
      return (name == "index" || name == "count") ? MethodKind::Safe : MethodKind::None;
    default: return MethodKind::None;
  }
}

Value call_method(Interpreter& interpreter, const Value& object, const std::string& name, CallArgs& args) {
  switch (object.type()) {
    case Value::Type::String: return string_method(interpreter, object.as_string(), name, args);
    case Value::Type::Dict: return dict_method(interpreter, object, name, args);
    case Value::Type::List:
    case Value::Type::Tuple: return sequence_method(interpreter, object, name, args);
    default: raise("'" + type_name(object) + "' object has no attribute '" + name + "'");
  }
}

Value bound_method(const Value& object, const std::string& name) {
  return Value::function(name, [object, name](Interpreter& interpreter, CallArgs& args) {
    return call_method(interpreter, object, name, args);
  });
}

Value loop_attribute(const Value& loop_value, const std::string& name) {
  LoopData& loop = loop_value.loop_data();
  const size_t length = loop.items->size();
  const int64_t index0 = static_cast<int64_t>(loop.index);
  if (name == "index0") return Value::integer(index0);
  if (name == "index") return Value::integer(index0 + 1);
  if (name == "revindex") return Value::integer(static_cast<int64_t>(length) - index0);
  if (name == "revindex0") return Value::integer(static_cast<int64_t>(length) - index0 - 1);
  if (name == "first") return Value::boolean(loop.index == 0);
  if (name == "last") return Value::boolean(loop.index + 1 == length);
  if (name == "length") return Value::integer(static_cast<int64_t>(length));
  if (name == "depth") return Value::integer(loop.depth0 + 1);
  if (name == "depth0") return Value::integer(loop.depth0);
  if (name == "previtem") {
    if (loop.index == 0) return Value::undefined("there is no previous item");
    return (*loop.items)[loop.index - 1];
  }
  if (name == "nextitem") {
    if (loop.index + 1 >= length) return Value::undefined("there is no next item");
    return (*loop.items)[loop.index + 1];
  }
  if (name == "cycle") {
    return Value::function("cycle", [loop_value](Interpreter&, CallArgs& args) {
      if (args.positional.empty()) raise("no items for cycling given");
      const LoopData& data = loop_value.loop_data();
      return args.positional[data.index % args.positional.size()];
    });
  }
  if (name == "changed") {
    return Value::function("changed", [loop_value](Interpreter&, CallArgs& args) {
      LoopData& data = loop_value.loop_data();
      const Value current = Value::list(args.positional);
      if (data.has_last_changed && py_equal(Value::list(data.last_changed), current)) return Value::boolean(false);
      data.has_last_changed = true;
      data.last_changed = args.positional;
      return Value::boolean(true);
    });
  }
  return Value::undefined("'LoopContext object' has no attribute '" + name + "'");
}

void install_globals(Frame& frame) {
  frame.set("range", Value::function("range", [](Interpreter&, CallArgs& args) {
    if (!args.keyword.empty()) raise("range() takes no keyword arguments");
    std::vector<int64_t> bounds;
    for (const Value& arg : args.positional) {
      if (!arg.is_integral()) raise("'" + type_name(arg) + "' object cannot be interpreted as an integer");
      bounds.push_back(arg.as_int());
    }
    int64_t start = 0, stop = 0, step = 1;
    if (bounds.size() == 1) stop = bounds[0];
    else if (bounds.size() == 2) start = bounds[0], stop = bounds[1];
    else if (bounds.size() == 3) start = bounds[0], stop = bounds[1], step = bounds[2];
    else raise("range expected at most 3 arguments, got " + std::to_string(bounds.size()));
    if (step == 0) raise("range() arg 3 must not be zero");
    const double count = std::max(0.0, std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step)));
    if (count > 100000) raise("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    ValueList out;
    for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) out.push_back(Value::integer(start + i * step));
    return Value::list(std::move(out));
  }));
  auto mapping_from_args = [](Interpreter& interpreter, CallArgs& args, const char* what) {
    auto data = std::make_shared<DictData>();
    if (args.positional.size() > 1) raise(std::string(what) + " expected at most 1 argument");
    if (!args.positional.empty()) {
      const Value& source = args.positional[0];
      if (source.is_dict() || source.is_namespace()) {
        data->items = source.dict_data()->items;
      } else {
        for (const Value& pair : interpreter.iterate(source)) {
          const ValueList parts = interpreter.iterate(pair);
          if (parts.size() != 2) raise(std::string(what) + ": sequence elements must have length 2");
          if (!py_hashable(parts[0])) raise("unhashable type: '" + type_name(parts[0]) + "'");
          data->set(parts[0], parts[1]);
        }
      }
    }
    for (auto& [key, value] : args.keyword) data->set(Value::string(key), value);
    return data;
  };
  frame.set("dict", Value::function("dict", [mapping_from_args](Interpreter& interpreter, CallArgs& args) {
    return Value::dict(mapping_from_args(interpreter, args, "dict"));
  }));
  frame.set("namespace", Value::function("namespace", [mapping_from_args](Interpreter& interpreter, CallArgs& args) {
    Value ns = Value::make_namespace(mapping_from_args(interpreter, args, "namespace"));
    interpreter.track_namespace(ns);
    return ns;
  }));
  frame.set("joiner", Value::function("joiner", [](Interpreter&, CallArgs& args) {
    Bound b("joiner", args, {"sep"});
    const std::string separator = py_str(b.get_or(0, Value::string(", ")));
    auto used = std::make_shared<bool>(false);
    return Value::function("joiner", [separator, used](Interpreter&, CallArgs&) {
      if (!*used) {
        *used = true;
        return Value::string("");
      }
      return Value::string(separator);
    });
  }));
  frame.set("raise_exception", Value::function("raise_exception", [](Interpreter&, CallArgs& args) -> Value {
    Bound b("raise_exception", args, {"message"});
    throw RaisedError(py_str(b.get(0)));
  }));
  frame.set("strftime_now", Value::function("strftime_now", [](Interpreter& interpreter, CallArgs& args) {
    Bound b("strftime_now", args, {"format"});
    const Value format = b.get(0);
    if (!format.is_string()) raise("strftime() argument 1 must be str, not " + type_name(format));
    return Value::string(strftime_python(format.as_string(), interpreter.now()));
  }));
}

}  // namespace jamba::chat_template
