#include "format/chat_template/parser.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <string_view>

#include "format/chat_template/unicode.h"

namespace jamba::chat_template {

namespace {

// Deeper nesting than any real template; keeps the recursive-descent parser off the stack limit.
constexpr int kMaxExpressionDepth = 200;
constexpr int kMaxStatementDepth = 120;
// Long operator chains (a + b + c ...) build deep trees without nesting; bound their height too.
constexpr int kMaxTreeHeight = 400;

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, Eof };

struct Token {
  Tok type = Tok::Eof;
  std::string text;  // data, name, decoded string literal, operator
  int64_t integer = 0;
  double real = 0;
  int line = 1;
  int column = 1;
};

std::string describe(const Token& token) {
  switch (token.type) {
    case Tok::Data: return "template data";
    case Tok::VarBegin: return "begin of print statement";
    case Tok::VarEnd: return "end of print statement";
    case Tok::BlockBegin: return "begin of statement block";
    case Tok::BlockEnd: return "end of statement block";
    case Tok::Name:
    case Tok::Operator: return token.text;
    case Tok::String: return "string";
    case Tok::Integer: return "integer";
    case Tok::Float: return "float";
    case Tok::Eof: return "end of template";
  }
  return "token";
}

// Python's str.rstrip() (whitespace per str.isspace).
std::string py_rstrip(const std::string& text) {
  std::u32string wide = to_u32(text);
  size_t end = wide.size();
  while (end > 0 && py_isspace(wide[end - 1])) --end;
  wide.resize(end);
  return to_utf8(wide);
}

bool all_py_space(std::string_view text) {
  if (text.empty()) return false;
  for (size_t pos = 0; pos < text.size();)
    if (!py_isspace(next_code_point(text, pos))) return false;
  return true;
}

std::string hex_digits_error(char kind) {
  switch (kind) {
    case 'x': return "truncated \\xXX escape";
    case 'u': return "truncated \\uXXXX escape";
    default: return "truncated \\UXXXXXXXX escape";
  }
}

class Lexer {
 public:
  Lexer(const std::string& source, const ParseOptions& options) : options_(options) {
    // Jinja turns \r\n and \r into \n, and drops one trailing newline.
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!options_.keep_trailing_newline && !src_.empty() && src_.back() == '\n') src_.pop_back();
  }

  std::vector<Token> run() {
    const size_t n = src_.size();
    while (pos_ < n) {
      size_t tag = find_tag_start(pos_);
      if (tag == std::string::npos) {
        push_data(src_.substr(pos_), pos_);
        pos_ = n;
        break;
      }
      const char kind = src_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < n && (src_[after] == '-' || src_[after] == '+')) sign = src_[after];
      size_t raw_end = 0;
      const bool raw = kind == '%' && match_raw_begin(tag, &raw_end);
      std::string text = src_.substr(pos_, tag - pos_);
      apply_left_strip(text, sign, kind != '{');
      push_data(std::move(text), pos_);
      if (raw) {
        line_starting_ = src_[raw_end - 1] == '\n';
        lex_raw_body(tag, raw_end);
        continue;
      }
      if (sign) ++after;
      if (kind == '#') {
        lex_comment(tag, after);
        continue;
      }
      line_starting_ = false;
      push(kind == '%' ? Tok::BlockBegin : Tok::VarBegin, tag);
      pos_ = after;
      lex_tag(kind == '%');
    }
    Token eof;
    eof.type = Tok::Eof;
    locate(eof, n);
    tokens_.push_back(eof);
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& message, size_t offset) {
    Token where;
    locate(where, offset);
    throw TemplateSyntaxError(message, where.line, where.column);
  }

  // Line and column (in code points) of `offset`. Tokens arrive in source order, so the position
  // is advanced from the previous one; an earlier offset (error reports) is counted afresh.
  void locate(Token& token, size_t offset) {
    if (offset < cursor_offset_) {
      cursor_offset_ = 0;
      cursor_line_ = 1;
      cursor_column_ = 1;
    }
    while (cursor_offset_ < offset && cursor_offset_ < src_.size()) {
      const char c = src_[cursor_offset_];
      next_code_point(src_, cursor_offset_);
      if (c == '\n') {
        ++cursor_line_;
        cursor_column_ = 1;
      } else {
        ++cursor_column_;
      }
    }
    token.line = cursor_line_;
    token.column = cursor_column_;
  }

  void push(Tok type, size_t offset, std::string text = {}) {
    Token token;
    token.type = type;
    token.text = std::move(text);
    locate(token, offset);
    tokens_.push_back(std::move(token));
  }

  void push_data(std::string text, size_t offset) {
    if (!text.empty()) push(Tok::Data, offset, std::move(text));
  }

  bool starts_with(size_t at, std::string_view what) const {
    return src_.compare(at, what.size(), what) == 0;
  }

  size_t skip_space(size_t at) const {
    while (at < src_.size()) {
      size_t next = at;
      if (!py_isspace(next_code_point(src_, next))) break;
      at = next;
    }
    return at;
  }

  size_t find_tag_start(size_t from) const {
    for (size_t at = src_.find('{', from); at != std::string::npos; at = src_.find('{', at + 1)) {
      if (at + 1 < src_.size() && (src_[at + 1] == '{' || src_[at + 1] == '%' || src_[at + 1] == '#'))
        return at;
    }
    return std::string::npos;
  }

  // The whitespace control Jinja applies to the data before a tag: `-` strips all whitespace,
  // lstrip_blocks strips the indentation of a block/comment tag that starts its line.
  void apply_left_strip(std::string& text, char sign, bool block_like) const {
    if (sign == '-') {
      text = py_rstrip(text);
    } else if (sign != '+' && options_.lstrip_blocks && block_like) {
      const size_t newline = text.rfind('\n');
      const size_t line_start = newline == std::string::npos ? 0 : newline + 1;
      if ((line_start > 0 || line_starting_) && all_py_space(std::string_view(text).substr(line_start)))
        text.resize(line_start);
    }
  }

  // `{%[-+]? raw (-%}\s*|%})` at `at`.
  bool match_raw_begin(size_t at, size_t* end) const {
    size_t p = at + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    p = skip_space(p);
    if (!starts_with(p, "raw")) return false;
    p = skip_space(p + 3);
    if (starts_with(p, "-%}")) {
      *end = skip_space(p + 3);
      return true;
    }
    if (starts_with(p, "%}")) {
      *end = p + 2;
      return true;
    }
    return false;
  }

  // The end of a block tag at `at` (`+%}`, `-%}` + whitespace, `%}` + one newline), or npos.
  size_t match_block_end(size_t at) const {
    if (starts_with(at, "+%}")) return at + 3;
    if (starts_with(at, "-%}")) return skip_space(at + 3);
    if (starts_with(at, "%}")) {
      size_t end = at + 2;
      if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      return end;
    }
    return std::string::npos;
  }

  void lex_raw_body(size_t tag, size_t body_start) {
    for (size_t at = src_.find("{%", body_start); at != std::string::npos; at = src_.find("{%", at + 1)) {
      size_t p = at + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      p = skip_space(p);
      if (!starts_with(p, "endraw")) continue;
      const size_t end = match_block_end(skip_space(p + 6));
      if (end == std::string::npos) continue;
      std::string text = src_.substr(body_start, at - body_start);
      apply_left_strip(text, sign, true);
      push_data(std::move(text), body_start);
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    fail("Missing end of raw directive", tag);
  }

  void lex_comment(size_t tag, size_t body_start) {
    for (size_t at = body_start; at < src_.size(); ++at) {
      size_t end = std::string::npos;
      if (starts_with(at, "+#}")) {
        end = at + 3;
      } else if (starts_with(at, "-#}")) {
        end = skip_space(at + 3);
      } else if (starts_with(at, "#}")) {
        end = at + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      }
      if (end != std::string::npos) {
        line_starting_ = src_[end - 1] == '\n';
        pos_ = end;
        return;
      }
    }
    fail("Missing end of comment tag", tag);
  }

  static bool digit_in_base(char c, int base) {
    if (base == 16) return std::isxdigit(static_cast<unsigned char>(c)) != 0;
    return c >= '0' && c < static_cast<char>('0' + base);
  }

  // `(\d+_)*\d+` at `at`: the end, or npos.
  size_t match_digits(size_t at) const {
    auto digit = [&](size_t p) { return p < src_.size() && digit_in_base(src_[p], 10); };
    if (!digit(at)) return std::string::npos;
    size_t p = at;
    while (true) {
      while (digit(p)) ++p;
      if (p < src_.size() && src_[p] == '_' && digit(p + 1)) {
        ++p;
        continue;
      }
      return p;
    }
  }

  size_t match_exponent(size_t at) const {
    if (at >= src_.size() || (src_[at] != 'e' && src_[at] != 'E')) return std::string::npos;
    size_t p = at + 1;
    if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
    return match_digits(p);
  }

  size_t match_float(size_t at) const {
    if (at > 0 && src_[at - 1] == '.') return std::string::npos;
    const size_t integer_end = match_digits(at);
    if (integer_end == std::string::npos) return std::string::npos;
    if (integer_end < src_.size() && src_[integer_end] == '.') {
      const size_t fraction_end = match_digits(integer_end + 1);
      if (fraction_end != std::string::npos) {
        const size_t exponent_end = match_exponent(fraction_end);
        return exponent_end != std::string::npos ? exponent_end : fraction_end;
      }
    }
    return match_exponent(integer_end);
  }

  size_t match_integer(size_t at, int* base) const {
    *base = 10;
    if (at >= src_.size() || !std::isdigit(static_cast<unsigned char>(src_[at]))) return std::string::npos;
    if (src_[at] == '0' && at + 1 < src_.size()) {
      const char prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[at + 1])));
      const int prefixed_base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : prefix == 'x' ? 16 : 0;
      if (prefixed_base) {
        // 0x(_?[0-9a-f])+, and likewise 0b, 0o
        size_t p = at + 2, end = std::string::npos;
        while (true) {
          const size_t q = (p < src_.size() && src_[p] == '_') ? p + 1 : p;
          if (q >= src_.size() || !digit_in_base(src_[q], prefixed_base)) break;
          end = p = q + 1;
        }
        if (end != std::string::npos) {
          *base = prefixed_base;
          return end;
        }
      }
    }
    if (src_[at] == '0') {  // 0(_?0)*
      size_t p = at + 1;
      while (true) {
        size_t q = p;
        if (q < src_.size() && src_[q] == '_') ++q;
        if (q < src_.size() && src_[q] == '0') p = q + 1;
        else return p;
      }
    }
    return match_digits(at);
  }

  size_t match_name(size_t at) const {
    size_t p = at;
    bool first = true;
    while (p < src_.size()) {
      size_t next = p;
      const char32_t c = next_code_point(src_, next);
      const bool ok = c == '_' || (c < 0x80 ? std::isalpha(static_cast<int>(c)) != 0 : py_isalpha(c)) ||
                      (!first && (c < 0x80 ? std::isdigit(static_cast<int>(c)) != 0 : py_isalnum(c)));
      if (!ok) break;
      p = next;
      first = false;
    }
    return p == at ? std::string::npos : p;
  }

  size_t match_string(size_t at) const {
    const char quote = src_[at];
    if (quote != '\'' && quote != '"') return std::string::npos;
    for (size_t p = at + 1; p < src_.size(); ++p) {
      if (src_[p] == '\\') {
        ++p;
      } else if (src_[p] == quote) {
        return p + 1;
      }
    }
    return std::string::npos;
  }

  // Python's `raw.encode("ascii", "backslashreplace").decode("unicode-escape")`, which is how
  // Jinja decodes string literals.
  std::string unescape(const std::string& raw, size_t offset) {
    std::string ascii;
    for (size_t pos = 0; pos < raw.size();) {
      const char32_t c = next_code_point(raw, pos);
      if (c < 0x80) {
        ascii += static_cast<char>(c);
      } else {
        char buffer[16];
        if (c <= 0xFF) std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned>(c));
        else if (c <= 0xFFFF) std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
        else std::snprintf(buffer, sizeof buffer, "\\U%08x", static_cast<unsigned>(c));
        ascii += buffer;
      }
    }
    std::string out;
    for (size_t i = 0; i < ascii.size(); ++i) {
      const char c = ascii[i];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i + 1 >= ascii.size()) fail("\\ at end of string", offset);
      const char e = ascii[++i];
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t value = 0;
          for (size_t k = 1; k <= digits; ++k) {
            if (i + k >= ascii.size() || !std::isxdigit(static_cast<unsigned char>(ascii[i + k])))
              fail(hex_digits_error(e), offset);
            const char h = ascii[i + k];
            value = value * 16 + static_cast<char32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (value > 0x10FFFF) fail("illegal Unicode character", offset);
          append_utf8(out, value);
          i += digits;
          break;
        }
        case 'N': fail("\\N{...} escapes are not supported", offset);
        default:
          if (e >= '0' && e <= '7') {
            char32_t value = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i + 1 < ascii.size() && ascii[i + 1] >= '0' && ascii[i + 1] <= '7'; ++k)
              value = value * 8 + static_cast<char32_t>(ascii[++i] - '0');
            append_utf8(out, value);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    return out;
  }

  void lex_tag(bool block) {
    std::vector<char> balance;
    const size_t n = src_.size();
    while (pos_ < n) {
      if (balance.empty()) {
        size_t end = std::string::npos;
        if (block) {
          end = match_block_end(pos_);
        } else if (starts_with(pos_, "-}}")) {
          end = skip_space(pos_ + 3);
        } else if (starts_with(pos_, "}}")) {
          end = pos_ + 2;
        }
        if (end != std::string::npos) {
          push(block ? Tok::BlockEnd : Tok::VarEnd, pos_);
          line_starting_ = src_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      const size_t space_end = skip_space(pos_);
      if (space_end != pos_) {
        pos_ = space_end;
        continue;
      }
      size_t end = match_float(pos_);
      if (end != std::string::npos) {
        std::string digits;
        for (size_t i = pos_; i < end; ++i)
          if (src_[i] != '_') digits += src_[i];
        Token token;
        token.type = Tok::Float;
        token.real = std::strtod(digits.c_str(), nullptr);
        locate(token, pos_);
        tokens_.push_back(token);
        pos_ = end;
        continue;
      }
      int base = 10;
      end = match_integer(pos_, &base);
      if (end != std::string::npos) {
        std::string digits;
        for (size_t i = pos_ + (base == 10 ? 0 : 2); i < end; ++i)
          if (src_[i] != '_') digits += src_[i];
        errno = 0;
        char* stop = nullptr;
        const unsigned long long value = std::strtoull(digits.c_str(), &stop, base);
        if (errno == ERANGE || value > static_cast<unsigned long long>(INT64_MAX))
          fail("integer literal too large", pos_);
        Token token;
        token.type = Tok::Integer;
        token.integer = static_cast<int64_t>(value);
        locate(token, pos_);
        tokens_.push_back(token);
        pos_ = end;
        continue;
      }
      end = match_name(pos_);
      if (end != std::string::npos) {
        push(Tok::Name, pos_, src_.substr(pos_, end - pos_));
        pos_ = end;
        continue;
      }
      end = match_string(pos_);
      if (end != std::string::npos) {
        push(Tok::String, pos_, unescape(src_.substr(pos_ + 1, end - pos_ - 2), pos_));
        pos_ = end;
        continue;
      }
      static const char* const kOperators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                               "*", "%", "~", "[", "]", "(", ")", "{", "}",
                                               ">", "<", "=", ".", ":", "|", ",", ";"};
      const char* op = nullptr;
      for (const char* candidate : kOperators)
        if (starts_with(pos_, candidate)) {
          op = candidate;
          break;
        }
      if (!op) {
        size_t next = pos_;
        const char32_t c = next_code_point(src_, next);
        std::string shown;
        append_utf8(shown, c);
        fail("unexpected char " + py_repr_string(shown), pos_);
      }
      const std::string text = op;
      if (text == "{" || text == "(" || text == "[") {
        balance.push_back(text == "{" ? '}' : text == "(" ? ')' : ']');
      } else if (text == "}" || text == ")" || text == "]") {
        if (balance.empty()) fail("unexpected '" + text + "'", pos_);
        const char expected = balance.back();
        balance.pop_back();
        if (expected != text[0])
          fail("unexpected '" + text + "', expected '" + std::string(1, expected) + "'", pos_);
      }
      push(Tok::Operator, pos_, text);
      pos_ += text.size();
    }
  }

  std::string src_;
  ParseOptions options_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  size_t cursor_offset_ = 0;
  int cursor_line_ = 1;
  int cursor_column_ = 1;
};

// ---------------------------------------------------------------------------------------------
// Parser

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::unique_ptr<Template> parse() {
    auto result = std::make_unique<Template>();
    result->body = subparse(nullptr);
    return result;
  }

 private:
  using EndTokens = std::vector<std::string>;

  struct DepthGuard {
    DepthGuard(Parser& parser, int& depth, int limit) : depth_(depth) {
      if (++depth_ > limit) parser.fail("template nested too deeply");
    }
    ~DepthGuard() { --depth_; }
    int& depth_;
  };

  const Token& cur() const { return tokens_[index_]; }
  const Token& look() const { return tokens_[std::min(index_ + 1, tokens_.size() - 1)]; }
  Token next() {
    Token token = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return token;
  }
  bool at_op(const char* op) const { return cur().type == Tok::Operator && cur().text == op; }
  bool at_name(const char* name) const { return cur().type == Tok::Name && cur().text == name; }
  static bool is_name(const Token& token, const std::string& name) {
    return token.type == Tok::Name && token.text == name;
  }
  bool skip_op(const char* op) {
    if (!at_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!at_name(name)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(const std::string& message) { fail_at(message, cur()); }
  [[noreturn]] void fail_at(const std::string& message, const Token& token) {
    throw TemplateSyntaxError(message, token.line, token.column);
  }

  void expect_type(Tok type, const char* description) {
    if (cur().type != type) fail("expected token '" + std::string(description) + "', got '" + describe(cur()) + "'");
    next();
  }
  void expect_op(const char* op) {
    if (!at_op(op)) fail("expected token '" + std::string(op) + "', got '" + describe(cur()) + "'");
    next();
  }
  Token expect_name() {
    if (cur().type != Tok::Name) fail("expected token 'name', got '" + describe(cur()) + "'");
    return next();
  }
  Token expect_name(const char* name) {
    if (!at_name(name)) fail("expected token '" + std::string(name) + "', got '" + describe(cur()) + "'");
    return next();
  }

  ExprPtr make(ExprKind kind, const Token& at) {
    auto expr = std::make_unique<Expr>();
    expr->kind = kind;
    expr->line = at.line;
    expr->column = at.column;
    return expr;
  }
  // Records the subtree height once a node's children are in place.
  ExprPtr seal(ExprPtr node) {
    if (!node) return node;
    int height = 0;
    auto see = [&](const ExprPtr& child) {
      if (child) height = std::max(height, child->depth);
    };
    for (const auto& arg : node->args) see(arg);
    for (const auto& kwarg : node->kwargs) see(kwarg.second);
    see(node->dyn_args);
    see(node->dyn_kwargs);
    see(node->object);
    see(node->second);
    see(node->third);
    node->depth = height + 1;
    if (node->depth > kMaxTreeHeight) {
      Token at;
      at.line = node->line;
      at.column = node->column;
      fail_at("expression too deeply nested or too long", at);
    }
    return node;
  }

  StmtPtr make_stmt(StmtKind kind, const Token& at) {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = kind;
    stmt->line = at.line;
    stmt->column = at.column;
    return stmt;
  }

  [[noreturn]] void fail_unknown_tag(const std::string* name, const Token& at) {
    std::vector<std::string> expected;
    for (const auto& ends : end_token_stack_) expected.insert(expected.end(), ends.begin(), ends.end());
    std::string looking;
    if (!end_token_stack_.empty()) {
      for (const auto& end : end_token_stack_.back()) {
        if (!looking.empty()) looking += " or ";
        looking += "'" + end + "'";
      }
    }
    std::string message = name ? "Encountered unknown tag '" + *name + "'." : "Unexpected end of template.";
    if (!looking.empty()) {
      if (name && std::find(expected.begin(), expected.end(), *name) != expected.end())
        message += " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for " + looking + ".";
      else
        message += " Jinja was looking for the following tags: " + looking + ".";
    }
    if (!tag_stack_.empty()) message += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    fail_at(message, at);
  }

  Body subparse(const EndTokens* end_tokens) {
    Body body;
    if (end_tokens) end_token_stack_.push_back(*end_tokens);
    while (cur().type != Tok::Eof) {
      const Token& token = cur();
      if (token.type == Tok::Data) {
        auto stmt = make_stmt(StmtKind::Text, token);
        stmt->text = token.text;
        body.push_back(std::move(stmt));
        next();
      } else if (token.type == Tok::VarBegin) {
        const Token begin = next();
        auto stmt = make_stmt(StmtKind::Output, begin);
        stmt->exprs.push_back(parse_tuple(false, true, {}, false, false));
        expect_type(Tok::VarEnd, "end of print statement");
        body.push_back(std::move(stmt));
      } else if (token.type == Tok::BlockBegin) {
        next();
        if (end_tokens && cur().type == Tok::Name &&
            std::find(end_tokens->begin(), end_tokens->end(), cur().text) != end_tokens->end()) {
          end_token_stack_.pop_back();
          return body;
        }
        body.push_back(parse_statement());
        expect_type(Tok::BlockEnd, "end of statement block");
      } else {
        fail("unexpected '" + describe(token) + "'");
      }
    }
    if (end_tokens) end_token_stack_.pop_back();
    return body;
  }

  Body parse_statements(const EndTokens& end_tokens, bool drop_needle) {
    skip_op(":");
    expect_type(Tok::BlockEnd, "end of statement block");
    Body body = subparse(&end_tokens);
    if (cur().type == Tok::Eof) {
      end_token_stack_.push_back(end_tokens);
      fail_unknown_tag(nullptr, cur());
    }
    if (drop_needle) next();
    return body;
  }

  StmtPtr parse_statement() {
    DepthGuard guard(*this, statement_depth_, kMaxStatementDepth);
    const Token token = cur();
    if (token.type != Tok::Name) fail("tag name expected");
    const std::string& name = token.text;
    tag_stack_.push_back(name);
    StmtPtr result;
    if (name == "for") result = parse_for();
    else if (name == "if") result = parse_if();
    else if (name == "set") result = parse_set();
    else if (name == "macro") result = parse_macro();
    else if (name == "call") result = parse_call_block();
    else if (name == "filter") result = parse_filter_block();
    else if (name == "with") result = parse_with();
    else if (name == "print") result = parse_print();
    else if (name == "block") result = parse_block();
    else if (name == "generation") result = parse_scope("endgeneration");
    else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail("'" + name + "' outside loop");
      next();
      result = make_stmt(name == "break" ? StmtKind::Break : StmtKind::Continue, token);
    } else if (name == "extends" || name == "include" || name == "import" || name == "from") {
      fail("'" + name + "' is not supported: a chat template cannot load other templates");
    } else if (name == "autoescape") {
      fail("'autoescape' is not supported (Hugging Face renders chat templates without escaping)");
    } else {
      tag_stack_.pop_back();
      fail_unknown_tag(&name, token);
    }
    tag_stack_.pop_back();
    return result;
  }

  StmtPtr parse_for() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::For, at);
    stmt->targets.push_back(parse_assign_target(true, false, {"in"}, false));
    expect_name("in");
    stmt->value = parse_tuple(false, false, {"recursive"}, false, false);
    if (skip_name("if")) stmt->condition = parse_expression(true);
    if (at_name("recursive")) fail("recursive for loops are not supported");
    ++loop_depth_;
    stmt->bodies.push_back(parse_statements({"endfor", "else"}, false));
    --loop_depth_;
    if (next().text == "endfor") {
      stmt->bodies.emplace_back();
    } else {
      stmt->has_else = true;
      stmt->bodies.push_back(parse_statements({"endfor"}, true));
    }
    return stmt;
  }

  StmtPtr parse_if() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::If, at);
    while (true) {
      stmt->exprs.push_back(parse_tuple(false, false, {}, false, false));
      stmt->bodies.push_back(parse_statements({"elif", "else", "endif"}, false));
      const Token token = next();
      if (token.text == "elif") continue;
      if (token.text == "else") {
        stmt->has_else = true;
        stmt->bodies.push_back(parse_statements({"endif"}, true));
      }
      break;
    }
    return stmt;
  }

  StmtPtr parse_set() {
    const Token at = next();
    ExprPtr target = parse_assign_target(true, false, {}, true);
    if (skip_op("=")) {
      auto stmt = make_stmt(StmtKind::Set, at);
      stmt->targets.push_back(std::move(target));
      stmt->value = parse_tuple(false, true, {}, false, false);
      return stmt;
    }
    auto stmt = make_stmt(StmtKind::SetBlock, at);
    stmt->targets.push_back(std::move(target));
    stmt->value = parse_filter(nullptr, false);
    stmt->bodies.push_back(parse_statements({"endset"}, true));
    return stmt;
  }

  void parse_signature(Stmt& stmt) {
    expect_op("(");
    while (!at_op(")")) {
      if (!stmt.params.empty()) expect_op(",");
      const Token name = expect_name();
      stmt.params.push_back(name.text);
      if (skip_op("=")) {
        stmt.defaults.push_back(parse_expression(true));
      } else {
        for (const auto& existing : stmt.defaults)
          if (existing) fail_at("non-default argument follows default argument", name);
        stmt.defaults.push_back(nullptr);
      }
    }
    expect_op(")");
  }

  // Finds the names a macro body reads, so a macro accepts extra arguments only when it uses
  // varargs/kwargs, as Jinja decides.
  static void scan_names(const Expr* expr, Stmt& macro) {
    if (!expr) return;
    if (expr->kind == ExprKind::Name) {
      if (expr->name == "caller") macro.uses_caller = true;
      if (expr->name == "varargs") macro.uses_varargs = true;
      if (expr->name == "kwargs") macro.uses_kwargs = true;
    }
    for (const auto& arg : expr->args) scan_names(arg.get(), macro);
    for (const auto& kwarg : expr->kwargs) scan_names(kwarg.second.get(), macro);
    scan_names(expr->dyn_args.get(), macro);
    scan_names(expr->dyn_kwargs.get(), macro);
    scan_names(expr->object.get(), macro);
    scan_names(expr->second.get(), macro);
    scan_names(expr->third.get(), macro);
  }
  static void scan_body(const Body& body, Stmt& macro) {
    for (const auto& stmt : body) {
      for (const auto& expr : stmt->exprs) scan_names(expr.get(), macro);
      for (const auto& expr : stmt->defaults) scan_names(expr.get(), macro);
      scan_names(stmt->value.get(), macro);
      scan_names(stmt->condition.get(), macro);
      if (stmt->kind == StmtKind::Macro) continue;
      for (const auto& inner : stmt->bodies) scan_body(inner, macro);
    }
  }

  StmtPtr parse_macro() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::Macro, at);
    stmt->name = expect_name().text;
    parse_signature(*stmt);
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    stmt->bodies.push_back(parse_statements({"endmacro"}, true));
    loop_depth_ = saved_loop_depth;
    scan_body(stmt->bodies[0], *stmt);
    return stmt;
  }

  StmtPtr parse_call_block() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::CallBlock, at);
    if (at_op("(")) parse_signature(*stmt);
    stmt->value = parse_expression(true);
    if (stmt->value->kind != ExprKind::Call) fail_at("expected call", at);
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    stmt->bodies.push_back(parse_statements({"endcall"}, true));
    loop_depth_ = saved_loop_depth;
    scan_body(stmt->bodies[0], *stmt);
    return stmt;
  }

  StmtPtr parse_filter_block() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::FilterBlock, at);
    stmt->value = parse_filter(nullptr, true);
    stmt->bodies.push_back(parse_statements({"endfilter"}, true));
    return stmt;
  }

  StmtPtr parse_with() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::With, at);
    while (cur().type != Tok::BlockEnd) {
      if (!stmt->targets.empty()) expect_op(",");
      stmt->targets.push_back(parse_assign_target(true, false, {}, false));
      expect_op("=");
      stmt->exprs.push_back(parse_expression(true));
    }
    stmt->bodies.push_back(parse_statements({"endwith"}, true));
    return stmt;
  }

  StmtPtr parse_print() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::Output, at);
    while (cur().type != Tok::BlockEnd) {
      if (!stmt->exprs.empty()) expect_op(",");
      stmt->exprs.push_back(parse_expression(true));
    }
    return stmt;
  }

  StmtPtr parse_block() {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::Scope, at);
    const std::string name = expect_name().text;
    skip_name("scoped");
    skip_name("required");
    stmt->bodies.push_back(parse_statements({"endblock"}, true));
    if (cur().type == Tok::Name && cur().text == name) next();
    return stmt;
  }

  StmtPtr parse_scope(const char* end) {
    const Token at = next();
    auto stmt = make_stmt(StmtKind::Scope, at);
    stmt->bodies.push_back(parse_statements({end}, true));
    return stmt;
  }

  static bool can_assign(const Expr& target) {
    switch (target.kind) {
      case ExprKind::Name:
      case ExprKind::NSRef: return true;
      case ExprKind::Tuple:
        for (const auto& item : target.args)
          if (!can_assign(*item)) return false;
        return true;
      default: return false;
    }
  }

  ExprPtr parse_assign_target(bool with_tuple, bool name_only, const EndTokens& extra_end, bool with_namespace) {
    const Token at = cur();
    ExprPtr target;
    if (name_only) {
      const Token name = expect_name();
      target = make(ExprKind::Name, name);
      target->name = name.text;
    } else if (with_tuple) {
      target = parse_tuple(true, true, extra_end, false, with_namespace);
    } else {
      target = parse_primary(with_namespace);
    }
    if (!can_assign(*target)) {
      const char* kind = target->kind == ExprKind::Const ? "const" : "expression";
      fail_at(std::string("can't assign to '") + kind + "'", at);
    }
    return target;
  }

  bool is_tuple_end(const EndTokens& extra_end) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || at_op(")")) return true;
    for (const auto& name : extra_end)
      if (is_name(cur(), name)) return true;
    return false;
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const EndTokens& extra_end,
                      bool explicit_parentheses, bool with_namespace) {
    const Token at = cur();
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      args.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
      if (at_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parentheses) fail("Expected an expression, got '" + describe(cur()) + "'");
    }
    auto tuple = make(ExprKind::Tuple, at);
    tuple->args = std::move(args);
    return seal(std::move(tuple));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this, expression_depth_, kMaxExpressionDepth);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    Token at = cur();
    ExprPtr expr1 = parse_or();
    while (skip_name("if")) {
      ExprPtr expr2 = parse_or();
      ExprPtr expr3;
      if (skip_name("else")) expr3 = parse_condexpr();
      auto node = make(ExprKind::CondExpr, at);
      node->object = std::move(expr2);
      node->second = std::move(expr1);
      node->third = std::move(expr3);
      expr1 = seal(std::move(node));
      at = cur();
    }
    return expr1;
  }

  ExprPtr binary(ExprKind kind, const Token& at, ExprPtr left, ExprPtr right) {
    auto node = make(kind, at);
    node->object = std::move(left);
    node->second = std::move(right);
    return seal(std::move(node));
  }

  ExprPtr parse_or() {
    const Token at = cur();
    ExprPtr left = parse_and();
    while (skip_name("or")) left = binary(ExprKind::Or, at, std::move(left), parse_and());
    return left;
  }

  ExprPtr parse_and() {
    const Token at = cur();
    ExprPtr left = parse_not();
    while (skip_name("and")) left = binary(ExprKind::And, at, std::move(left), parse_not());
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(*this, expression_depth_, kMaxExpressionDepth);
      const Token at = next();
      auto node = make(ExprKind::Not, at);
      node->object = parse_not();
      return seal(std::move(node));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token at = cur();
    ExprPtr expr = parse_math1();
    std::vector<CompareOp> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      static const std::pair<const char*, CompareOp> kOps[] = {
          {"==", CompareOp::Eq}, {"!=", CompareOp::Ne}, {"<", CompareOp::Lt},
          {"<=", CompareOp::Le}, {">", CompareOp::Gt},  {">=", CompareOp::Ge}};
      bool matched = false;
      for (const auto& [text, op] : kOps) {
        if (at_op(text)) {
          next();
          ops.push_back(op);
          operands.push_back(parse_math1());
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (skip_name("in")) {
        ops.push_back(CompareOp::In);
        operands.push_back(parse_math1());
      } else if (at_name("not") && is_name(look(), "in")) {
        next();
        next();
        ops.push_back(CompareOp::NotIn);
        operands.push_back(parse_math1());
      } else {
        break;
      }
    }
    if (ops.empty()) return expr;
    auto node = make(ExprKind::Compare, at);
    node->object = std::move(expr);
    node->compare_ops = std::move(ops);
    node->args = std::move(operands);
    return seal(std::move(node));
  }

  ExprPtr arithmetic(BinaryOp op, const Token& at, ExprPtr left, ExprPtr right) {
    auto node = binary(ExprKind::Binary, at, std::move(left), std::move(right));
    node->op = op;
    return seal(std::move(node));
  }

  ExprPtr parse_math1() {
    const Token at = cur();
    ExprPtr left = parse_concat();
    while (at_op("+") || at_op("-")) {
      const BinaryOp op = next().text == "+" ? BinaryOp::Add : BinaryOp::Sub;
      left = arithmetic(op, at, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    const Token at = cur();
    std::vector<ExprPtr> args;
    args.push_back(parse_math2());
    while (skip_op("~")) args.push_back(parse_math2());
    if (args.size() == 1) return std::move(args[0]);
    auto node = make(ExprKind::Concat, at);
    node->args = std::move(args);
    return seal(std::move(node));
  }

  ExprPtr parse_math2() {
    const Token at = cur();
    ExprPtr left = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token op_token = next();
      const std::string& text = op_token.text;
      const BinaryOp op = text == "*" ? BinaryOp::Mul : text == "/" ? BinaryOp::Div
                        : text == "//" ? BinaryOp::FloorDiv : BinaryOp::Mod;
      left = arithmetic(op, at, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    const Token at = cur();
    ExprPtr left = parse_unary(true);
    while (skip_op("**")) left = arithmetic(BinaryOp::Pow, at, std::move(left), parse_unary(true));
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, expression_depth_, kMaxExpressionDepth);
    const Token at = cur();
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
      next();
      node = make(at.text == "-" ? ExprKind::Neg : ExprKind::Pos, at);
      node->object = parse_unary(false);
    } else {
      node = parse_primary(false);
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return seal(std::move(node));
  }

  ExprPtr parse_primary(bool with_namespace) {
    DepthGuard guard(*this, expression_depth_, kMaxExpressionDepth);
    const Token token = cur();
    if (token.type == Tok::Name) {
      next();
      if (token.text == "true" || token.text == "True" || token.text == "false" || token.text == "False") {
        auto node = make(ExprKind::Const, token);
        node->constant = Value::boolean(token.text == "true" || token.text == "True");
        return seal(std::move(node));
      }
      if (token.text == "none" || token.text == "None") {
        auto node = make(ExprKind::Const, token);
        node->constant = Value::none();
        return seal(std::move(node));
      }
      if (with_namespace && at_op(".")) {
        next();
        const Token attr = expect_name();
        auto node = make(ExprKind::NSRef, token);
        node->ns_name = token.text;
        node->name = attr.text;
        return seal(std::move(node));
      }
      auto node = make(ExprKind::Name, token);
      node->name = token.text;
      return seal(std::move(node));
    }
    if (token.type == Tok::String) {
      std::string text = next().text;
      while (cur().type == Tok::String) text += next().text;
      auto node = make(ExprKind::Const, token);
      node->constant = Value::string(std::move(text));
      return seal(std::move(node));
    }
    if (token.type == Tok::Integer || token.type == Tok::Float) {
      next();
      auto node = make(ExprKind::Const, token);
      node->constant = token.type == Tok::Integer ? Value::integer(token.integer) : Value::number(token.real);
      return seal(std::move(node));
    }
    if (at_op("(")) {
      next();
      ExprPtr node = parse_tuple(false, true, {}, true, false);
      expect_op(")");
      return seal(std::move(node));
    }
    if (at_op("[")) {
      next();
      auto node = make(ExprKind::List, token);
      while (!at_op("]")) {
        if (!node->args.empty()) expect_op(",");
        if (at_op("]")) break;
        node->args.push_back(parse_expression(true));
      }
      expect_op("]");
      return seal(std::move(node));
    }
    if (at_op("{")) {
      next();
      auto node = make(ExprKind::Dict, token);
      while (!at_op("}")) {
        if (!node->args.empty()) expect_op(",");
        if (at_op("}")) break;
        node->args.push_back(parse_expression(true));
        expect_op(":");
        node->args.push_back(parse_expression(true));
      }
      expect_op("}");
      return seal(std::move(node));
    }
    fail("unexpected '" + describe(token) + "'");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (at_op(".") || at_op("[")) node = parse_subscript(std::move(node));
      else if (at_op("(")) node = parse_call(std::move(node));
      else break;
    }
    return seal(std::move(node));
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (at_op("|")) node = parse_filter(std::move(node), false);
      else if (at_name("is")) node = parse_test(std::move(node));
      else if (at_op("(")) node = parse_call(std::move(node));
      else break;
    }
    return seal(std::move(node));
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const Token token = next();
    if (token.text == ".") {
      const Token attr = next();
      if (attr.type == Tok::Name) {
        auto result = make(ExprKind::Getattr, token);
        result->object = std::move(node);
        result->name = attr.text;
        return seal(std::move(result));
      }
      if (attr.type != Tok::Integer) fail_at("expected name or number", attr);
      auto index = make(ExprKind::Const, attr);
      index->constant = Value::integer(attr.integer);
      auto result = make(ExprKind::Getitem, token);
      result->object = std::move(node);
      result->second = std::move(index);
      return seal(std::move(result));
    }
    std::vector<ExprPtr> args;
    while (!at_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto result = make(ExprKind::Getitem, token);
    result->object = std::move(node);
    if (args.size() == 1) {
      result->second = std::move(args[0]);
    } else {
      auto tuple = make(ExprKind::Tuple, token);
      tuple->args = std::move(args);
      result->second = std::move(tuple);
    }
    return seal(std::move(result));
  }

  ExprPtr parse_subscribed() {
    const Token at = cur();
    ExprPtr start;
    if (at_op(":")) {
      next();
    } else {
      ExprPtr node = parse_expression(true);
      if (!at_op(":")) return seal(std::move(node));
      next();
      start = std::move(node);
    }
    auto slice = make(ExprKind::Slice, at);
    slice->object = std::move(start);
    if (!at_op(":") && !at_op("]") && !at_op(",")) slice->second = parse_expression(true);
    if (at_op(":")) {
      next();
      if (!at_op("]") && !at_op(",")) slice->third = parse_expression(true);
    }
    return seal(std::move(slice));
  }

  void parse_call_args(Expr& node) {
    const Token at = cur();
    expect_op("(");
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      if (!ok) fail_at("invalid syntax for function call expression", at);
    };
    while (!at_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (at_op(")")) break;
      }
      if (at_op("*")) {
        ensure(!node.dyn_args && !node.dyn_kwargs);
        next();
        node.dyn_args = parse_expression(true);
      } else if (at_op("**")) {
        ensure(!node.dyn_kwargs);
        next();
        node.dyn_kwargs = parse_expression(true);
      } else if (cur().type == Tok::Name && look().type == Tok::Operator && look().text == "=") {
        ensure(!node.dyn_kwargs);
        const std::string key = next().text;
        next();
        node.kwargs.emplace_back(key, parse_expression(true));
      } else {
        ensure(!node.dyn_args && !node.dyn_kwargs && node.kwargs.empty());
        node.args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto node = make(ExprKind::Call, cur());
    node->object = std::move(callee);
    parse_call_args(*node);
    return seal(std::move(node));
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (at_op("|") || start_inline) {
      if (!start_inline) next();
      const Token token = expect_name();
      std::string name = token.text;
      while (skip_op(".")) {
      name += '.';
      name += expect_name().text;
    }
      auto filter = make(ExprKind::Filter, token);
      filter->object = std::move(node);
      filter->name = name;
      if (at_op("(")) parse_call_args(*filter);
      node = seal(std::move(filter));
      start_inline = false;
    }
    return seal(std::move(node));
  }

  ExprPtr parse_test(ExprPtr node) {
    const Token at = next();  // 'is'
    const bool negated = skip_name("not");
    const Token token = expect_name();
    std::string name = token.text;
    while (skip_op(".")) {
      name += '.';
      name += expect_name().text;
    }
    auto test = make(ExprKind::Test, at);
    test->object = std::move(node);
    test->name = name;
    if (at_op("(")) {
      parse_call_args(*test);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Integer ||
                cur().type == Tok::Float || at_op("(") || at_op("[") || at_op("{")) &&
               !at_name("else") && !at_name("or") && !at_name("and")) {
      if (at_name("is")) fail("You cannot chain multiple tests with is");
      test->args.push_back(parse_postfix(parse_primary(false)));
    }
    if (!negated) return seal(std::move(test));
    auto result = make(ExprKind::Not, at);
    result->object = std::move(test);
    return seal(std::move(result));
  }

  std::vector<Token> tokens_;
  size_t index_ = 0;
  std::vector<std::string> tag_stack_;
  std::vector<EndTokens> end_token_stack_;
  int loop_depth_ = 0;
  int expression_depth_ = 0;
  int statement_depth_ = 0;
};

// Jinja rejects unknown filters and tests when compiling, except inside an if-statement or a
// conditional expression ("soft" frames), where the error waits until the filter is called. The
// scopes that start a fresh compiler frame (loop bodies, macros, blocks) are not soft.
void check_names(const Expr* expr, bool soft) {
  if (!expr) return;
  if (expr->kind == ExprKind::CondExpr) soft = true;
  if (!soft && expr->kind == ExprKind::Filter && !is_known_filter(expr->name))
    throw TemplateSyntaxError("No filter named '" + expr->name + "'.", expr->line, expr->column);
  if (!soft && expr->kind == ExprKind::Test && !is_known_test(expr->name))
    throw TemplateSyntaxError("No test named '" + expr->name + "'.", expr->line, expr->column);
  for (const auto& arg : expr->args) check_names(arg.get(), soft);
  for (const auto& kwarg : expr->kwargs) check_names(kwarg.second.get(), soft);
  check_names(expr->dyn_args.get(), soft);
  check_names(expr->dyn_kwargs.get(), soft);
  check_names(expr->object.get(), soft);
  check_names(expr->second.get(), soft);
  check_names(expr->third.get(), soft);
}

void check_names(const Body& body, bool soft) {
  for (const auto& stmt : body) {
    switch (stmt->kind) {
      case StmtKind::If:
        for (const auto& expr : stmt->exprs) check_names(expr.get(), true);
        for (const auto& inner : stmt->bodies) check_names(inner, true);
        break;
      case StmtKind::For:
        check_names(stmt->value.get(), soft);
        check_names(stmt->condition.get(), false);
        for (const auto& inner : stmt->bodies) check_names(inner, false);
        break;
      case StmtKind::Output:
      case StmtKind::Set:
        for (const auto& expr : stmt->exprs) check_names(expr.get(), soft);
        check_names(stmt->value.get(), soft);
        break;
      case StmtKind::CallBlock:
      case StmtKind::With:
        for (const auto& expr : stmt->exprs) check_names(expr.get(), soft);
        check_names(stmt->value.get(), soft);
        for (const auto& expr : stmt->defaults) check_names(expr.get(), false);
        for (const auto& inner : stmt->bodies) check_names(inner, false);
        break;
      default:
        check_names(stmt->value.get(), false);
        for (const auto& expr : stmt->exprs) check_names(expr.get(), false);
        for (const auto& expr : stmt->defaults) check_names(expr.get(), false);
        for (const auto& inner : stmt->bodies) check_names(inner, false);
    }
  }
}

}  // namespace

std::unique_ptr<Template> parse_template(const std::string& source, const ParseOptions& options) {
  Lexer lexer(source, options);
  Parser parser(lexer.run());
  auto result = parser.parse();
  check_names(result->body, false);
  return result;
}

}  // namespace jamba::chat_template
