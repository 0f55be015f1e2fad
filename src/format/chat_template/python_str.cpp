// Python's str: the methods templates call and the formatting they use ("%s" % x, str.format,
// format specs), on UTF-8 text with code-point positions, as CPython defines them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

#include "format/chat_template/library.h"
#include "format/chat_template/unicode.h"

namespace jamba::chat_template {

// ---------------------------------------------------------------------------------------------
// Python str operations on UTF-8 text.

std::u32string strip_set(const Value& chars, const char* method) {
  if (chars.is_none() || chars.is_undefined()) return {};
  if (!chars.is_string()) raise(std::string(method) + " arg must be None or str");
  return to_u32(chars.as_string());
}

std::string py_strip(const std::string& text, const std::optional<std::u32string>& chars, bool left, bool right) {
  const std::u32string wide = to_u32(text);
  auto strip = [&](char32_t c) {
    return chars ? chars->find(c) != std::u32string::npos : py_isspace(c);
  };
  size_t begin = 0, end = wide.size();
  if (left)
    while (begin < end && strip(wide[begin])) ++begin;
  if (right)
    while (end > begin && strip(wide[end - 1])) --end;
  return to_utf8(wide.substr(begin, end - begin));
}

// Full case mapping: the simple one-to-one mapping plus the one-to-many special cases Python
// applies (ß -> SS, ligatures, İ -> i̇) and the titlecase digraphs (ǆ -> ǅ).
namespace {

// A run of decimal digits in a format string (width, precision, field index), read with an
// upper bound as Python does ("Too many decimal digits in format string").
template <typename String>
int64_t read_format_number(const String& s, size_t& i) {
  constexpr int64_t kMaxFormatNumber = 1'000'000'000;
  int64_t value = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    value = value * 10 + (s[i++] - '0');
    if (value > kMaxFormatNumber) raise("Too many decimal digits in format string");
  }
  return value;
}

void append_upper(std::string& out, char32_t c) {
  switch (c) {
    case 0x00DF: out += "SS"; return;
    case 0x0149: out += "\u02BCN"; return;
    case 0x0587: out += "\u0535\u0552"; return;
    case 0xFB00: out += "FF"; return;
    case 0xFB01: out += "FI"; return;
    case 0xFB02: out += "FL"; return;
    case 0xFB03: out += "FFI"; return;
    case 0xFB04: out += "FFL"; return;
    case 0xFB05:
    case 0xFB06: out += "ST"; return;
    case 0x01C5: case 0x01C6: append_utf8(out, 0x01C4); return;
    case 0x01C8: case 0x01C9: append_utf8(out, 0x01C7); return;
    case 0x01CB: case 0x01CC: append_utf8(out, 0x01CA); return;
    case 0x01F2: case 0x01F3: append_utf8(out, 0x01F1); return;
    default: append_utf8(out, chat_template::py_upper(c));
  }
}

void append_lower(std::string& out, char32_t c) {
  switch (c) {
    case 0x0130: out += "i\u0307"; return;
    case 0x01C4: case 0x01C5: append_utf8(out, 0x01C6); return;
    case 0x01C7: case 0x01C8: append_utf8(out, 0x01C9); return;
    case 0x01CA: case 0x01CB: append_utf8(out, 0x01CC); return;
    case 0x01F1: case 0x01F2: append_utf8(out, 0x01F3); return;
    default: append_utf8(out, chat_template::py_lower(c));
  }
}

void append_title(std::string& out, char32_t c) {
  switch (c) {
    case 0x00DF: out += "Ss"; return;
    case 0xFB00: out += "Ff"; return;
    case 0xFB01: out += "Fi"; return;
    case 0xFB02: out += "Fl"; return;
    case 0xFB03: out += "Ffi"; return;
    case 0xFB04: out += "Ffl"; return;
    case 0xFB05:
    case 0xFB06: out += "St"; return;
    case 0x01C4: case 0x01C5: case 0x01C6: append_utf8(out, 0x01C5); return;
    case 0x01C7: case 0x01C8: case 0x01C9: append_utf8(out, 0x01C8); return;
    case 0x01CA: case 0x01CB: case 0x01CC: append_utf8(out, 0x01CB); return;
    case 0x01F1: case 0x01F2: case 0x01F3: append_utf8(out, 0x01F2); return;
    default: append_upper(out, c);
  }
}

bool is_cased(char32_t c) { return py_iscased(c) || (c >= 0x01C4 && c <= 0x01CC) || (c >= 0x01F1 && c <= 0x01F3) || (c >= 0xFB00 && c <= 0xFB06); }

}  // namespace

std::string py_lower(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) append_lower(out, next_code_point(text, pos));
  return out;
}

std::string py_upper(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) append_upper(out, next_code_point(text, pos));
  return out;
}

std::string py_capitalize(const std::string& text) {
  std::string out;
  bool first = true;
  for (size_t pos = 0; pos < text.size(); first = false) {
    const char32_t c = next_code_point(text, pos);
    if (first) append_title(out, c);
    else append_lower(out, c);
  }
  return out;
}

// str.title(): a cased character after an uncased one is title-cased, others lower-cased.
std::string py_title(const std::string& text) {
  std::string out;
  bool previous_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = next_code_point(text, pos);
    if (previous_cased) append_lower(out, c);
    else append_title(out, c);
    previous_cased = is_cased(c);
  }
  return out;
}

std::string py_swapcase(const std::string& text) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = next_code_point(text, pos);
    if (py_isupper_char(c)) append_lower(out, c);
    else if (py_islower_char(c)) append_upper(out, c);
    else append_utf8(out, c);
  }
  return out;
}

// Jinja's `title` filter: upper-case the first character of each word, where words start after
// whitespace, '-', '(', '{', '[' or '<', and lower-case the rest.
std::string jinja_title(const std::string& text) {
  const std::u32string wide = to_u32(text);
  std::string out;
  auto separator = [](char32_t c) {
    return py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
  };
  size_t i = 0;
  while (i < wide.size()) {
    if (separator(wide[i])) {
      while (i < wide.size() && separator(wide[i])) append_utf8(out, wide[i++]);
      continue;
    }
    append_upper(out, wide[i++]);
    while (i < wide.size() && !separator(wide[i])) append_lower(out, wide[i++]);
  }
  return out;
}

std::string py_replace(Interpreter& interpreter, const std::string& text, const std::string& old,
                       const std::string& replacement, int64_t count) {
  if (count < 0) count = std::numeric_limits<int64_t>::max();
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    int64_t done = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      if (done < count) {
        out += replacement;
        ++done;
      }
      if (pos == text.size()) break;
      const size_t start = pos;
      next_code_point(text, pos);
      out.append(text, start, pos - start);
      interpreter.check_size(out.size());
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (done < count) {
    const size_t found = text.find(old, pos);
    if (found == std::string::npos) break;
    out.append(text, pos, found - pos);
    out += replacement;
    interpreter.check_size(out.size());
    pos = found + old.size();
    ++done;
  }
  out.append(text, pos, std::string::npos);
  interpreter.check_size(out.size());
  return out;
}

ValueList py_split(const std::string& text, const Value& separator, int64_t maxsplit) {
  ValueList parts;
  if (maxsplit < 0) maxsplit = std::numeric_limits<int64_t>::max();
  if (separator.is_none() || separator.is_undefined()) {
    const std::u32string wide = to_u32(text);
    size_t i = 0;
    const size_t n = wide.size();
    while (true) {
      while (i < n && py_isspace(wide[i])) ++i;
      if (i >= n) break;
      if (static_cast<int64_t>(parts.size()) >= maxsplit) {
        size_t end = n;
        while (end > i && py_isspace(wide[end - 1])) --end;
        parts.push_back(Value::string(to_utf8(wide.substr(i, end - i))));
        break;
      }
      size_t j = i;
      while (j < n && !py_isspace(wide[j])) ++j;
      parts.push_back(Value::string(to_utf8(wide.substr(i, j - i))));
      i = j;
    }
    return parts;
  }
  if (!separator.is_string()) raise("must be str or None, not " + type_name(separator));
  const std::string& sep = separator.as_string();
  if (sep.empty()) raise("empty separator");
  size_t pos = 0;
  while (static_cast<int64_t>(parts.size()) < maxsplit) {
    const size_t found = text.find(sep, pos);
    if (found == std::string::npos) break;
    parts.push_back(Value::string(text.substr(pos, found - pos)));
    pos = found + sep.size();
  }
  parts.push_back(Value::string(text.substr(pos)));
  return parts;
}

ValueList py_rsplit(const std::string& text, const Value& separator, int64_t maxsplit) {
  if (maxsplit < 0) return py_split(text, separator, maxsplit);
  ValueList parts;
  if (separator.is_none() || separator.is_undefined()) {
    const std::u32string wide = to_u32(text);
    int64_t j = static_cast<int64_t>(wide.size());
    while (true) {
      while (j > 0 && py_isspace(wide[j - 1])) --j;
      if (j <= 0) break;
      if (static_cast<int64_t>(parts.size()) >= maxsplit) {
        size_t begin = 0;
        while (begin < static_cast<size_t>(j) && py_isspace(wide[begin])) ++begin;
        parts.push_back(Value::string(to_utf8(wide.substr(begin, j - begin))));
        break;
      }
      int64_t i = j;
      while (i > 0 && !py_isspace(wide[i - 1])) --i;
      parts.push_back(Value::string(to_utf8(wide.substr(i, j - i))));
      j = i;
    }
    std::reverse(parts.begin(), parts.end());
    return parts;
  }
  if (!separator.is_string()) raise("must be str or None, not " + type_name(separator));
  const std::string& sep = separator.as_string();
  if (sep.empty()) raise("empty separator");
  size_t end = text.size();
  while (static_cast<int64_t>(parts.size()) < maxsplit) {
    if (end < sep.size()) break;
    const size_t found = text.rfind(sep, end - sep.size());
    if (found == std::string::npos) break;
    parts.push_back(Value::string(text.substr(found + sep.size(), end - found - sep.size())));
    end = found;
  }
  parts.push_back(Value::string(text.substr(0, end)));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

ValueList py_splitlines(const std::string& text, bool keepends) {
  ValueList lines;
  const std::u32string wide = to_u32(text);
  size_t start = 0, i = 0;
  while (i < wide.size()) {
    if (!py_islinebreak(wide[i])) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    if (wide[i] == '\r' && end < wide.size() && wide[end] == '\n') ++end;
    lines.push_back(Value::string(to_utf8(wide.substr(start, (keepends ? end : i) - start))));
    start = i = end;
  }
  if (start < wide.size()) lines.push_back(Value::string(to_utf8(wide.substr(start))));
  return lines;
}

std::string py_pad(const std::string& text, int64_t width, const std::string& fill, char align) {
  const int64_t length = static_cast<int64_t>(code_point_count(text));
  if (width <= length) return text;
  const int64_t margin = width - length;
  int64_t left = 0;
  if (align == '>') left = margin;
  else if (align == '^') left = margin / 2 + (margin & width & 1);
  const int64_t right = margin - left;
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += text;
  for (int64_t i = 0; i < right; ++i) out += fill;
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Code-point offsets for str.find / startswith start/end arguments.
namespace {

std::pair<size_t, size_t> span_args(const std::u32string& text, const Bound& args, size_t start_index) {
  const int64_t n = static_cast<int64_t>(text.size());
  auto adjust = [&](std::optional<Value> v, int64_t fallback) {
    if (!v) return fallback;
    if (!v->is_integral()) raise("slice indices must be integers or None or have an __index__ method");
    int64_t i = v->as_int();
    if (i < 0) i = std::max<int64_t>(0, i + n);
    return std::min(i, n);
  };
  const int64_t start = adjust(args.optional(start_index), 0);
  const int64_t end = adjust(args.optional(start_index + 1), n);
  return {static_cast<size_t>(start), static_cast<size_t>(std::max(start, end))};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Python number parsing and formatting.

namespace {

std::string strip_underscores(const std::string& text, bool* ok) {
  // Underscores are allowed only between digits.
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_') {
      if (i == 0 || i + 1 >= text.size() || !std::isalnum(static_cast<unsigned char>(text[i - 1])) ||
          !std::isalnum(static_cast<unsigned char>(text[i + 1]))) {
        *ok = false;
        return {};
      }
      continue;
    }
    out += text[i];
  }
  return out;
}

}  // namespace

bool parse_python_float(const std::string& input, double* out) {
  const std::string text = py_strip(input, std::nullopt, true, true);
  if (text.empty()) return false;
  std::string lowered = py_lower(text);
  size_t i = 0;
  std::string sign;
  if (lowered[0] == '+' || lowered[0] == '-') {
    sign = lowered.substr(0, 1);
    i = 1;
  }
  const std::string body = lowered.substr(i);
  if (body == "inf" || body == "infinity") {
    *out = sign == "-" ? -INFINITY : INFINITY;
    return true;
  }
  if (body == "nan") {
    *out = NAN;
    return true;
  }
  bool ok = true;
  const std::string digits = strip_underscores(body, &ok);
  if (!ok || digits.empty()) return false;
  // [digits][.digits][e[+-]digits] with at least one mantissa digit.
  size_t p = 0, mantissa_digits = 0;
  while (p < digits.size() && std::isdigit(static_cast<unsigned char>(digits[p]))) ++p, ++mantissa_digits;
  if (p < digits.size() && digits[p] == '.') {
    ++p;
    while (p < digits.size() && std::isdigit(static_cast<unsigned char>(digits[p]))) ++p, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return false;
  if (p < digits.size() && digits[p] == 'e') {
    ++p;
    if (p < digits.size() && (digits[p] == '+' || digits[p] == '-')) ++p;
    size_t exponent_digits = 0;
    while (p < digits.size() && std::isdigit(static_cast<unsigned char>(digits[p]))) ++p, ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  if (p != digits.size()) return false;
  *out = std::strtod((sign + digits).c_str(), nullptr);
  return true;
}

bool parse_python_int(const std::string& input, int base, int64_t* out) {
  std::string text = py_strip(input, std::nullopt, true, true);
  if (text.empty()) return false;
  bool negative = false;
  size_t i = 0;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    i = 1;
  }
  std::string body = py_lower(text.substr(i));
  auto has_prefix = [&](const char* prefix) { return body.size() > 2 && body.compare(0, 2, prefix) == 0; };
  if (base == 0) {
    if (has_prefix("0x")) base = 16;
    else if (has_prefix("0o")) base = 8;
    else if (has_prefix("0b")) base = 2;
    else {
      base = 10;
      if (body.size() > 1 && body[0] == '0' && body.find_first_not_of("0_") != std::string::npos) return false;
    }
  }
  if ((base == 16 && has_prefix("0x")) || (base == 8 && has_prefix("0o")) || (base == 2 && has_prefix("0b"))) {
    body = body.substr(2);
    if (!body.empty() && body[0] == '_') body = body.substr(1);
  }
  bool ok = true;
  const std::string digits = strip_underscores(body, &ok);
  if (!ok || digits.empty() || base < 2 || base > 36) return false;
  int64_t value = 0;
  for (char c : digits) {
    int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c >= 'a' && c <= 'z' ? c - 'a' + 10 : 99);
    if (digit >= base) return false;
    if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, digit, &value))
      raise("integer too large for jamba.cpp's 64-bit template integers");
  }
  *out = negative ? -value : value;
  return true;
}

// Python's format(value, spec) for the common spec forms: [[fill]align][sign][#][0][width][,|_][.precision][type].
std::string format_with_spec(Interpreter& interpreter, const Value& value, const std::string& spec) {
  if (spec.empty()) return py_str(value);
  const std::u32string s = to_u32(spec);
  size_t i = 0;
  std::string fill = " ";
  char align = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (s.size() >= 2 && is_align(s[1])) {
    fill.clear();
    append_utf8(fill, s[0]);
    align = static_cast<char>(s[1]);
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    align = static_cast<char>(s[0]);
    i = 1;
  }
  char sign = '-';
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sign = static_cast<char>(s[i++]);
  bool alternate = false;
  if (i < s.size() && s[i] == '#') alternate = true, ++i;
  if (i < s.size() && s[i] == '0') {
    if (!align) align = '=', fill = "0";
    ++i;
  }
  const int64_t width = read_format_number(s, i);
  char grouping = 0;
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) grouping = static_cast<char>(s[i++]);
  int precision = -1;
  if (i < s.size() && s[i] == '.') {
    ++i;
    precision = static_cast<int>(read_format_number(s, i));
  }
  char type = 0;
  if (i < s.size()) type = static_cast<char>(s[i++]);
  if (i != s.size()) raise("Invalid format specifier '" + spec + "'");
  interpreter.check_size(static_cast<size_t>(std::max<int64_t>(width, 0)));

  std::string body;
  bool negative = false;
  if (value.is_string() || value.is_undefined() || (!value.is_number() && !type)) {
    if (type && type != 's') raise(std::string("Unknown format code '") + type + "' for object of type '" + type_name(value) + "'");
    body = py_str(value);
    if (precision >= 0) body = to_utf8(to_u32(body).substr(0, static_cast<size_t>(precision)));
    return py_pad(body, width, fill, align ? align : '<');
  }
  if (!value.is_number()) raise("unsupported format string passed to " + type_name(value) + ".__format__");
  const bool integral = value.is_integral();
  if (integral && (type == 0 || type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b' || type == 'c')) {
    int64_t v = value.as_int();
    negative = v < 0;
    const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    if (type == 'c') return py_pad(std::string(1, static_cast<char>(v)), width, fill, align ? align : '<');
    const int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
    std::string digits;
    uint64_t m = magnitude;
    do {
      const int d = static_cast<int>(m % static_cast<uint64_t>(base));
      digits += static_cast<char>(d < 10 ? '0' + d : (type == 'X' ? 'A' : 'a') + d - 10);
      m /= static_cast<uint64_t>(base);
    } while (m);
    std::reverse(digits.begin(), digits.end());
    if (grouping && base == 10) {
      std::string grouped;
      for (size_t k = 0; k < digits.size(); ++k) {
        if (k && (digits.size() - k) % 3 == 0) grouped += grouping;
        grouped += digits[k];
      }
      digits = grouped;
    }
    if (alternate && base != 10) digits = std::string("0") + (type == 'X' ? 'X' : type) + digits;
    body = digits;
  } else {
    if (type && std::strchr("eEfFgG%n", type) == nullptr)
      raise(std::string("Unknown format code '") + type + "' for object of type '" + type_name(value) + "'");
    double v = value.as_float();
    negative = std::signbit(v) && !std::isnan(v);
    v = std::fabs(v);
    if (!type && precision < 0) {
      body = integral ? std::to_string(static_cast<int64_t>(v)) : float_repr(v);
    } else {
      char format_type = type ? type : 'g';
      if (format_type == 'n') format_type = 'g';
      if (format_type == '%') v *= 100;
      const int p = precision < 0 ? 6 : std::min(precision, 300);
      const char conversion = format_type == '%' ? 'f' : format_type;
      const std::string c_format = std::string("%") + (alternate ? "#" : "") + ".*" + conversion;
      char buffer[700];
      std::snprintf(buffer, sizeof buffer, c_format.c_str(), p, v);
      body = buffer;
      if (std::isinf(v)) body = std::isupper(static_cast<unsigned char>(conversion)) ? "INF" : "inf";
      if (std::isnan(value.as_float())) body = std::isupper(static_cast<unsigned char>(conversion)) ? "NAN" : "nan";
      if (!type && body.find_first_of(".eEn") == std::string::npos) body += ".0";
      if (format_type == '%') body += '%';
    }
    if (grouping) {
      const size_t point = body.find_first_of(".eE%");
      std::string whole = body.substr(0, point), rest = point == std::string::npos ? "" : body.substr(point);
      std::string grouped;
      for (size_t k = 0; k < whole.size(); ++k) {
        if (k && (whole.size() - k) % 3 == 0) grouped += grouping;
        grouped += whole[k];
      }
      body = grouped + rest;
    }
  }
  std::string sign_text = negative ? "-" : (sign == '+' ? "+" : sign == ' ' ? " " : "");
  if (align == '=') {
    const int64_t length = static_cast<int64_t>(code_point_count(sign_text + body));
    std::string padding;
    for (int64_t k = length; k < width; ++k) padding += fill;
    return sign_text + padding + body;
  }
  return py_pad(sign_text + body, width, fill, align ? align : '>');
}

// str.format(*args, **kwargs).
namespace {

std::string py_str_format(Interpreter& interpreter, const std::string& format, CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  bool used_auto = false, used_manual = false;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      raise("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) raise("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    std::string spec, conversion;
    const size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    const size_t bang = field.find('!');
    if (bang != std::string::npos) {
      conversion = field.substr(bang + 1);
      field = field.substr(0, bang);
    }
    size_t name_end = field.find_first_of(".[");
    const std::string head = field.substr(0, name_end);
    Value value;
    if (head.empty()) {
      if (used_manual) raise("cannot switch from manual field specification to automatic field numbering");
      used_auto = true;
      if (auto_index >= args.positional.size()) raise("Replacement index " + std::to_string(auto_index) + " out of range for positional args tuple");
      value = args.positional[auto_index++];
    } else if (std::all_of(head.begin(), head.end(), [](char d) { return std::isdigit(static_cast<unsigned char>(d)); })) {
      if (used_auto) raise("cannot switch from automatic field numbering to manual field specification");
      used_manual = true;
      size_t digits_end = 0;
      const size_t index = static_cast<size_t>(read_format_number(head, digits_end));
      if (index >= args.positional.size()) raise("Replacement index " + head + " out of range for positional args tuple");
      value = args.positional[index];
    } else {
      const auto it = std::find_if(args.keyword.begin(), args.keyword.end(), [&](const auto& kw) { return kw.first == head; });
      if (it == args.keyword.end()) raise("KeyError: '" + head + "'");
      value = it->second;
    }
    // .attr and [key] lookups
    while (name_end != std::string::npos && name_end < field.size()) {
      if (field[name_end] == '.') {
        const size_t next = field.find_first_of(".[", name_end + 1);
        value = interpreter.getattr(value, field.substr(name_end + 1, next - name_end - 1));
        name_end = next;
      } else {
        const size_t close_bracket = field.find(']', name_end);
        if (close_bracket == std::string::npos) raise("Missing ']' in format string");
        const std::string key = field.substr(name_end + 1, close_bracket - name_end - 1);
        const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char d) { return std::isdigit(static_cast<unsigned char>(d)); });
        size_t digits_end = 0;
        value = interpreter.getitem(value, numeric ? Value::integer(read_format_number(key, digits_end)) : Value::string(key));
        name_end = close_bracket + 1;
      }
    }
    if (conversion == "r" || conversion == "a") value = Value::string(py_repr(value));
    else if (conversion == "s") value = Value::string(py_str(value));
    else if (!conversion.empty()) raise("Unknown conversion specifier " + conversion);
    out += format_with_spec(interpreter, value, spec);
    interpreter.check_size(out.size());
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// str methods

namespace {

const std::set<std::string>& string_method_names() {
  static const std::set<std::string> names = {
      "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index",
      "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace",
      "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix",
      "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip",
      "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"};
  return names;
}

}  // namespace

bool is_string_method(const std::string& name) { return string_method_names().count(name) != 0; }

Value string_method(Interpreter& interpreter, const std::string& text, const std::string& name, CallArgs& args) {
  const std::string what = "str." + name + "()";
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Bound b(what, args, {"chars"});
    std::optional<std::u32string> chars;
    if (auto given = b.optional(0)) chars = strip_set(*given, name.c_str());
    return Value::string(py_strip(text, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    Bound b(what, args, {"sep", "maxsplit"});
    const Value sep = b.get_or(0, Value::none());
    const int64_t maxsplit = b.integer(1, -1);
    return Value::list(name == "split" ? py_split(text, sep, maxsplit) : py_rsplit(text, sep, maxsplit));
  }
  if (name == "splitlines") {
    Bound b(what, args, {"keepends"});
    return Value::list(py_splitlines(text, b.flag(0)));
  }
  if (name == "upper" || name == "lower" || name == "casefold" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    Bound(what, args, {});  // rejects arguments
    if (name == "upper") return Value::string(py_upper(text));
    if (name == "title") return Value::string(py_title(text));
    if (name == "capitalize") return Value::string(py_capitalize(text));
    if (name == "swapcase") return Value::string(py_swapcase(text));
    return Value::string(py_lower(text));
  }
  if (name == "startswith" || name == "endswith") {
    Bound b(what, args, {"prefix", "start", "end"});
    const Value prefix = b.get(0);
    const std::u32string wide = to_u32(text);
    const auto [start, end] = span_args(wide, b, 1);
    const std::u32string span = wide.substr(start, end - start);
    ValueList candidates;
    if (prefix.is_tuple()) candidates = prefix.items();
    else candidates.push_back(prefix);
    for (const Value& candidate : candidates) {
      if (!candidate.is_string())
        raise(name + " first arg must be str or a tuple of str, not " + type_name(candidate));
      const std::u32string needle = to_u32(candidate.as_string());
      if (needle.size() > span.size()) continue;
      if (name == "startswith" ? span.compare(0, needle.size(), needle) == 0
                               : span.compare(span.size() - needle.size(), needle.size(), needle) == 0)
        return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    Bound b(what, args, {"sub", "start", "end"});
    const Value sub = b.get(0);
    if (!sub.is_string()) raise("must be str, not " + type_name(sub));
    const std::u32string wide = to_u32(text);
    const std::u32string needle = to_u32(sub.as_string());
    const auto [start, end] = span_args(wide, b, 1);
    const std::u32string span = wide.substr(start, end - start);
    if (name == "count") {
      if (needle.empty()) return Value::integer(static_cast<int64_t>(span.size()) + 1);
      int64_t count = 0;
      for (size_t pos = span.find(needle); pos != std::u32string::npos; pos = span.find(needle, pos + needle.size())) ++count;
      return Value::integer(count);
    }
    const size_t found = (name == "find" || name == "index") ? span.find(needle) : span.rfind(needle);
    if (found == std::u32string::npos) {
      if (name == "index" || name == "rindex") raise("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<int64_t>(found + start));
  }
  if (name == "replace") {
    Bound b(what, args, {"old", "new", "count"});
    const Value old = b.get(0), replacement = b.get(1);
    if (!old.is_string() || !replacement.is_string()) raise("replace() arguments must be str");
    return Value::string(py_replace(interpreter, text, old.as_string(), replacement.as_string(), b.integer(2, -1)));
  }
  if (name == "join") {
    Bound b(what, args, {"iterable"});
    const ValueList items = interpreter.iterate(b.get(0));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string())
        raise("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(items[i]) + " found");
      if (i) out += text;
      out += items[i].as_string();
      interpreter.check_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "format") return Value::string(py_str_format(interpreter, text, args));
  if (name == "center" || name == "ljust" || name == "rjust") {
    Bound b(what, args, {"width", "fillchar"});
    const int64_t width = b.integer(0, 0);
    interpreter.check_size(static_cast<size_t>(std::max<int64_t>(0, width)));
    const Value fill = b.get_or(1, Value::string(" "));
    if (!fill.is_string() || code_point_count(fill.as_string()) != 1)
      raise("The fill character must be exactly one character long");
    return Value::string(py_pad(text, width, fill.as_string(), name == "center" ? '^' : name == "ljust" ? '<' : '>'));
  }
  if (name == "zfill") {
    Bound b(what, args, {"width"});
    const int64_t width = b.integer(0, 0);
    interpreter.check_size(static_cast<size_t>(std::max<int64_t>(0, width)));
    const int64_t length = static_cast<int64_t>(code_point_count(text));
    if (width <= length) return Value::string(text);
    const bool sign = !text.empty() && (text[0] == '+' || text[0] == '-');
    return Value::string((sign ? text.substr(0, 1) : "") + std::string(static_cast<size_t>(width - length), '0') +
                         (sign ? text.substr(1) : text));
  }
  if (name == "partition" || name == "rpartition") {
    Bound b(what, args, {"sep"});
    const Value sep = b.get(0);
    if (!sep.is_string()) raise("must be str, not " + type_name(sep));
    if (sep.as_string().empty()) raise("empty separator");
    const size_t found = name == "partition" ? text.find(sep.as_string()) : text.rfind(sep.as_string());
    if (found == std::string::npos) {
      if (name == "partition") return Value::tuple({Value::string(text), Value::string(""), Value::string("")});
      return Value::tuple({Value::string(""), Value::string(""), Value::string(text)});
    }
    return Value::tuple({Value::string(text.substr(0, found)), sep, Value::string(text.substr(found + sep.as_string().size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    Bound b(what, args, {"affix"});
    const Value affix = b.get(0);
    if (!affix.is_string()) raise("must be str, not " + type_name(affix));
    const std::string& a = affix.as_string();
    if (name == "removeprefix" && text.compare(0, a.size(), a) == 0) return Value::string(text.substr(a.size()));
    if (name == "removesuffix" && !a.empty() && text.size() >= a.size() &&
        text.compare(text.size() - a.size(), a.size(), a) == 0)
      return Value::string(text.substr(0, text.size() - a.size()));
    return Value::string(text);
  }
  Bound(what, args, {});
  const std::u32string wide = to_u32(text);
  auto all = [&](bool (*predicate)(char32_t)) {
    return Value::boolean(!wide.empty() && std::all_of(wide.begin(), wide.end(), predicate));
  };
  if (name == "isalnum") return all(py_isalnum);
  if (name == "isalpha") return all(py_isalpha);
  if (name == "isdecimal") return all(py_isdecimal);
  if (name == "isdigit") return all(py_isdigit);
  if (name == "isnumeric") return all(py_isnumeric);
  if (name == "isspace") return all(py_isspace);
  if (name == "isascii") return Value::boolean(std::all_of(wide.begin(), wide.end(), [](char32_t c) { return c < 0x80; }));
  if (name == "islower" || name == "isupper") {
    bool cased = false;
    for (char32_t c : wide) {
      if (name == "islower" ? py_isupper_char(c) : py_islower_char(c)) return Value::boolean(false);
      if (py_iscased(c)) cased = true;
    }
    return Value::boolean(cased);
  }
  if (name == "istitle") {
    bool previous_cased = false, cased = false;
    for (char32_t c : wide) {
      if (py_isupper_char(c)) {
        if (previous_cased) return Value::boolean(false);
        previous_cased = cased = true;
      } else if (py_islower_char(c)) {
        if (!previous_cased) return Value::boolean(false);
        previous_cased = cased = true;
      } else {
        previous_cased = false;
      }
    }
    return Value::boolean(cased);
  }
  raise("'str' object has no attribute '" + name + "'");
}

// ---------------------------------------------------------------------------------------------
// printf-style formatting: "fmt" % args

std::string py_percent_format(Interpreter& interpreter, const std::string& format, const Value& args) {
  ValueList positional;
  const bool mapping = args.is_dict();
  if (args.is_tuple()) positional = args.items();
  else positional.push_back(args);
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) raise("incomplete format");
    Value value;
    bool have_value = false;
    if (format[i] == '(') {
      if (!mapping) raise("format requires a mapping");
      const size_t close = format.find(')', i);
      if (close == std::string::npos) raise("incomplete format key");
      const Value* found = args.dict_data()->find(format.substr(i + 1, close - i - 1));
      if (!found) raise("KeyError: '" + format.substr(i + 1, close - i - 1) + "'");
      value = *found;
      have_value = true;
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && std::strchr("-+ #0", format[i])) flags += format[i++];
    auto take = [&]() -> Value {
      if (next >= positional.size()) raise("not enough arguments for format string");
      return positional[next++];
    };
    int64_t width = -1, precision = -1;
    if (i < format.size() && format[i] == '*') {
      width = take().as_int();
      ++i;
    } else {
      if (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) width = read_format_number(format, i);
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      precision = 0;
      if (i < format.size() && format[i] == '*') {
        precision = take().as_int();
        ++i;
      } else {
        precision = read_format_number(format, i);
      }
    }
    while (i < format.size() && std::strchr("hlL", format[i])) ++i;
    if (i >= format.size()) raise("incomplete format");
    const char conversion = format[i];
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (!have_value) value = take();
    interpreter.check_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
    std::string body;
    const bool left = flags.find('-') != std::string::npos;
    const bool zero = flags.find('0') != std::string::npos && !left;
    std::string sign = flags.find('+') != std::string::npos ? "+" : flags.find(' ') != std::string::npos ? " " : "";
    bool numeric = false;
    switch (conversion) {
      case 's': body = py_str(value); break;
      case 'r':
      case 'a': body = py_repr(value); break;
      case 'c':
        if (value.is_string()) body = value.as_string();
        else if (value.is_integral()) append_utf8(body, static_cast<char32_t>(value.as_int()));
        else raise("%c requires int or char");
        break;
      case 'd':
      case 'i':
      case 'u':
      case 'o':
      case 'x':
      case 'X': {
        if (!value.is_number()) raise(std::string("%") + conversion + " format: a real number is required, not " + type_name(value));
        if (value.is_float() && (conversion == 'o' || conversion == 'x' || conversion == 'X'))
          raise(std::string("%") + conversion + " format: an integer is required, not float");
        const int64_t v = value.is_float() ? static_cast<int64_t>(value.as_float()) : value.as_int();
        Value integer = Value::integer(v < 0 ? -v : v);
        std::string spec;
        if (flags.find('#') != std::string::npos && conversion != 'd' && conversion != 'i' && conversion != 'u') spec += '#';
        spec += (conversion == 'i' || conversion == 'u') ? 'd' : conversion;
        body = format_with_spec(interpreter, integer, spec);
        if (precision > static_cast<int64_t>(body.size())) body = std::string(static_cast<size_t>(precision) - body.size(), '0') + body;
        if (v < 0) sign = "-";
        numeric = true;
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!value.is_number()) raise("must be real number, not " + type_name(value));
        const double v = value.as_float();
        const bool alternate = flags.find('#') != std::string::npos;
        const std::string c_format = std::string("%") + (alternate ? "#" : "") + ".*" + conversion;
        char buffer[700];
        std::snprintf(buffer, sizeof buffer, c_format.c_str(), static_cast<int>(precision < 0 ? 6 : std::min<int64_t>(precision, 300)), std::fabs(v));
        body = buffer;
        if (std::isinf(v)) body = conversion >= 'a' ? "inf" : "INF";
        if (std::isnan(v)) body = conversion >= 'a' ? "nan" : "NAN";
        if (std::signbit(v) && !std::isnan(v)) sign = "-";
        numeric = true;
        break;
      }
      default: raise(std::string("unsupported format character '") + conversion + "'");
    }
    if (!numeric && precision >= 0) body = to_utf8(to_u32(body).substr(0, static_cast<size_t>(precision)));
    if (numeric) {
      const int64_t length = static_cast<int64_t>(code_point_count(sign + body));
      if (zero && width > length) body = std::string(static_cast<size_t>(width - length), '0') + body;
      body = sign + body;
    }
    const int64_t length = static_cast<int64_t>(code_point_count(body));
    if (width > length) {
      const std::string padding(static_cast<size_t>(width - length), ' ');
      body = left ? body + padding : padding + body;
    }
    out += body;
    interpreter.check_size(out.size());
  }
  if (!mapping && next < positional.size()) raise("not all arguments converted during string formatting");
  return out;
}

}  // namespace jamba::chat_template
