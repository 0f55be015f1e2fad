#include "format/chat_template/unicode.h"

#include "base/utf8.h"

namespace jamba::chat_template {

char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  size_t length = 0;
  char32_t code_point = 0;
  char32_t minimum = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, code_point = lead & 0x1F, minimum = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, code_point = lead & 0x0F, minimum = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, code_point = lead & 0x07, minimum = 0x10000;
  }
  bool valid = length != 0 && pos + length <= text.size();
  for (size_t i = 1; valid && i < length; ++i) {
    const unsigned char next = byte(pos + i);
    if ((next & 0xC0) != 0x80) valid = false;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  if (valid && (code_point < minimum || code_point > 0x10FFFF ||
                (code_point >= 0xD800 && code_point <= 0xDFFF)))
    valid = false;
  if (!valid) {
    ++pos;
    return 0xDC00 + lead;
  }
  pos += length;
  return code_point;
}

void append_utf8(std::string& out, char32_t c) {
  if (c >= 0xDC80 && c <= 0xDCFF) {
    out += static_cast<char>(c - 0xDC00);  // an undecodable byte, restored
    return;
  }
  append_utf8_code_point(out, c);
}

std::u32string to_u32(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) out += next_code_point(text, pos);
  return out;
}

std::string to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); ++count) next_code_point(text, pos);
  return count;
}

size_t invalid_utf8_offset(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const char32_t c = next_code_point(text, pos);
    if (c >= 0xDC80 && c <= 0xDCFF) return start;
  }
  return std::string_view::npos;
}

bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool py_islinebreak(char32_t c) {
  return (c >= 0x0A && c <= 0x0D) || (c >= 0x1C && c <= 0x1E) || c == 0x85 || c == 0x2028 ||
         c == 0x2029;
}

bool py_isprintable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c < 0x100) return true;
  if ((c >= 0x0600 && c <= 0x0605) || c == 0x061C || c == 0x06DD || c == 0x070F ||
      c == 0x0890 || c == 0x0891 || c == 0x08E2 || c == 0x1680 || c == 0x180E)
    return false;
  if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
      (c >= 0x205F && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0x3000)
    return false;
  if ((c >= 0xD7FC && c <= 0xF8FF) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) ||
      c == 0xFFFE || c == 0xFFFF)
    return false;
  if (c == 0x110BD || c == 0x110CD || (c >= 0x13430 && c <= 0x1343F) ||
      (c >= 0x1BCA0 && c <= 0x1BCA3) || (c >= 0x1D173 && c <= 0x1D17A) || c == 0xE0001 ||
      (c >= 0xE0020 && c <= 0xE007F) || c >= 0xF0000)
    return false;
  return true;
}

bool py_isalpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c == 0xAA || c == 0xB5 || c == 0xBA) return true;
  if (c >= 0xC0 && c <= 0x2C1) return c != 0xD7 && c != 0xF7;
  if (c >= 0x370 && c <= 0x3FF)
    return c != 0x375 && c != 0x37E && c != 0x384 && c != 0x385 && c != 0x387 && c != 0x3F6 &&
           c != 0x378 && c != 0x379 && !(c >= 0x380 && c <= 0x383) && c != 0x38B && c != 0x38D &&
           c != 0x3A2;
  return (c >= 0x400 && c <= 0x481) || (c >= 0x48A && c <= 0x52F) ||
         (c >= 0x531 && c <= 0x556) || (c >= 0x561 && c <= 0x587) ||
         (c >= 0x5D0 && c <= 0x5EA) || (c >= 0x620 && c <= 0x64A) ||
         (c >= 0x671 && c <= 0x6D3) || (c >= 0x904 && c <= 0x939) ||
         (c >= 0xE01 && c <= 0xE30) || (c >= 0x1100 && c <= 0x11FF) ||
         (c >= 0x1E00 && c <= 0x1FBC) || (c >= 0x3041 && c <= 0x3096) ||
         (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFF21 && c <= 0xFF3A) ||
         (c >= 0xFF41 && c <= 0xFF5A) || (c >= 0xFF66 && c <= 0xFF9F) ||
         (c >= 0x10400 && c <= 0x1044F) || (c >= 0x20000 && c <= 0x3134F);
}

bool py_isdecimal(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  static constexpr char32_t kZeros[] = {0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6,
                                        0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xE50, 0xED0,
                                        0xF20, 0x1040, 0xFF10};
  for (char32_t zero : kZeros)
    if (c >= zero && c <= zero + 9) return true;
  return false;
}

bool py_isdigit(char32_t c) {
  return py_isdecimal(c) || c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0x2070 ||
         (c >= 0x2074 && c <= 0x2079) || (c >= 0x2080 && c <= 0x2089) ||
         (c >= 0x2460 && c <= 0x2468) || (c >= 0x2474 && c <= 0x247C) ||
         (c >= 0x2488 && c <= 0x2490) || c == 0x24EA || (c >= 0x24F5 && c <= 0x24FD) ||
         c == 0x24FF || (c >= 0x2776 && c <= 0x277E) || (c >= 0x2780 && c <= 0x2788) ||
         (c >= 0x278A && c <= 0x2792);
}

bool py_isnumeric(char32_t c) {
  return py_isdigit(c) || (c >= 0xBC && c <= 0xBE) || (c >= 0x2150 && c <= 0x2189) ||
         c == 0x3007 || (c >= 0x3021 && c <= 0x3029);
}

bool py_isalnum(char32_t c) { return py_isalpha(c) || py_isnumeric(c); }

bool py_isword(char32_t c) { return c == '_' || py_isalnum(c); }

namespace {

// A block where upper- and lower-case letters alternate: `upper_even` says whether the even
// code points are the upper-case ones.
struct AlternatingBlock {
  char32_t first, last;
  bool upper_even;
};
constexpr AlternatingBlock kAlternating[] = {
    {0x0100, 0x012F, true},  {0x0132, 0x0137, true},  {0x0139, 0x0148, false},
    {0x014A, 0x0177, true},  {0x0179, 0x017E, false}, {0x01CD, 0x01DC, false},
    {0x01DE, 0x01EF, true},  {0x01F8, 0x021F, true},  {0x0222, 0x0233, true},
    {0x0246, 0x024F, true},  {0x03D8, 0x03EF, true},  {0x0460, 0x0481, true},
    {0x048A, 0x04BF, true},  {0x04C1, 0x04CE, false}, {0x04D0, 0x052F, true},
    {0x1E00, 0x1E95, true},  {0x1EA0, 0x1EFF, true},
};

// A block of upper-case letters whose lower-case partners sit `offset` code points above.
struct ShiftedBlock {
  char32_t first, last, offset;
};
constexpr ShiftedBlock kShifted[] = {
    {'A', 'Z', 32},         {0x00C0, 0x00D6, 32},   {0x00D8, 0x00DE, 32},
    {0x0388, 0x038A, 37},   {0x038E, 0x038F, 63},   {0x0391, 0x03A1, 32},
    {0x03A3, 0x03AB, 32},   {0x0400, 0x040F, 80},   {0x0410, 0x042F, 32},
    {0x0531, 0x0556, 48},   {0xFF21, 0xFF3A, 32},   {0x10400, 0x10427, 40},
};

}  // namespace

char32_t py_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  for (const auto& block : kShifted)
    if (c >= block.first && c <= block.last) return c + block.offset;
  for (const auto& block : kAlternating)
    if (c >= block.first && c <= block.last)
      return ((c % 2 == 0) == block.upper_even) ? c + 1 : c;
  switch (c) {
    case 0x0178: return 0x00FF;
    case 0x0386: return 0x03AC;
    case 0x038C: return 0x03CC;
    case 0x04C0: return 0x04CF;
    case 0x1E9E: return 0x00DF;
    default: return c;
  }
}

char32_t py_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  for (const auto& block : kShifted)
    if (c >= block.first + block.offset && c <= block.last + block.offset) return c - block.offset;
  for (const auto& block : kAlternating)
    if (c >= block.first && c <= block.last)
      return ((c % 2 == 0) == block.upper_even) ? c : c - 1;
  switch (c) {
    case 0x00B5: return 0x039C;
    case 0x00FF: return 0x0178;
    case 0x0131: return 'I';
    case 0x017F: return 'S';
    case 0x03AC: return 0x0386;
    case 0x03C2: return 0x03A3;
    case 0x03CC: return 0x038C;
    case 0x04CF: return 0x04C0;
    default: return c;
  }
}

bool py_iscased(char32_t c) {
  return py_upper(c) != c || py_lower(c) != c || c == 0xDF || c == 0x0130 || c == 0x0149;
}
bool py_isupper_char(char32_t c) { return py_lower(c) != c || c == 0x0130; }
bool py_islower_char(char32_t c) { return py_upper(c) != c || c == 0xDF || c == 0x0149; }

}  // namespace jamba::chat_template
