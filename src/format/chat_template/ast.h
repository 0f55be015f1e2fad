// The parsed form of a template: Jinja's node types, reduced to what the interpreter needs.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/chat_template/value.h"

namespace jamba::chat_template {

// A parse error: line/column point into the template source.
class TemplateSyntaxError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

enum class ExprKind {
  Const, Name, List, Tuple, Dict, Getattr, Getitem, Slice, Call, Filter, Test,
  Not, Neg, Pos, Binary, And, Or, Concat, Compare, CondExpr, NSRef
};
enum class BinaryOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// One node type with role-named slots, documented per kind:
//   Const: constant          Name: name            List/Tuple/Concat: args
//   Dict: args = k0, v0, k1, v1, ...                Getattr: object.name
//   Getitem: object[second]  Slice: object:second:third (each may be null)
//   Call: object(args, kwargs, *dyn_args, **dyn_kwargs)
//   Filter: object|name(args, kwargs)  (object is null inside {% filter %} and {% set %} blocks)
//   Test: object is name(args, kwargs)   Not/Neg/Pos: object
//   Binary/And/Or: object op second      Compare: object, then compare_ops[i] args[i]
//   CondExpr: second if object else third (third may be null)
//   NSRef: ns_name.name (an assignment target)
struct Expr {
  ExprKind kind = ExprKind::Const;
  int line = 0;
  int column = 0;
  int depth = 1;  // height of this subtree (bounded by the parser)
  Value constant;
  std::string name;
  std::string ns_name;
  BinaryOp op = BinaryOp::Add;
  std::vector<CompareOp> compare_ops;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args;
  ExprPtr dyn_kwargs;
  ExprPtr object;
  ExprPtr second;
  ExprPtr third;
};

enum class StmtKind {
  Text, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, With, Break, Continue, Scope
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// Slots per kind:
//   Text: text                Output: exprs (printed in order)
//   If: exprs = conditions, bodies[i] for exprs[i], bodies.back() = else when has_else
//   For: targets[0] in value [if condition]: bodies[0], else bodies[1]
//   Set: targets[0] = value   SetBlock: targets[0] = bodies[0] rendered, piped through value
//   Macro: name(params = defaults): bodies[0]
//   CallBlock: {% call(params) value %} bodies[0]   FilterBlock: bodies[0] piped through value
//   With: targets[i] = exprs[i]: bodies[0]          Scope: bodies[0] in a scope of its own
struct Stmt {
  StmtKind kind = StmtKind::Text;
  int line = 0;
  int column = 0;
  std::string text;
  std::vector<ExprPtr> exprs;
  std::vector<ExprPtr> targets;
  ExprPtr value;
  ExprPtr condition;
  std::vector<Body> bodies;
  bool has_else = false;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param, null where the param has no default
  bool uses_caller = false;
  bool uses_varargs = false;
  bool uses_kwargs = false;
};

struct Template {
  Body body;
};

}  // namespace jamba::chat_template
