// The values a chat template computes with, and the Python semantics Jinja gives them: truth,
// equality, ordering, str()/repr(), json.dumps. Templates see their inputs (messages, tools,
// documents) as Python sees json.loads output, so a Value is one of Python's JSON types plus the
// few objects Jinja adds: Undefined, tuples, namespaces, callables (macros, builtins, bound
// methods), loop contexts, and one-shot iterators (what map/select/... return in Jinja).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace jamba::chat_template {

// An error raised while rendering (Jinja's TemplateRuntimeError, Python's TypeError, ...). The
// interpreter fills in the line/column of the innermost node that was being evaluated.
class TemplateError : public std::runtime_error {
 public:
  explicit TemplateError(const std::string& message, int line = 0, int column = 0)
      : std::runtime_error(message), line(line), column(column) {}
  int line;
  int column;
};

// raise_exception("...") called by the template itself.
class RaisedError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

[[noreturn]] void raise(const std::string& message);

class Value;
class Interpreter;
using ValueList = std::vector<Value>;

// Containers record how deeply they nest (1 + the deepest container inside). Templates can
// build nested data in a loop; capping the depth keeps the recursive comparisons, printing and
// destruction of such data within the stack.
constexpr int kMaxContainerDepth = 500;

struct ListData {
  ValueList items;
  int depth = 1;
};

// A Python dict: keys in insertion order (json.loads and templates rely on it).
struct DictData {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
};

// Generators are truthy even when empty, have no len(), and are used up by one pass.
struct IteratorData {
  ValueList items;
  size_t position = 0;
  int depth = 1;
};

struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Callable {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> call;
  bool is_macro = false;
};

// Jinja's LoopContext: one per for-loop, advanced in place (a captured `loop` sees it move).
struct LoopData {
  std::shared_ptr<const ValueList> items;
  size_t index = 0;  // index0 of the current item
  int depth0 = 0;
  bool has_last_changed = false;
  ValueList last_changed;
};

class Value {
 public:
  enum class Type : uint8_t {
    Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Iterator, Callable, Loop
  };

  Value() = default;  // Undefined
  static Value undefined(std::string message = {});
  static Value none();
  static Value boolean(bool value);
  static Value integer(int64_t value);
  static Value number(double value);
  static Value string(std::string value);
  static Value list(ValueList items = {});
  static Value tuple(ValueList items = {});
  static Value dict(std::shared_ptr<DictData> data = nullptr);
  static Value make_namespace(std::shared_ptr<DictData> data);
  static Value iterator(ValueList items);
  static Value function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn,
                        bool is_macro = false);
  static Value loop(std::shared_ptr<LoopData> data);
  static Value from_json(const nlohmann::ordered_json& json, int depth = 0);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::Undefined; }
  bool is_none() const { return type_ == Type::None; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }
  bool is_float() const { return type_ == Type::Float; }
  bool is_number() const { return type_ == Type::Bool || type_ == Type::Int || type_ == Type::Float; }
  bool is_integral() const { return type_ == Type::Bool || type_ == Type::Int; }  // Python int
  bool is_string() const { return type_ == Type::String; }
  bool is_list() const { return type_ == Type::List; }
  bool is_tuple() const { return type_ == Type::Tuple; }
  bool is_sequence() const { return type_ == Type::List || type_ == Type::Tuple; }
  bool is_dict() const { return type_ == Type::Dict; }
  bool is_namespace() const { return type_ == Type::Namespace; }
  bool is_iterator() const { return type_ == Type::Iterator; }
  bool is_callable() const { return type_ == Type::Callable; }
  bool is_loop() const { return type_ == Type::Loop; }

  bool as_bool() const { return scalar_.b; }
  int64_t as_int() const { return type_ == Type::Bool ? (scalar_.b ? 1 : 0) : scalar_.i; }
  double as_float() const;  // any number
  const std::string& as_string() const { return text_; }  // String; Undefined: its message
  const ValueList& items() const;                         // List, Tuple
  std::shared_ptr<DictData> dict_data() const;  // Dict, Namespace (an empty dict otherwise)
  IteratorData& iterator_data() const;
  const Callable& callable() const;
  LoopData& loop_data() const;
  const void* identity() const { return pointer_.get(); }

 private:
  Type type_ = Type::Undefined;
  union {
    bool b;
    int64_t i;
    double f;
  } scalar_{};
  std::string text_;
  std::shared_ptr<void> pointer_;
};

// Python's bool(value); Undefined is false.
bool truthy(const Value& value);
// Python's type(value).__name__ ('str', 'int', 'dict', 'NoneType', ...).
std::string type_name(const Value& value);
// Jinja's object_type_repr: "'dict object'" style names used in undefined messages.
std::string object_description(const Value& value);

// str(value) as Jinja prints it ({{ value }}); Undefined prints as "".
std::string py_str(const Value& value);
// repr(value).
std::string py_repr(const Value& value);
std::string py_repr_string(const std::string& text);
std::string float_repr(double value);

// Python ==, and <-style ordering (throws a TypeError-like TemplateError on unorderable types).
bool py_equal(const Value& a, const Value& b);
bool py_less(const Value& a, const Value& b);
// The value is hashable (may be a dict key / set member).
bool py_hashable(const Value& value);

struct JsonOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;  // the per-level indent when has_indent
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
// json.dumps(value, ...) as Python writes it.
std::string to_json(const Value& value, const JsonOptions& options);

}  // namespace jamba::chat_template
