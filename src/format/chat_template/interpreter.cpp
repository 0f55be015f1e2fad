#include "format/chat_template/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "format/chat_template/builtins.h"
#include "format/chat_template/unicode.h"

namespace jamba::chat_template {

Value* Frame::find_local(const std::string& name) {
  for (auto& var : vars)
    if (var.first == name) return &var.second;
  return nullptr;
}

void Frame::set(const std::string& name, Value value) {
  if (Value* existing = find_local(name)) {
    *existing = std::move(value);
    return;
  }
  vars.emplace_back(name, std::move(value));
}

Interpreter::Interpreter(const Template& tmpl, RenderLimits limits, std::optional<std::time_t> fixed_now)
    : template_(tmpl), limits_(limits), fixed_now_(fixed_now) {}

Interpreter::~Interpreter() {
  // Macros hold the frame they were defined in, and that frame holds them; namespaces can hold
  // themselves. Emptying both frees the cycles.
  for (auto& frame : captured_frames_) frame->vars.clear();
  for (auto& ns : namespaces_) ns.dict_data()->items.clear();
}

std::string Interpreter::render(const std::vector<std::pair<std::string, Value>>& context) {
  auto globals = std::make_shared<Frame>();
  install_globals(*globals);
  auto root = new_frame(globals);
  for (const auto& [name, value] : context) root->set(name, value);
  std::string out;
  exec(template_.body, root, out);
  return out;
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    raise("a string of " + std::to_string(bytes) + " bytes is over the limit of " +
          std::to_string(limits_.max_output_bytes) + " bytes");
}

void Interpreter::check_items(size_t count) const {
  if (count > limits_.max_list_items)
    raise("a list of " + std::to_string(count) + " items is over the limit of " +
          std::to_string(limits_.max_list_items));
}

void Interpreter::step() {
  if (++steps_ > limits_.max_steps)
    raise("rendering took more than " + std::to_string(limits_.max_steps) +
          " steps (an unbounded loop?)");
}

std::time_t Interpreter::now() const { return fixed_now_ ? *fixed_now_ : std::time(nullptr); }

FramePtr Interpreter::new_frame(const FramePtr& parent) {
  auto frame = std::make_shared<Frame>();
  frame->parent = parent;
  return frame;
}

Value Interpreter::lookup(const std::string& name, const FramePtr& frame) {
  for (Frame* f = frame.get(); f; f = f->parent.get())
    if (Value* value = f->find_local(name)) return *value;
  return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::emit(std::string& out, const std::string& text) const {
  check_size(out.size() + text.size());
  out += text;
}

// ---------------------------------------------------------------------------------------------
// Attribute and item access, iteration, calls

Value Interpreter::getattr(const Value& object, const std::string& name) {
  if (object.is_undefined()) raise(object.as_string());
  if (object.is_loop()) return loop_attribute(object, name);
  if (object.is_namespace()) {
    if (const Value* value = object.dict_data()->find(name)) return *value;
    return Value::undefined("'Namespace object' has no attribute '" + name + "'");
  }
  switch (method_kind(object, name)) {
    case MethodKind::Safe: return bound_method(object, name);
    case MethodKind::Unsafe:
      return Value::undefined("access to attribute '" + name + "' of '" + type_name(object) +
                              "' object is unsafe.");
    case MethodKind::None: break;
  }
  if (object.is_dict()) {
    if (const Value* value = object.dict_data()->find(name)) return *value;
  }
  return Value::undefined("'" + object_description(object) + "' has no attribute '" + name + "'");
}

namespace {

std::string element_message(const Value& object, const Value& key) {
  return object_description(object) + " has no element " + py_repr(key);
}

// Python's index normalisation: negative counts from the end; nullopt when out of range.
std::optional<size_t> normalise_index(int64_t index, size_t size) {
  if (index < 0) index += static_cast<int64_t>(size);
  if (index < 0 || index >= static_cast<int64_t>(size)) return std::nullopt;
  return static_cast<size_t>(index);
}

}  // namespace

Value Interpreter::getitem(const Value& object, const Value& key) {
  if (object.is_undefined()) raise(object.as_string());
  if (object.is_sequence() && key.is_integral()) {
    const ValueList& items = object.items();
    if (auto index = normalise_index(key.as_int(), items.size())) return items[*index];
    return Value::undefined(element_message(object, key));
  }
  if (object.is_string() && key.is_integral()) {
    const std::u32string text = to_u32(object.as_string());
    if (auto index = normalise_index(key.as_int(), text.size()))
      return Value::string(to_utf8(text.substr(*index, 1)));
    return Value::undefined(element_message(object, key));
  }
  if (object.is_dict() && py_hashable(key)) {
    if (const Value* value = object.dict_data()->find(key)) return *value;
  }
  if (key.is_string()) {
    // Jinja falls back to the attribute of that name (methods, namespace members, loop.*).
    if (object.is_namespace() || object.is_loop() || method_kind(object, key.as_string()) != MethodKind::None)
      return getattr(object, key.as_string());
    return Value::undefined("'" + object_description(object) + "' has no attribute '" + key.as_string() + "'");
  }
  return Value::undefined(element_message(object, key));
}

ValueList Interpreter::iterate(const Value& value) {
  switch (value.type()) {
    case Value::Type::Undefined: return {};
    case Value::Type::List:
    case Value::Type::Tuple: return value.items();
    case Value::Type::Dict: {
      ValueList keys;
      for (const auto& item : value.dict_data()->items) keys.push_back(item.first);
      return keys;
    }
    case Value::Type::String: {
      ValueList chars;
      const std::string& text = value.as_string();
      for (size_t pos = 0; pos < text.size();) {
        const size_t start = pos;
        next_code_point(text, pos);
        chars.push_back(Value::string(text.substr(start, pos - start)));
      }
      return chars;
    }
    case Value::Type::Iterator: {
      IteratorData& data = value.iterator_data();
      ValueList rest(data.items.begin() + static_cast<std::ptrdiff_t>(data.position), data.items.end());
      data.position = data.items.size();
      return rest;
    }
    default: raise("'" + type_name(value) + "' object is not iterable");
  }
}

bool Interpreter::contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::String:
      if (!item.is_string())
        raise("'in <string>' requires string as left operand, not " + type_name(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::List:
    case Value::Type::Tuple:
      for (const Value& element : container.items())
        if (py_equal(element, item)) return true;
      return false;
    case Value::Type::Dict:
      if (!py_hashable(item)) raise("unhashable type: '" + type_name(item) + "'");
      return container.dict_data()->find(item) != nullptr;
    case Value::Type::Iterator: {
      IteratorData& data = container.iterator_data();
      while (data.position < data.items.size())
        if (py_equal(data.items[data.position++], item)) return true;
      return false;
    }
    case Value::Type::Undefined: return false;
    default: raise("argument of type '" + type_name(container) + "' is not iterable");
  }
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) {
    step();
    return callee.callable().call(*this, args);
  }
  if (callee.is_undefined()) raise(callee.as_string());
  raise("'" + type_name(callee) + "' object is not callable");
}

Value Interpreter::call_filter(const std::string& name, const Value& input, CallArgs& args) {
  return apply_filter(*this, name, input, args);
}

bool Interpreter::call_test(const std::string& name, const Value& input, CallArgs& args) {
  return apply_test(*this, name, input, args);
}

// ---------------------------------------------------------------------------------------------
// Assignment

void Interpreter::assign(const Expr& target, const Value& value, const FramePtr& frame) {
  switch (target.kind) {
    case ExprKind::Name: frame->set(target.name, value); return;
    case ExprKind::NSRef: {
      Value ns = lookup(target.ns_name, frame);
      if (!ns.is_namespace()) raise("cannot assign attribute on non-namespace object");
      ns.dict_data()->set(Value::string(target.name), value);
      return;
    }
    case ExprKind::Tuple: {
      ValueList items = iterate(value);
      const size_t expected = target.args.size();
      if (items.size() > expected)
        raise("too many values to unpack (expected " + std::to_string(expected) + ")");
      if (items.size() < expected)
        raise("not enough values to unpack (expected " + std::to_string(expected) + ", got " +
              std::to_string(items.size()) + ")");
      for (size_t i = 0; i < expected; ++i) assign(*target.args[i], items[i], frame);
      return;
    }
    default: raise("cannot assign to this expression");
  }
}

// ---------------------------------------------------------------------------------------------
// Expressions

namespace {
// Counts nested eval/exec activations, so that no combination of deep expressions, nested
// blocks and macro recursion can exhaust the C++ stack.
struct NativeDepth {
  NativeDepth(int& depth, int limit) : depth_(depth) {
    if (++depth_ > limit) {
      --depth_;
      raise("template evaluation nested too deeply");
    }
  }
  ~NativeDepth() { --depth_; }
  int& depth_;
};
constexpr int kMaxNativeDepth = 2000;
}  // namespace

Value Interpreter::eval(const Expr& expr, const FramePtr& frame) {
  try {
    NativeDepth guard(native_depth_, kMaxNativeDepth);
    return eval_inner(expr, frame);
  } catch (TemplateError& error) {
    if (error.line == 0) {
      error.line = expr.line;
      error.column = expr.column;
    }
    throw;
  }
}

void Interpreter::eval_args(const Expr& expr, const FramePtr& frame, CallArgs& args) {
  for (const auto& arg : expr.args) args.positional.push_back(eval(*arg, frame));
  for (const auto& [name, arg] : expr.kwargs) args.keyword.emplace_back(name, eval(*arg, frame));
  if (expr.dyn_args) {
    for (Value& item : iterate(eval(*expr.dyn_args, frame))) args.positional.push_back(std::move(item));
  }
  if (expr.dyn_kwargs) {
    const Value mapping = eval(*expr.dyn_kwargs, frame);
    if (!mapping.is_dict()) raise("argument after ** must be a mapping, not " + type_name(mapping));
    for (const auto& [key, item] : mapping.dict_data()->items) {
      if (!key.is_string()) raise("keywords must be strings");
      args.keyword.emplace_back(key.as_string(), item);
    }
  }
}

Value Interpreter::eval_call(const Expr& expr, const FramePtr& frame) {
  const Expr& callee = *expr.object;
  if (callee.kind == ExprKind::Getattr) {
    // object.method(...): dispatch directly instead of building a bound method.
    Value object = eval(*callee.object, frame);
    if (!object.is_undefined() && !object.is_namespace() && !object.is_loop() &&
        method_kind(object, callee.name) == MethodKind::Safe) {
      CallArgs args;
      eval_args(expr, frame, args);
      step();
      return call_method(*this, object, callee.name, args);
    }
    Value function = getattr(object, callee.name);
    CallArgs args;
    eval_args(expr, frame, args);
    return call(function, args);
  }
  Value function = eval(callee, frame);
  CallArgs args;
  eval_args(expr, frame, args);
  return call(function, args);
}

namespace {

// Python's slice.indices(): the positions a[start:stop:step] visits.
std::vector<size_t> slice_positions(size_t size, std::optional<int64_t> start_arg,
                                    std::optional<int64_t> stop_arg, int64_t step) {
  if (step == 0) raise("slice step cannot be zero");
  const int64_t n = static_cast<int64_t>(size);
  auto clamp = [&](std::optional<int64_t> value, int64_t default_value) {
    if (!value) return default_value;
    int64_t v = *value;
    if (v < 0) {
      v += n;
      if (v < 0) v = step < 0 ? -1 : 0;
    } else if (v >= n) {
      v = step < 0 ? n - 1 : n;
    }
    return v;
  };
  const int64_t start = clamp(start_arg, step < 0 ? n - 1 : 0);
  const int64_t stop = clamp(stop_arg, step < 0 ? -1 : n);
  std::vector<size_t> positions;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) positions.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = start; i > stop; i += step) positions.push_back(static_cast<size_t>(i));
  }
  return positions;
}

}  // namespace

Value Interpreter::eval_slice(const Value& object, const Expr& slice, const FramePtr& frame) {
  // Jinja compiles slices to plain Python subscripts (they bypass environment.getitem), so bad
  // slices raise instead of producing Undefined.
  auto bound = [&](const ExprPtr& part) -> std::optional<int64_t> {
    if (!part) return std::nullopt;
    const Value value = eval(*part, frame);
    if (value.is_none()) return std::nullopt;
    if (!value.is_integral()) raise("slice indices must be integers or None or have an __index__ method");
    return value.as_int();
  };
  if (object.is_undefined()) raise(object.as_string());
  if (object.is_dict()) raise("unhashable type: 'slice'");
  if (!(object.is_sequence() || object.is_string())) raise("'" + type_name(object) + "' object is not subscriptable");
  const auto start = bound(slice.object);
  const auto stop = bound(slice.second);
  const auto step = bound(slice.third);
  if (object.is_string()) {
    const std::u32string text = to_u32(object.as_string());
    std::u32string out;
    for (size_t i : slice_positions(text.size(), start, stop, step.value_or(1))) out += text[i];
    return Value::string(to_utf8(out));
  }
  const ValueList& items = object.items();
  ValueList out;
  for (size_t i : slice_positions(items.size(), start, stop, step.value_or(1))) out.push_back(items[i]);
  return object.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Value Interpreter::apply_filter_chain(const Expr& filter, const FramePtr& frame, const Value& input) {
  NativeDepth guard(native_depth_, kMaxNativeDepth);
  Value operand;
  if (!filter.object) operand = input;
  else if (filter.object->kind == ExprKind::Filter) operand = apply_filter_chain(*filter.object, frame, input);
  else operand = eval(*filter.object, frame);
  CallArgs args;
  eval_args(filter, frame, args);
  try {
    return apply_filter(*this, filter.name, operand, args);
  } catch (TemplateError& error) {
    if (error.line == 0) {
      error.line = filter.line;
      error.column = filter.column;
    }
    throw;
  }
}

Value Interpreter::eval_inner(const Expr& expr, const FramePtr& frame) {
  switch (expr.kind) {
    case ExprKind::Const: return expr.constant;
    case ExprKind::Name: return lookup(expr.name, frame);
    case ExprKind::List:
    case ExprKind::Tuple: {
      ValueList items;
      items.reserve(expr.args.size());
      for (const auto& item : expr.args) items.push_back(eval(*item, frame));
      return expr.kind == ExprKind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::Dict: {
      auto data = std::make_shared<DictData>();
      for (size_t i = 0; i + 1 < expr.args.size(); i += 2) {
        Value key = eval(*expr.args[i], frame);
        if (!py_hashable(key)) raise("unhashable type: '" + type_name(key) + "'");
        data->set(key, eval(*expr.args[i + 1], frame));
      }
      return Value::dict(std::move(data));
    }
    case ExprKind::Getattr: return getattr(eval(*expr.object, frame), expr.name);
    case ExprKind::Getitem: {
      Value object = eval(*expr.object, frame);
      if (expr.second->kind == ExprKind::Slice) return eval_slice(object, *expr.second, frame);
      return getitem(object, eval(*expr.second, frame));
    }
    case ExprKind::Slice: raise("a slice is only valid inside []");
    case ExprKind::Call: return eval_call(expr, frame);
    case ExprKind::Filter: {
      // Filters nest as Filter(Filter(x)); only the innermost one evaluates an operand.
      return apply_filter_chain(expr, frame, Value());
    }
    case ExprKind::Test: {
      Value operand = eval(*expr.object, frame);
      CallArgs args;
      eval_args(expr, frame, args);
      return Value::boolean(apply_test(*this, expr.name, operand, args));
    }
    case ExprKind::Not: return Value::boolean(!truthy(eval(*expr.object, frame)));
    case ExprKind::Neg:
    case ExprKind::Pos: {
      const Value operand = eval(*expr.object, frame);
      const char* sign = expr.kind == ExprKind::Neg ? "-" : "+";
      if (operand.is_undefined()) raise(operand.as_string());
      if (operand.is_float())
        return Value::number(expr.kind == ExprKind::Neg ? -operand.as_float() : operand.as_float());
      if (operand.is_integral()) {
        const int64_t value = operand.as_int();
        if (expr.kind == ExprKind::Pos) return Value::integer(value);
        if (value == std::numeric_limits<int64_t>::min()) raise("integer overflow");
        return Value::integer(-value);
      }
      raise(std::string("bad operand type for unary ") + sign + ": '" + type_name(operand) + "'");
    }
    case ExprKind::Binary:
      return py_binary(*this, expr.op, eval(*expr.object, frame), eval(*expr.second, frame));
    case ExprKind::And: {
      Value left = eval(*expr.object, frame);
      if (!truthy(left)) return left;
      return eval(*expr.second, frame);
    }
    case ExprKind::Or: {
      Value left = eval(*expr.object, frame);
      if (truthy(left)) return left;
      return eval(*expr.second, frame);
    }
    case ExprKind::Concat: {
      std::string out;
      for (const auto& part : expr.args) {
        out += py_str(eval(*part, frame));
        check_size(out.size());
      }
      return Value::string(std::move(out));
    }
    case ExprKind::Compare: {
      Value left = eval(*expr.object, frame);
      for (size_t i = 0; i < expr.args.size(); ++i) {
        Value right = eval(*expr.args[i], frame);
        bool result = false;
        switch (expr.compare_ops[i]) {
          case CompareOp::Eq: result = py_equal(left, right); break;
          case CompareOp::Ne: result = !py_equal(left, right); break;
          case CompareOp::Lt: result = py_less(left, right); break;
          case CompareOp::Gt: result = py_less(right, left); break;
          case CompareOp::Le:
            result = (left.is_undefined() || right.is_undefined()) ? py_less(left, right)
                                                                  : (py_less(left, right) || py_equal(left, right));
            break;
          case CompareOp::Ge:
            result = (left.is_undefined() || right.is_undefined()) ? py_less(right, left)
                                                                  : (py_less(right, left) || py_equal(left, right));
            break;
          case CompareOp::In: result = contains(right, left); break;
          case CompareOp::NotIn: result = !contains(right, left); break;
        }
        if (!result) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::CondExpr: {
      if (truthy(eval(*expr.object, frame))) return eval(*expr.second, frame);
      if (expr.third) return eval(*expr.third, frame);
      return Value::undefined("the inline if-expression on line " + std::to_string(expr.line) +
                              " evaluated to false and no else section was defined.");
    }
    case ExprKind::NSRef: raise("a namespace reference is only valid as an assignment target");
  }
  raise("unknown expression");
}

// ---------------------------------------------------------------------------------------------
// Macros

Value Interpreter::make_macro(const Stmt& definition, const FramePtr& closure) {
  captured_frames_.push_back(closure);
  const Stmt* def = &definition;
  FramePtr scope = closure;
  const std::string name = definition.kind == StmtKind::CallBlock ? "caller" : definition.name;
  return Value::function(
      name, [def, scope](Interpreter& interpreter, CallArgs& args) { return interpreter.invoke_macro(*def, scope, args); },
      true);
}

Value Interpreter::invoke_macro(const Stmt& def, const FramePtr& closure, CallArgs& args) {
  const std::string name = def.kind == StmtKind::CallBlock ? "caller" : def.name;
  if (call_depth_ >= limits_.max_call_depth)
    raise("macro calls nested deeper than " + std::to_string(limits_.max_call_depth) +
          " (unbounded recursion?)");
  struct DepthGuard {
    explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
    ~DepthGuard() { --depth_; }
    int& depth_;
  } guard(call_depth_);

  auto frame = new_frame(closure);
  const size_t param_count = def.params.size();
  const size_t positional = std::min(param_count, args.positional.size());
  std::vector<bool> provided(param_count, false);
  for (size_t i = 0; i < positional; ++i) {
    frame->set(def.params[i], args.positional[i]);
    provided[i] = true;
  }
  auto take_keyword = [&](const std::string& key, Value* out) {
    for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it) {
      if (it->first == key) {
        *out = std::move(it->second);
        args.keyword.erase(it);
        return true;
      }
    }
    return false;
  };
  bool found_caller = false;
  for (size_t i = positional; i < param_count; ++i) {
    Value value;
    if (take_keyword(def.params[i], &value)) {
      frame->set(def.params[i], std::move(value));
      provided[i] = true;
    }
    if (def.params[i] == "caller") found_caller = true;
  }
  for (size_t i = positional; i < param_count; ++i) {
    if (provided[i]) continue;
    if (def.defaults[i]) {
      frame->set(def.params[i], eval(*def.defaults[i], frame));
    } else {
      frame->set(def.params[i], Value::undefined("parameter '" + def.params[i] + "' was not provided"));
    }
  }
  if (def.uses_caller && !found_caller) {
    Value caller;
    if (!take_keyword("caller", &caller)) caller = Value::undefined("No caller defined");
    frame->set("caller", std::move(caller));
  }
  if (def.uses_kwargs) {
    auto data = std::make_shared<DictData>();
    for (auto& [key, value] : args.keyword) data->items.emplace_back(Value::string(key), std::move(value));
    frame->set("kwargs", Value::dict(std::move(data)));
  } else if (!args.keyword.empty()) {
    if (args.keyword.front().first == "caller" ||
        std::any_of(args.keyword.begin(), args.keyword.end(), [](const auto& kw) { return kw.first == "caller"; }))
      raise("macro '" + name + "' was invoked with two values for the special caller argument");
    raise("macro '" + name + "' takes no keyword argument '" + args.keyword.front().first + "'");
  }
  if (def.uses_varargs) {
    ValueList extra;
    for (size_t i = param_count; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    frame->set("varargs", Value::tuple(std::move(extra)));
  } else if (args.positional.size() > param_count) {
    raise("macro '" + name + "' takes not more than " + std::to_string(param_count) + " argument(s)");
  }
  std::string out;
  exec(def.bodies[0], frame, out);
  return Value::string(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Statements

Interpreter::Flow Interpreter::exec(const Body& body, const FramePtr& frame, std::string& out) {
  for (const auto& stmt : body) {
    const Flow flow = exec_stmt(*stmt, frame, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& stmt, const FramePtr& frame, std::string& out) {
  ValueList items = iterate(eval(*stmt.value, frame));
  if (stmt.condition) {
    ValueList kept;
    for (Value& item : items) {
      step();
      auto scope = new_frame(frame);
      assign(*stmt.targets[0], item, scope);
      if (truthy(eval(*stmt.condition, scope))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  // Jinja runs the else block unless some iteration ran its body to the end: an iteration left
  // by break or continue does not count.
  bool completed_iteration = false;
  if (!items.empty()) {
    auto loop = std::make_shared<LoopData>();
    loop->items = std::make_shared<const ValueList>(std::move(items));
    const Value loop_value = Value::loop(loop);
    for (size_t i = 0; i < loop->items->size(); ++i) {
      step();
      loop->index = i;
      auto scope = new_frame(frame);
      scope->set("loop", loop_value);
      assign(*stmt.targets[0], (*loop->items)[i], scope);
      const Flow flow = exec(stmt.bodies[0], scope, out);
      if (flow == Flow::Normal) completed_iteration = true;
      if (flow == Flow::Break) break;
    }
  }
  if (stmt.has_else && !completed_iteration) return exec(stmt.bodies[1], new_frame(frame), out);
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& stmt, const FramePtr& frame, std::string& out) {
  try {
    NativeDepth guard(native_depth_, kMaxNativeDepth);
    step();
    switch (stmt.kind) {
      case StmtKind::Text: emit(out, stmt.text); return Flow::Normal;
      case StmtKind::Output:
        for (const auto& expr : stmt.exprs) emit(out, py_str(eval(*expr, frame)));
        return Flow::Normal;
      case StmtKind::If:
        for (size_t i = 0; i < stmt.exprs.size(); ++i)
          if (truthy(eval(*stmt.exprs[i], frame))) return exec(stmt.bodies[i], frame, out);
        if (stmt.has_else) return exec(stmt.bodies.back(), frame, out);
        return Flow::Normal;
      case StmtKind::For: return exec_for(stmt, frame, out);
      case StmtKind::Set: assign(*stmt.targets[0], eval(*stmt.value, frame), frame); return Flow::Normal;
      case StmtKind::SetBlock: {
        std::string body;
        exec(stmt.bodies[0], new_frame(frame), body);
        Value value = Value::string(std::move(body));
        if (stmt.value) value = apply_filter_chain(*stmt.value, frame, value);
        assign(*stmt.targets[0], value, frame);
        return Flow::Normal;
      }
      case StmtKind::Macro: frame->set(stmt.name, make_macro(stmt, frame)); return Flow::Normal;
      case StmtKind::CallBlock: {
        const Expr& call_expr = *stmt.value;
        Value function = eval(*call_expr.object, frame);
        CallArgs args;
        eval_args(call_expr, frame, args);
        args.keyword.emplace_back("caller", make_macro(stmt, frame));
        emit(out, py_str(call(function, args)));
        return Flow::Normal;
      }
      case StmtKind::FilterBlock: {
        std::string body;
        exec(stmt.bodies[0], new_frame(frame), body);
        emit(out, py_str(apply_filter_chain(*stmt.value, frame, Value::string(std::move(body)))));
        return Flow::Normal;
      }
      case StmtKind::With: {
        auto scope = new_frame(frame);
        std::vector<Value> values;
        for (const auto& expr : stmt.exprs) values.push_back(eval(*expr, frame));
        for (size_t i = 0; i < values.size(); ++i) assign(*stmt.targets[i], values[i], scope);
        return exec(stmt.bodies[0], scope, out);
      }
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
      case StmtKind::Scope: {
        const Flow flow = exec(stmt.bodies[0], new_frame(frame), out);
        return flow;
      }
    }
  } catch (TemplateError& error) {
    if (error.line == 0) {
      error.line = stmt.line;
      error.column = stmt.column;
    }
    throw;
  }
  return Flow::Normal;
}

// ---------------------------------------------------------------------------------------------
// Python operators

namespace {

[[noreturn]] void unsupported(const char* op, const Value& left, const Value& right) {
  raise(std::string("unsupported operand type(s) for ") + op + ": '" + type_name(left) + "' and '" +
        type_name(right) + "'");
}

void check_overflow(bool overflow) {
  if (overflow) raise("integer overflow (jamba.cpp's templates use 64-bit integers)");
}

Value repeat(Interpreter& interpreter, const Value& sequence, int64_t times) {
  if (times <= 0) {
    if (sequence.is_string()) return Value::string("");
    return sequence.is_tuple() ? Value::tuple() : Value::list();
  }
  if (sequence.is_string()) {
    const std::string& text = sequence.as_string();
    interpreter.check_size(text.size() * static_cast<size_t>(std::min<int64_t>(times, INT32_MAX)));
    std::string out;
    out.reserve(text.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += text;
    return Value::string(std::move(out));
  }
  const ValueList& items = sequence.items();
  interpreter.check_items(items.size() * static_cast<size_t>(std::min<int64_t>(times, INT32_MAX)));
  ValueList out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return sequence.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

double python_fmod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

}  // namespace

Value py_binary(Interpreter& interpreter, BinaryOp op, const Value& left, const Value& right) {
  if (left.is_undefined()) raise(left.as_string());
  if (right.is_undefined()) raise(right.as_string());
  const bool integral = left.is_integral() && right.is_integral();
  const bool numeric = left.is_number() && right.is_number();
  switch (op) {
    case BinaryOp::Add: {
      if (integral) {
        int64_t out = 0;
        check_overflow(__builtin_add_overflow(left.as_int(), right.as_int(), &out));
        return Value::integer(out);
      }
      if (numeric) return Value::number(left.as_float() + right.as_float());
      if (left.is_string() && right.is_string()) {
        interpreter.check_size(left.as_string().size() + right.as_string().size());
        return Value::string(left.as_string() + right.as_string());
      }
      if ((left.is_list() && right.is_list()) || (left.is_tuple() && right.is_tuple())) {
        ValueList items = left.items();
        interpreter.check_items(items.size() + right.items().size());
        items.insert(items.end(), right.items().begin(), right.items().end());
        return left.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
      }
      if (left.is_string() || left.is_list() || left.is_tuple())
        raise("can only concatenate " + type_name(left) + " (not \"" + type_name(right) + "\") to " + type_name(left));
      unsupported("+", left, right);
    }
    case BinaryOp::Sub: {
      if (integral) {
        int64_t out = 0;
        check_overflow(__builtin_sub_overflow(left.as_int(), right.as_int(), &out));
        return Value::integer(out);
      }
      if (numeric) return Value::number(left.as_float() - right.as_float());
      unsupported("-", left, right);
    }
    case BinaryOp::Mul: {
      if (integral) {
        int64_t out = 0;
        check_overflow(__builtin_mul_overflow(left.as_int(), right.as_int(), &out));
        return Value::integer(out);
      }
      if (numeric) return Value::number(left.as_float() * right.as_float());
      if ((left.is_string() || left.is_sequence()) && right.is_integral())
        return repeat(interpreter, left, right.as_int());
      if (left.is_integral() && (right.is_string() || right.is_sequence()))
        return repeat(interpreter, right, left.as_int());
      if (left.is_string() || left.is_sequence() || right.is_string() || right.is_sequence())
        raise("can't multiply sequence by non-int of type '" +
              type_name(left.is_string() || left.is_sequence() ? right : left) + "'");
      unsupported("*", left, right);
    }
    case BinaryOp::Div: {
      if (!numeric) unsupported("/", left, right);
      if (right.as_float() == 0.0) raise("division by zero");
      return Value::number(left.as_float() / right.as_float());
    }
    case BinaryOp::FloorDiv: {
      if (integral) {
        const int64_t a = left.as_int(), b = right.as_int();
        if (b == 0) raise("integer division or modulo by zero");
        if (a == std::numeric_limits<int64_t>::min() && b == -1) raise("integer overflow");
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
        return Value::integer(q);
      }
      if (!numeric) unsupported("//", left, right);
      if (right.as_float() == 0.0) raise("float floor division by zero");
      const double a = left.as_float(), b = right.as_float();
      return Value::number(std::floor((a - python_fmod(a, b)) / b + 0.0));
    }
    case BinaryOp::Mod: {
      if (left.is_string()) return Value::string(py_percent_format(interpreter, left.as_string(), right));
      if (integral) {
        const int64_t a = left.as_int(), b = right.as_int();
        if (b == 0) raise("integer division or modulo by zero");
        if (b == -1) return Value::integer(0);
        int64_t m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) m += b;
        return Value::integer(m);
      }
      if (!numeric) unsupported("%", left, right);
      if (right.as_float() == 0.0) raise("float modulo");
      return Value::number(python_fmod(left.as_float(), right.as_float()));
    }
    case BinaryOp::Pow: {
      if (integral && right.as_int() >= 0) {
        int64_t base = left.as_int(), exponent = right.as_int(), result = 1;
        while (exponent > 0) {
          if (exponent & 1) check_overflow(__builtin_mul_overflow(result, base, &result));
          exponent >>= 1;
          if (exponent) check_overflow(__builtin_mul_overflow(base, base, &base));
        }
        return Value::integer(result);
      }
      if (!numeric) unsupported("** or pow()", left, right);
      if (left.as_float() == 0.0 && right.as_float() < 0)
        raise("0.0 cannot be raised to a negative power");
      return Value::number(std::pow(left.as_float(), right.as_float()));
    }
  }
  raise("unknown operator");
}

}  // namespace jamba::chat_template
