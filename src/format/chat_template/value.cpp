#include "format/chat_template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "format/chat_template/unicode.h"

namespace jamba::chat_template {

namespace {

// Deeper than any real chat input; stops runaway recursion on self-referencing namespaces.
constexpr int kMaxReprDepth = 200;

const ValueList kEmptyList;

std::string hex_escape(char prefix, unsigned value, int digits) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "\\%c%0*x", prefix, digits, value);
  return buffer;
}

}  // namespace

[[noreturn]] void raise(const std::string& message) { throw TemplateError(message); }

namespace {

int nesting(const Value& value) {
  switch (value.type()) {
    case Value::Type::List:
    case Value::Type::Tuple: return static_cast<const ListData*>(value.identity())->depth;
    case Value::Type::Dict: return value.dict_data()->depth;
    case Value::Type::Iterator: return value.iterator_data().depth;
    default: return 0;
  }
}

int depth_of(const ValueList& items) {
  int deepest = 0;
  for (const Value& item : items) deepest = std::max(deepest, nesting(item));
  if (deepest + 1 > kMaxContainerDepth)
    raise("data nested too deeply (more than " + std::to_string(kMaxContainerDepth) + " levels)");
  return deepest + 1;
}

}  // namespace

const Value* DictData::find(const Value& key) const {
  for (const auto& item : items)
    if (py_equal(item.first, key)) return &item.second;
  return nullptr;
}

const Value* DictData::find(const std::string& key) const {
  for (const auto& item : items)
    if (item.first.is_string() && item.first.as_string() == key) return &item.second;
  return nullptr;
}

void DictData::set(const Value& key, Value value) {
  for (auto& item : items) {
    if (py_equal(item.first, key)) {
      item.second = std::move(value);
      return;
    }
  }
  items.emplace_back(key, std::move(value));
}

Value Value::undefined(std::string message) {
  Value v;
  v.text_ = std::move(message);
  return v;
}
Value Value::none() {
  Value v;
  v.type_ = Type::None;
  return v;
}
Value Value::boolean(bool value) {
  Value v;
  v.type_ = Type::Bool;
  v.scalar_.b = value;
  return v;
}
Value Value::integer(int64_t value) {
  Value v;
  v.type_ = Type::Int;
  v.scalar_.i = value;
  return v;
}
Value Value::number(double value) {
  Value v;
  v.type_ = Type::Float;
  v.scalar_.f = value;
  return v;
}
Value Value::string(std::string value) {
  Value v;
  v.type_ = Type::String;
  v.text_ = std::move(value);
  return v;
}
Value Value::list(ValueList items) {
  Value v;
  v.type_ = Type::List;
  const int depth = depth_of(items);
  v.pointer_ = std::make_shared<ListData>(ListData{std::move(items), depth});
  return v;
}
Value Value::tuple(ValueList items) {
  Value v = list(std::move(items));
  v.type_ = Type::Tuple;
  return v;
}
Value Value::dict(std::shared_ptr<DictData> data) {
  Value v;
  v.type_ = Type::Dict;
  if (!data) data = std::make_shared<DictData>();
  int deepest = 0;
  for (const auto& [key, item] : data->items) deepest = std::max({deepest, nesting(key), nesting(item)});
  if (deepest + 1 > kMaxContainerDepth)
    raise("data nested too deeply (more than " + std::to_string(kMaxContainerDepth) + " levels)");
  data->depth = deepest + 1;
  v.pointer_ = std::move(data);
  return v;
}
Value Value::make_namespace(std::shared_ptr<DictData> data) {
  Value v;
  v.type_ = Type::Namespace;
  v.pointer_ = data ? std::move(data) : std::make_shared<DictData>();
  return v;
}
Value Value::iterator(ValueList items) {
  Value v;
  v.type_ = Type::Iterator;
  const int depth = depth_of(items);
  v.pointer_ = std::make_shared<IteratorData>(IteratorData{std::move(items), 0, depth});
  return v;
}
Value Value::function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn,
                      bool is_macro) {
  Value v;
  v.type_ = Type::Callable;
  v.pointer_ = std::make_shared<Callable>(Callable{std::move(name), std::move(fn), is_macro});
  return v;
}
Value Value::loop(std::shared_ptr<LoopData> data) {
  Value v;
  v.type_ = Type::Loop;
  v.pointer_ = std::move(data);
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& json, int depth) {
  if (depth > kMaxReprDepth) raise("input JSON is nested too deeply");
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return boolean(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return integer(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t value = json.get<uint64_t>();
      if (value <= static_cast<uint64_t>(INT64_MAX)) return integer(static_cast<int64_t>(value));
      return number(static_cast<double>(value));
    }
    case nlohmann::ordered_json::value_t::number_float: return number(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return string(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json(item, depth + 1));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto data = std::make_shared<DictData>();
      data->items.reserve(json.size());
      for (const auto& [key, item] : json.items())
        data->items.emplace_back(string(key), from_json(item, depth + 1));
      return dict(std::move(data));
    }
    default: raise("input JSON holds a value that is not JSON data (binary or discarded)");
  }
}

double Value::as_float() const {
  switch (type_) {
    case Type::Bool: return scalar_.b ? 1.0 : 0.0;
    case Type::Int: return static_cast<double>(scalar_.i);
    case Type::Float: return scalar_.f;
    default: return 0.0;
  }
}
const ValueList& Value::items() const {
  if (type_ != Type::List && type_ != Type::Tuple) return kEmptyList;
  return static_cast<const ListData*>(pointer_.get())->items;
}
std::shared_ptr<DictData> Value::dict_data() const {
  static const std::shared_ptr<DictData> kEmpty = std::make_shared<DictData>();
  if (type_ != Type::Dict && type_ != Type::Namespace) return kEmpty;
  return std::static_pointer_cast<DictData>(pointer_);
}
IteratorData& Value::iterator_data() const { return *static_cast<IteratorData*>(pointer_.get()); }
const Callable& Value::callable() const { return *static_cast<const Callable*>(pointer_.get()); }
LoopData& Value::loop_data() const { return *static_cast<LoopData*>(pointer_.get()); }

bool truthy(const Value& value) {
  switch (value.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: return false;
    case Value::Type::Bool: return value.as_bool();
    case Value::Type::Int: return value.as_int() != 0;
    case Value::Type::Float: return value.as_float() != 0.0;
    case Value::Type::String: return !value.as_string().empty();
    case Value::Type::List:
    case Value::Type::Tuple: return !value.items().empty();
    case Value::Type::Dict: return !value.dict_data()->items.empty();
    default: return true;
  }
}

std::string type_name(const Value& value) {
  switch (value.type()) {
    case Value::Type::Undefined: return "Undefined";
    case Value::Type::None: return "NoneType";
    case Value::Type::Bool: return "bool";
    case Value::Type::Int: return "int";
    case Value::Type::Float: return "float";
    case Value::Type::String: return "str";
    case Value::Type::List: return "list";
    case Value::Type::Tuple: return "tuple";
    case Value::Type::Dict: return "dict";
    case Value::Type::Namespace: return "Namespace";
    case Value::Type::Iterator: return "generator";
    case Value::Type::Callable: return value.callable().is_macro ? "Macro" : "function";
    case Value::Type::Loop: return "LoopContext";
  }
  return "object";
}

std::string object_description(const Value& value) {
  if (value.is_none()) return "None";
  return type_name(value) + " object";
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string text(buffer, result.ptr);
  std::string out;
  size_t pos = 0;
  if (text[0] == '-') {
    out += '-';
    pos = 1;
  }
  const size_t e = text.find('e');
  std::string digits;
  for (size_t i = pos; i < e; ++i)
    if (text[i] != '.') digits += text[i];
  const int exponent = std::stoi(text.substr(e + 1));
  const int point = exponent + 1;  // digits are 0.d1d2... * 10^point
  const int count = static_cast<int>(digits.size());
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0." + std::string(-point, '0') + digits;
    } else if (point >= count) {
      out += digits + std::string(point - count, '0') + ".0";
    } else {
      out += digits.substr(0, point) + "." + digits.substr(point);
    }
  } else {
    out += digits.substr(0, 1);
    if (count > 1) out += "." + digits.substr(1);
    const int shown = point - 1;
    char exp_buffer[16];
    std::snprintf(exp_buffer, sizeof exp_buffer, "e%c%02d", shown < 0 ? '-' : '+', std::abs(shown));
    out += exp_buffer;
  }
  return out;
}

std::string py_repr_string(const std::string& text) {
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = next_code_point(text, pos);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      out += hex_escape('x', c, 2);
    } else if (c < 0x7F) {
      out += static_cast<char>(c);
    } else if (!py_isprintable(c)) {
      if (c <= 0xFF) out += hex_escape('x', c, 2);
      else if (c <= 0xFFFF) out += hex_escape('u', c, 4);
      else out += hex_escape('U', c, 8);
    } else {
      append_utf8(out, c);
    }
  }
  out += quote;
  return out;
}

namespace {

std::string repr_at(const Value& value, int depth);

std::string items_repr(const ValueList& items, int depth) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += repr_at(items[i], depth + 1);
  }
  return out;
}

std::string dict_repr(const DictData& data, int depth) {
  std::string out = "{";
  for (size_t i = 0; i < data.items.size(); ++i) {
    if (i) out += ", ";
    out += repr_at(data.items[i].first, depth + 1);
    out += ": ";
    out += repr_at(data.items[i].second, depth + 1);
  }
  return out + "}";
}

std::string repr_at(const Value& value, int depth) {
  if (depth > kMaxReprDepth) raise("maximum recursion depth exceeded while getting the repr of an object");
  switch (value.type()) {
    case Value::Type::Undefined: return "Undefined";
    case Value::Type::None: return "None";
    case Value::Type::Bool: return value.as_bool() ? "True" : "False";
    case Value::Type::Int: return std::to_string(value.as_int());
    case Value::Type::Float: return float_repr(value.as_float());
    case Value::Type::String: return py_repr_string(value.as_string());
    case Value::Type::List: return "[" + items_repr(value.items(), depth) + "]";
    case Value::Type::Tuple:
      if (value.items().size() == 1) return "(" + repr_at(value.items()[0], depth + 1) + ",)";
      return "(" + items_repr(value.items(), depth) + ")";
    case Value::Type::Dict: return dict_repr(*value.dict_data(), depth);
    case Value::Type::Namespace: return "<Namespace " + dict_repr(*value.dict_data(), depth) + ">";
    case Value::Type::Iterator: return "<generator object>";
    case Value::Type::Callable:
      if (value.callable().is_macro) return "<Macro '" + value.callable().name + "'>";
      return "<function " + value.callable().name + ">";
    case Value::Type::Loop: {
      const LoopData& loop = value.loop_data();
      return "<LoopContext " + std::to_string(loop.index + 1) + "/" + std::to_string(loop.items->size()) + ">";
    }
  }
  return "<object>";
}

}  // namespace

std::string py_repr(const Value& value) { return repr_at(value, 0); }

std::string py_str(const Value& value) {
  switch (value.type()) {
    case Value::Type::Undefined: return "";
    case Value::Type::String: return value.as_string();
    default: return repr_at(value, 0);
  }
}

bool py_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() == b.as_int();
    return a.as_float() == b.as_float();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: return true;
    case Value::Type::String: return a.as_string() == b.as_string();
    case Value::Type::List:
    case Value::Type::Tuple: {
      const ValueList& x = a.items();
      const ValueList& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!py_equal(x[i], y[i])) return false;
      return true;
    }
    case Value::Type::Dict: {
      const DictData& x = *a.dict_data();
      const DictData& y = *b.dict_data();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [key, item] : x.items) {
        const Value* other = y.find(key);
        if (!other || !py_equal(item, *other)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

bool py_less(const Value& a, const Value& b) {
  if (a.is_undefined()) raise(a.as_string());
  if (b.is_undefined()) raise(b.as_string());
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int();
    return a.as_float() < b.as_float();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const ValueList& x = a.items();
    const ValueList& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!py_equal(x[i], y[i])) return py_less(x[i], y[i]);
    return x.size() < y.size();
  }
  raise("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

bool py_hashable(const Value& value) {
  switch (value.type()) {
    case Value::Type::List:
    case Value::Type::Dict: return false;
    case Value::Type::Tuple:
      for (const Value& item : value.items())
        if (!py_hashable(item)) return false;
      return true;
    default: return true;
  }
}

namespace {

void json_string(std::string& out, const std::string& text, bool ensure_ascii) {
  out += '"';
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const char32_t c = next_code_point(text, pos);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20) {
      out += hex_escape('u', c, 4);
    } else if (c < 0x80 || !ensure_ascii) {
      out.append(text, start, pos - start);
    } else if (c < 0x10000) {
      out += hex_escape('u', c, 4);
    } else {
      const char32_t v = c - 0x10000;
      out += hex_escape('u', 0xD800 + (v >> 10), 4);
      out += hex_escape('u', 0xDC00 + (v & 0x3FF), 4);
    }
  }
  out += '"';
}

std::string json_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return float_repr(value);
}

void json_value(std::string& out, const Value& value, const JsonOptions& options, int level);

void json_newline(std::string& out, const JsonOptions& options, int level) {
  out += '\n';
  for (int i = 0; i < level; ++i) out += options.indent;
}

void json_value(std::string& out, const Value& value, const JsonOptions& options, int level) {
  if (level > kMaxReprDepth) raise("Circular reference detected (or nesting too deep) in tojson");
  switch (value.type()) {
    case Value::Type::None: out += "null"; return;
    case Value::Type::Bool: out += value.as_bool() ? "true" : "false"; return;
    case Value::Type::Int: out += std::to_string(value.as_int()); return;
    case Value::Type::Float: out += json_float(value.as_float()); return;
    case Value::Type::String: json_string(out, value.as_string(), options.ensure_ascii); return;
    case Value::Type::List:
    case Value::Type::Tuple: {
      const ValueList& items = value.items();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += options.item_separator;
        if (options.has_indent) json_newline(out, options, level + 1);
        json_value(out, items[i], options, level + 1);
      }
      if (options.has_indent) json_newline(out, options, level);
      out += ']';
      return;
    }
    case Value::Type::Dict: {
      std::vector<const std::pair<Value, Value>*> items;
      for (const auto& item : value.dict_data()->items) items.push_back(&item);
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (options.sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [](const auto* x, const auto* y) { return py_less(x->first, y->first); });
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += options.item_separator;
        if (options.has_indent) json_newline(out, options, level + 1);
        const Value& key = items[i]->first;
        switch (key.type()) {
          case Value::Type::String: json_string(out, key.as_string(), options.ensure_ascii); break;
          case Value::Type::Bool: out += key.as_bool() ? "\"true\"" : "\"false\""; break;
          case Value::Type::Int: out += "\"" + std::to_string(key.as_int()) + "\""; break;
          case Value::Type::Float: out += "\"" + json_float(key.as_float()) + "\""; break;
          case Value::Type::None: out += "\"null\""; break;
          default:
            raise("keys must be str, int, float, bool or None, not " + type_name(key));
        }
        out += options.key_separator;
        json_value(out, items[i]->second, options, level + 1);
      }
      if (options.has_indent) json_newline(out, options, level);
      out += '}';
      return;
    }
    default:
      raise("Object of type " + type_name(value) + " is not JSON serializable");
  }
}

}  // namespace

std::string to_json(const Value& value, const JsonOptions& options) {
  std::string out;
  json_value(out, value, options, 0);
  return out;
}

}  // namespace jamba::chat_template
