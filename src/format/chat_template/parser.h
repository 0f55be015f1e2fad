// Template source -> syntax tree, following Jinja2 3.1's lexer and parser rule for rule
// (whitespace control, trim_blocks/lstrip_blocks, raw blocks, operator precedence, tuples,
// slices, filters, tests, macros, call blocks, loop controls), so templates written for Hugging
// Face's renderer parse the same way here.
#pragma once
#include <memory>
#include <string>

#include "format/chat_template/ast.h"

namespace jamba::chat_template {

struct ParseOptions {
  // Hugging Face renders chat templates with trim_blocks and lstrip_blocks on and
  // keep_trailing_newline off (Jinja's default).
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws TemplateSyntaxError (with line and column) on malformed templates.
std::unique_ptr<Template> parse_template(const std::string& source, const ParseOptions& options = {});

// The filter and test names Jinja (plus Hugging Face's tojson) defines; a template naming any
// other is rejected when parsed, as Jinja rejects it when compiling. Defined in builtins.cpp.
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

}  // namespace jamba::chat_template
