// Normalizers (tokenizers/src/normalizers): each rewrites a NormalizedString in place.
#include <array>

#include "format/tokenizer/byte_level.h"
#include "format/tokenizer/components.h"
#include "format/tokenizer/regex.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  void normalize(NormalizedString& s) const override {
    Transformation changes = normalize_changes(s.get(), form_);
    if (!changes.empty()) s.transform(changes, 0);
  }

 private:
  NormalForm form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override { s.lowercase(); }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s) const override {
    if (left_ && right_) {
      s.strip(true, true);
    } else {
      if (left_) s.strip(true, false);
      if (right_) s.strip(false, true);
    }
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) { return !is_combining_mark(c); });
  }
};

class Replace : public Normalizer {
 public:
  Replace(Regex regex, std::string content) : regex_(std::move(regex)), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override { s.replace(regex_matches(regex_, s.get()), content_); }

 private:
  Regex regex_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prepend) : prepend_(std::move(prepend)) {}
  void normalize(NormalizedString& s) const override {
    if (!s.empty()) s.prepend(prepend_);
  }

 private:
  std::string prepend_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(NormalizedString& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    if (!s.empty()) s.transform(byte_level_transformation(s.get()), 0);
  }
};

class Nmt : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) {
      return !((c >= 0x0001 && c <= 0x0008) || c == 0x000B || (c >= 0x000E && c <= 0x001F) || c == 0x007F ||
               c == 0x008F || c == 0x009F);
    });
    s.map([](char32_t c) -> char32_t {
      switch (c) {
        case 0x0009: case 0x000A: case 0x000C: case 0x000D: case 0x1680: case 0x2028: case 0x2029:
        case 0x2581: case 0xFEFF: case 0xFFFD:
          return U' ';
        default:
          return (c >= 0x200B && c <= 0x200F) ? U' ' : c;
      }
    });
  }
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}
  void normalize(NormalizedString& s) const override {
    if (clean_text_) {
      s.filter([](char32_t c) {
        bool control = c != U'\t' && c != U'\n' && c != U'\r' && is_other(c);
        return !(c == 0 || c == 0xFFFD || control);
      });
      s.map([](char32_t c) {
        return (c == U'\t' || c == U'\n' || c == U'\r' || is_white_space(c)) ? U' ' : c;
      });
    }
    if (chinese_) {
      Transformation dest;
      size_t i = 0;
      const std::string& text = s.get();
      while (i < text.size()) {
        char32_t c = next_code_point(text, i);
        if (is_chinese(c)) {
          dest.emplace_back(U' ', 0);
          dest.emplace_back(c, 1);
          dest.emplace_back(U' ', 1);
        } else {
          dest.emplace_back(c, 0);
        }
      }
      s.transform(dest, 0);
    }
    if (strip_accents_) {
      Transformation nfd = normalize_changes(s.get(), NormalForm::NFD);
      if (!nfd.empty()) s.transform(nfd, 0);
      s.filter([](char32_t c) { return !is_mark_nonspacing(c); });
    }
    if (lowercase_) s.lowercase();
  }

 private:
  static bool is_chinese(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

}  // namespace

// A Replace / Split pattern: {"String": "..."} or {"Regex": "..."}.
Regex pattern_from_json(const JsonView& j) {
  if (!j.is_object() || j.json().size() != 1) j.expected("an object {\"String\": ...} or {\"Regex\": ...}");
  if (auto s = j.find("String")) return Regex::pcre(Regex::escape(s->str()));
  if (auto r = j.find("Regex")) {
    std::string pattern = r->str();
    try {
      return Regex::onig(pattern);
    } catch (const Error& e) {
      r->error(e.what());
    }
  }
  j.expected("an object {\"String\": ...} or {\"Regex\": ...}");
}

char32_t json_char(const JsonView& j) {
  std::string s = j.str();
  if (s.empty() || find_invalid_utf8(s) != std::string::npos || count_code_points(s) != 1)
    j.error("must be a single character, found ", describe_json(j.json()));
  size_t i = 0;
  return next_code_point(s, i);
}

std::unique_ptr<Normalizer> normalizer_from_json(const JsonView& j) {
  if (!j.is_object()) j.expected("an object");
  const std::string type = j.str("type");
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") return std::make_unique<Strip>(j.boolean("strip_left"), j.boolean("strip_right"));
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Replace") return std::make_unique<Replace>(pattern_from_json(j.at("pattern")), j.str("content"));
  if (type == "Prepend") return std::make_unique<Prepend>(j.str("prepend"));
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "BertNormalizer" || type == "Bert") {
    bool lowercase = j.boolean_or("lowercase", true);
    bool strip = lowercase;
    if (auto s = j.find("strip_accents")) strip = s->boolean();
    return std::make_unique<BertNormalizer>(j.boolean_or("clean_text", true), j.boolean_or("handle_chinese_chars", true),
                                            strip, lowercase);
  }
  if (type == "Sequence") {
    JsonView list = j.at("normalizers");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(normalizer_from_json(list[i]));
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "Precompiled")
    j.at("type").error("is 'Precompiled' (a SentencePiece charsmap normalizer), which jamba.cpp does not implement");
  j.at("type").error("names an unknown normalizer ", in_quotes(type, 60));
}

}  // namespace jamba::tok
