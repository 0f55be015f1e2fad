#include "format/tokenizer/unicode.h"

#include "base/utf8.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "base/error.h"

namespace jamba::tok {

size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 1;
}

char32_t next_code_point(std::string_view s, size_t& i) {
  unsigned char b0 = static_cast<unsigned char>(s[i]);
  size_t n = utf8_sequence_length(b0);
  if (n == 1 || i + n > s.size()) {
    ++i;
    return b0;
  }
  char32_t c = b0 & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return c;
}

size_t utf8_length(char32_t c) {
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c < 0x10000) return 3;
  return 4;
}

void append_utf8(std::string& out, char32_t c) { append_utf8_code_point(out, c); }

std::string utf8_of(char32_t c) {
  std::string s;
  append_utf8(s, c);
  return s;
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

namespace {

// Length of the well-formed sequence at s[i], or 0 with `consumed` set to the length of its
// maximal ill-formed subpart (at least 1). Table 3-7 of the Unicode standard.
size_t well_formed_at(std::string_view s, size_t i, size_t& consumed) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 == 0xE0) {
    n = 3, lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    n = 3;
  } else if (b0 == 0xED) {
    n = 3, hi = 0x9F;
  } else if (b0 == 0xF0) {
    n = 4, lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    n = 4;
  } else if (b0 == 0xF4) {
    n = 4, hi = 0x8F;
  } else {
    consumed = 1;
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) {
      consumed = k;
      return 0;
    }
    unsigned char b = byte(i + k);
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      consumed = k;
      return 0;
    }
  }
  return n;
}

}  // namespace

size_t find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t consumed = 0;
    size_t n = well_formed_at(s, i, consumed);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    size_t consumed = 0;
    size_t n = well_formed_at(bytes, i, consumed);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += consumed;
    }
  }
  return out;
}

bool is_white_space(char32_t c) { return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE); }

bool is_numeric(char32_t c) {
  int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}

namespace {

// The Unicode version in which `c` was assigned, as major * 100 + minor (0: unassigned).
int unicode_age(char32_t c) {
  UVersionInfo v;
  u_charAge(static_cast<UChar32>(c), v);
  return v[0] * 100 + v[1];
}

// HF takes general categories from the `unicode_categories` crate, whose tables are Unicode 8.0,
// and combining marks / normalization from `unicode-normalization-alignments` (Unicode 9.0).
// Characters assigned later are unknown to them; ICU answers for the rest. The few characters
// whose category changed since are listed where they matter.
constexpr int kCategoriesVersion = 800;
constexpr int kNormalizationVersion = 900;

bool known_to(char32_t c, int version) {
  int age = unicode_age(c);
  return age != 0 && age <= version;
}

}  // namespace

bool is_punctuation(char32_t c) {
  if (c == 0x166D || c == 0x111C9) return true;  // Po in Unicode 8.0 (now So, Mn)
  if (!known_to(c, kCategoriesVersion)) return false;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

bool is_ascii_punctuation(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

bool is_combining_mark(char32_t c) {
  if (c == 0x1CF2 || c == 0x1CF3) return true;  // Mc in Unicode 9.0 (now Lo)
  if (c == 0x111C9) return false;               // Po in Unicode 9.0 (now Mn)
  if (!known_to(c, kNormalizationVersion)) return false;
  int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK;
}

bool is_mark_nonspacing(char32_t c) {
  if (c == 0x1734) return true;    // Mn in Unicode 8.0 (now Mc)
  if (c == 0x111C9) return false;  // Po in Unicode 8.0 (now Mn)
  return known_to(c, kCategoriesVersion) && u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK;
}

bool is_other(char32_t c) {
  if (!known_to(c, kCategoriesVersion)) return false;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_PRIVATE_USE_CHAR:
      return true;
    default:
      return false;
  }
}

bool known_to_hf_normalization(char32_t c) { return known_to(c, kNormalizationVersion); }

bool is_rust_regex_word(char32_t c) {
  UChar32 u = static_cast<UChar32>(c);
  if (u_hasBinaryProperty(u, UCHAR_ALPHABETIC) || u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL)) return true;
  int8_t t = u_charType(u);
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK ||
         t == U_DECIMAL_DIGIT_NUMBER || t == U_CONNECTOR_PUNCTUATION;
}

namespace {

const UNormalizer2* normalizer_for(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* n = nullptr;
  switch (form) {
    case NormalForm::NFC: n = unorm2_getNFCInstance(&status); break;
    case NormalForm::NFD: n = unorm2_getNFDInstance(&status); break;
    case NormalForm::NFKC: n = unorm2_getNFKCInstance(&status); break;
    case NormalForm::NFKD: n = unorm2_getNFKDInstance(&status); break;
  }
  if (U_FAILURE(status) || n == nullptr) fail("ICU: cannot load the Unicode normalization data (", u_errorName(status), ")");
  return n;
}

void append_utf16(std::u16string& out, char32_t c) {
  if (c < 0x10000) {
    out += static_cast<char16_t>(c);
  } else {
    c -= 0x10000;
    out += static_cast<char16_t>(0xD800 + (c >> 10));
    out += static_cast<char16_t>(0xDC00 + (c & 0x3FF));
  }
}

std::u32string utf16_to_code_points(const char16_t* s, size_t n) {
  std::u32string out;
  for (size_t i = 0; i < n; ++i) {
    char32_t c = s[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      ++i;
    }
    out += c;
  }
  return out;
}

std::u32string normalize_segment(const UNormalizer2* n, const std::u16string& in) {
  std::u16string out(in.size() * 4 + 8, u'\0');
  UErrorCode status = U_ZERO_ERROR;
  int32_t len = unorm2_normalize(n, reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
                                 reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    out.assign(static_cast<size_t>(len) + 1, u'\0');
    status = U_ZERO_ERROR;
    len = unorm2_normalize(n, reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
                           reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &status);
  }
  if (U_FAILURE(status)) fail("ICU: normalization failed (", u_errorName(status), ")");
  return utf16_to_code_points(out.data(), static_cast<size_t>(len));
}

bool is_normalized(const UNormalizer2* n, std::string_view s) {
  std::u16string u;
  size_t i = 0;
  while (i < s.size()) append_utf16(u, next_code_point(s, i));
  UErrorCode status = U_ZERO_ERROR;
  UBool ok = unorm2_isNormalized(n, reinterpret_cast<const UChar*>(u.data()), static_cast<int32_t>(u.size()), &status);
  return U_SUCCESS(status) && ok;
}

}  // namespace

std::vector<std::pair<char32_t, int>> normalize_changes(std::string_view s, NormalForm form) {
  std::vector<std::pair<char32_t, int>> changes;
  const UNormalizer2* n = normalizer_for(form);
  std::u32string chars;
  bool any_unknown = false;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = next_code_point(s, i);
    chars += c;
    if (c >= 0x80 && !known_to_hf_normalization(c)) any_unknown = true;
  }
  if (!any_unknown && is_normalized(n, s)) return changes;
  size_t start = 0;
  while (start < chars.size()) {
    // A character HF's tables do not know stays as it is and starts a new segment.
    if (chars[start] >= 0x80 && !known_to_hf_normalization(chars[start])) {
      changes.emplace_back(chars[start], 0);
      ++start;
      continue;
    }
    size_t end = start + 1;
    while (end < chars.size() && !unorm2_hasBoundaryBefore(n, static_cast<UChar32>(chars[end])) &&
           (chars[end] < 0x80 || known_to_hf_normalization(chars[end])))
      ++end;
    std::u16string in;
    for (size_t k = start; k < end; ++k) append_utf16(in, chars[k]);
    std::u32string out = normalize_segment(n, in);
    size_t n_in = end - start, n_out = out.size();
    for (size_t k = 0; k < n_out; ++k) changes.emplace_back(out[k], k < n_in ? 0 : 1);
    if (n_out < n_in) {
      if (n_out > 0) {
        changes.back().second = -static_cast<int>(n_in - n_out);
      } else if (!changes.empty() && changes.back().second <= 0) {
        changes.back().second -= static_cast<int>(n_in);
      }
      // (a segment never normalizes to nothing)
    }
    start = end;
  }
  return changes;
}

std::string normalize(std::string_view s, NormalForm form) {
  std::vector<std::pair<char32_t, int>> changes = normalize_changes(s, form);
  if (changes.empty()) return std::string(s);
  std::string out;
  for (const auto& [c, change] : changes) append_utf8(out, c);
  return out;
}

namespace {

std::u32string map_case(char32_t c) {
  std::u16string in;
  append_utf16(in, c);
  char16_t buf[32];
  UErrorCode status = U_ZERO_ERROR;
  // One code point at a time, as Rust's char::to_lowercase (no final-sigma context).
  int32_t len = u_strToLower(reinterpret_cast<UChar*>(buf), 32, reinterpret_cast<const UChar*>(in.data()),
                             static_cast<int32_t>(in.size()), "", &status);
  if (U_FAILURE(status)) return std::u32string(1, c);
  return utf16_to_code_points(buf, static_cast<size_t>(len));
}

}  // namespace

std::u32string to_lowercase(char32_t c) {
  if (c < 0x80) return std::u32string(1, (c >= 'A' && c <= 'Z') ? c + 32 : c);
  return map_case(c);
}

}  // namespace jamba::tok
