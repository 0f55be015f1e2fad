#include "format/tokenizer/regex.h"

#include <cctype>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/error.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

// Oniguruma's Unicode classes (src/make_unicode_property_data.py): Word = Alphabetic + Mark +
// Decimal_Number + Connector_Punctuation, Space = White_Space, Digit = Decimal_Number. Below
// U+0100 Oniguruma answers from its ISO-8859-1 table instead (unicode.c), where the superscripts
// and fractions ¹ ² ³ ¼ ½ ¾ are word characters too.
constexpr const char* kWordSet = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}";
constexpr const char* kHexSet = "0-9a-fA-F";

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

class Translator {
 public:
  explicit Translator(const std::string& p) : p_(p) {}

  std::string run() {
    std::string out;
    while (i_ < p_.size()) {
      char c = p_[i_];
      if (c == '\\') {
        out += escape(false, nullptr);
      } else if (c == '[') {
        out += char_class();
      } else if (c == '(' && i_ + 1 < p_.size() && p_[i_ + 1] == '?') {
        out += group_open();
      } else {
        out += c;
        ++i_;
      }
    }
    return out;
  }

 private:
  [[noreturn]] void unsupported(const std::string& what) {
    fail("regex construct ", what, " at offset ", i_, " is not supported");
  }

  // Translates the escape at p_[i_] ('\\'). Inside a class, a complement set (\W, \H) cannot be
  // written as a class item: it is appended to `complements` instead.
  std::string escape(bool in_class, std::vector<std::string>* complements) {
    if (i_ + 1 >= p_.size()) fail("pattern ends with a lone backslash");
    char e = p_[i_ + 1];
    i_ += 2;
    switch (e) {
      case 's': return "\\p{White_Space}";
      case 'S': return "\\P{White_Space}";
      case 'd': return "\\p{Nd}";
      case 'D': return "\\P{Nd}";
      case 'w': return in_class ? std::string(kWordSet) : std::string("[") + kWordSet + "]";
      case 'W':
        if (!in_class) return std::string("[^") + kWordSet + "]";
        complements->push_back(kWordSet);
        return "";
      case 'h': return in_class ? std::string(kHexSet) : std::string("[") + kHexSet + "]";
      case 'H':
        if (!in_class) return std::string("[^") + kHexSet + "]";
        complements->push_back(kHexSet);
        return "";
      case 'v': return "\\x{0B}";
      case 'u': {
        if (i_ + 4 > p_.size()) fail("\\u at offset ", i_ - 2, " needs four hex digits");
        for (size_t k = 0; k < 4; ++k)
          if (!is_hex(p_[i_ + k])) fail("\\u at offset ", i_ - 2, " needs four hex digits");
        std::string hex = p_.substr(i_, 4);
        i_ += 4;
        return "\\x{" + hex + "}";
      }
      case 'y':
      case 'Y':
      case 'O':
      case 'N':
        i_ -= 2;
        unsupported(std::string("\\") + e);
      case 'p':
      case 'P': {
        // \p{Name}, \p{^Name}: PCRE2 accepts both forms.
        if (i_ < p_.size() && p_[i_] == '{') {
          size_t close = p_.find('}', i_);
          if (close == std::string::npos) fail("unterminated \\", e, "{ at offset ", i_ - 2);
          std::string body = p_.substr(i_, close - i_ + 1);
          i_ = close + 1;
          return std::string("\\") + e + body;
        }
        return std::string("\\") + e;
      }
      default: {
        // Everything else means the same in both (\t \n \r \f \e \a \xHH \x{..} \A \z \Z \b \B
        // \G \K \R \X, backreferences, escaped punctuation). Keep a multi-byte char whole.
        std::string out = "\\";
        out += e;
        size_t extra = utf8_sequence_length(static_cast<unsigned char>(e)) - 1;
        out += p_.substr(i_, extra);
        i_ += extra;
        return out;
      }
    }
  }

  std::string char_class() {
    size_t start = i_;
    ++i_;  // '['
    bool negated = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negated = true;
      ++i_;
    }
    std::string items;
    std::vector<std::string> complements;
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) {
        i_ = start;
        fail("unterminated character class at offset ", start);
      }
      char c = p_[i_];
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (c == '\\') {
        items += escape(true, &complements);
      } else if (c == '[') {
        if (i_ + 1 < p_.size() && p_[i_ + 1] == ':') {
          size_t close = p_.find(":]", i_ + 2);
          if (close == std::string::npos) unsupported("'[' inside a character class");
          items += p_.substr(i_, close + 2 - i_);
          i_ = close + 2;
        } else {
          unsupported("nested character class");
        }
      } else if (c == '&' && i_ + 1 < p_.size() && p_[i_ + 1] == '&') {
        unsupported("class intersection '&&'");
      } else {
        size_t n = utf8_sequence_length(static_cast<unsigned char>(c));
        items += p_.substr(i_, n);
        i_ += n;
      }
    }
    if (complements.empty()) return std::string("[") + (negated ? "^" : "") + items + "]";
    std::string out = "(?:";
    if (!negated) {
      bool any = false;
      if (!items.empty()) {
        out += "[" + items + "]";
        any = true;
      }
      for (const std::string& set : complements) {
        if (any) out += "|";
        out += "[^" + set + "]";
        any = true;
      }
    } else {
      // [^ items ¬A ¬B] = not items, and in A, and in B.
      if (!items.empty()) out += "(?![" + items + "])";
      for (size_t k = 1; k < complements.size(); ++k) out += "(?=[" + complements[k] + "])";
      out += "[" + complements[0] + "]";
    }
    return out + ")";
  }

  // "(?" followed by inline options: Oniguruma's (?m) is PCRE2's (?s) (dot matches newline).
  std::string group_open() {
    size_t j = i_ + 2;
    std::string opts;
    while (j < p_.size() && (std::isalpha(static_cast<unsigned char>(p_[j])) || p_[j] == '-')) opts += p_[j++];
    if (opts.empty() || j >= p_.size() || (p_[j] != ')' && p_[j] != ':')) {
      i_ += 2;
      return "(?";
    }
    std::string mapped;
    for (char o : opts) {
      if (o == 'm') {
        mapped += 's';
      } else if (o == 'i' || o == 'x' || o == '-') {
        mapped += o;
      } else {
        unsupported(std::string("inline option '") + o + "'");
      }
    }
    i_ = j;
    return "(?" + mapped;
  }

  const std::string& p_;
  size_t i_ = 0;
};

}  // namespace

std::string onig_to_pcre2(const std::string& pattern) { return Translator(pattern).run(); }

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (n < 0) return cat("PCRE2 error ", code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

}  // namespace

Regex Regex::pcre(const std::string& pattern) {
  Regex r;
  r.source_ = pattern;
  r.compiled_ = std::make_shared<Compiled>();
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(context, PCRE2_NEWLINE_LF);
  int error = 0;
  PCRE2_SIZE offset = 0;
  r.compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                    PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error, &offset, context);
  pcre2_compile_context_free(context);
  if (!r.compiled_->code) fail("cannot compile regex: ", pcre2_message(error), " at offset ", offset);
  r.compiled_->jit = pcre2_jit_compile(r.compiled_->code, PCRE2_JIT_COMPLETE) == 0;
  return r;
}

Regex Regex::onig(const std::string& pattern) {
  if (find_invalid_utf8(pattern) != std::string::npos) fail("pattern is not valid UTF-8");
  Regex r = pcre(onig_to_pcre2(pattern));
  r.source_ = pattern;
  return r;
}

std::string Regex::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u) && c != '_' && u >= 0x20) out += '\\';
    if (u < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\x{";
      out += hex[u >> 4];
      out += hex[u & 15];
      out += "}";
      continue;
    }
    out += c;
  }
  return out;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  size_t last_end = 0;
  bool skip_next_empty = false;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (last_end <= text.size()) {
    int rc = compiled_->jit ? pcre2_jit_match(compiled_->code, subject, text.size(), last_end, 0, md, nullptr)
                            : pcre2_match(compiled_->code, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      fail("regex match failed: ", pcre2_message(rc));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t s = ov[0], e = ov[1];
    if (e < s) s = e;  // \K past the end of the match; never in tokenizer patterns
    last_end = e;
    if (e == s) {
      last_end += e < text.size() ? utf8_sequence_length(static_cast<unsigned char>(text[e])) : 1;
      if (skip_next_empty) {
        skip_next_empty = false;
        continue;
      }
    } else {
      skip_next_empty = true;
    }
    out.emplace_back(s, e);
  }
  pcre2_match_data_free(md);
  return out;
}

bool Regex::search(std::string_view text) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  int rc = pcre2_match(compiled_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                       PCRE2_NO_UTF_CHECK, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

}  // namespace jamba::tok
