// Jinja's library as chat templates see it: filters, tests, the methods of str/dict/list that
// Python exposes to templates, loop-context attributes, and the global functions.
#pragma once
#include <string>

#include "format/chat_template/interpreter.h"

namespace jamba::chat_template {

Value apply_filter(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args);
bool apply_test(Interpreter& interpreter, const std::string& name, const Value& input, CallArgs& args);

// How Python resolves `object.name` for a method: Safe methods can be called; Unsafe ones
// (list.append, dict.update, ...) exist but the immutable sandbox refuses them.
enum class MethodKind { None, Safe, Unsafe };
MethodKind method_kind(const Value& object, const std::string& name);
Value call_method(Interpreter& interpreter, const Value& object, const std::string& name, CallArgs& args);
// A bound method as a first-class value (`{% set f = s.upper %}`).
Value bound_method(const Value& object, const std::string& name);

// loop.index, loop.first, loop.cycle, ... (Undefined for unknown names).
Value loop_attribute(const Value& loop, const std::string& name);

// range, dict, namespace, cycler, joiner, raise_exception, strftime_now.
void install_globals(Frame& frame);

}  // namespace jamba::chat_template
