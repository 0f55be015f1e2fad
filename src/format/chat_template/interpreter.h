// Renders a parsed template: Jinja2's runtime semantics (scoping, loops, macros, undefined
// values) inside Hugging Face's environment (ImmutableSandboxedEnvironment, loopcontrols,
// raise_exception, strftime_now, tojson without HTML escaping), with limits so that no template
// can run forever, recurse without bound or grow its output without bound.
#pragma once
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format/chat_template/ast.h"

namespace jamba::chat_template {

struct RenderLimits {
  size_t max_output_bytes = size_t{64} << 20;  // also caps every intermediate string
  uint64_t max_steps = 20'000'000;               // statements + loop iterations + calls
  int max_call_depth = 200;                      // nested macro calls
  size_t max_list_items = 10'000'000;
};

struct Frame;
using FramePtr = std::shared_ptr<Frame>;

// One scope: the template's top level, a loop iteration, a macro call, a with/set/filter block.
struct Frame {
  FramePtr parent;
  std::vector<std::pair<std::string, Value>> vars;
  Value* find_local(const std::string& name);
  void set(const std::string& name, Value value);
};

class Interpreter {
 public:
  Interpreter(const Template& tmpl, RenderLimits limits, std::optional<std::time_t> fixed_now);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders with `context` as the template's variables (messages, tools, bos_token, ...).
  std::string render(const std::vector<std::pair<std::string, Value>>& context);

  // The operations filters, tests and methods are built from (Jinja's environment.getattr,
  // environment.getitem, iter(), calling a value).
  Value getattr(const Value& object, const std::string& name);
  Value getitem(const Value& object, const Value& key);
  ValueList iterate(const Value& value);
  Value call(const Value& callee, CallArgs& args);
  Value call_filter(const std::string& name, const Value& input, CallArgs& args);
  bool call_test(const std::string& name, const Value& input, CallArgs& args);
  bool contains(const Value& container, const Value& item);

  // Raise a TemplateError when a string / list about to be built is over the limits.
  void check_size(size_t bytes) const;
  void check_items(size_t count) const;
  void step();
  std::time_t now() const;
  // Namespaces may reference themselves; they are emptied after rendering to free the cycle.
  void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

 private:
  enum class Flow { Normal, Break, Continue };

  FramePtr new_frame(const FramePtr& parent);
  Value lookup(const std::string& name, const FramePtr& frame);
  void assign(const Expr& target, const Value& value, const FramePtr& frame);

  Value eval(const Expr& expr, const FramePtr& frame);
  Value eval_inner(const Expr& expr, const FramePtr& frame);
  Value eval_call(const Expr& expr, const FramePtr& frame);
  Value eval_slice(const Value& object, const Expr& slice, const FramePtr& frame);
  void eval_args(const Expr& expr, const FramePtr& frame, CallArgs& args);
  Value apply_filter_chain(const Expr& filter, const FramePtr& frame, const Value& input);

  Flow exec(const Body& body, const FramePtr& frame, std::string& out);
  Flow exec_stmt(const Stmt& stmt, const FramePtr& frame, std::string& out);
  Flow exec_for(const Stmt& stmt, const FramePtr& frame, std::string& out);
  void emit(std::string& out, const std::string& text) const;

  Value make_macro(const Stmt& definition, const FramePtr& closure);
  Value invoke_macro(const Stmt& definition, const FramePtr& closure, CallArgs& args);

  const Template& template_;
  RenderLimits limits_;
  std::optional<std::time_t> fixed_now_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  int native_depth_ = 0;
  std::vector<FramePtr> captured_frames_;
  std::vector<Value> namespaces_;
};

// Python's binary operators on values (TypeError-like TemplateErrors where Python raises).
Value py_binary(Interpreter& interpreter, BinaryOp op, const Value& left, const Value& right);
// "fmt % args" (printf-style formatting), also the `format` filter.
std::string py_percent_format(Interpreter& interpreter, const std::string& format, const Value& args);

}  // namespace jamba::chat_template
