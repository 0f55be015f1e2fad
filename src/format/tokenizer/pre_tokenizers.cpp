// Pre-tokenizers (tokenizers/src/pre_tokenizers): each splits the pieces of a PreTokenizedString.
#include "format/tokenizer/byte_level.h"
#include "format/tokenizer/components.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

SplitBehavior behavior_from_json(const JsonView& j) {
  std::string s = j.str();
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  j.error("must be one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous, found ",
          in_quotes(s, 60));
}

class ByteLevelPre : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(PreTokenizedString& p) const override {
    p.split_normalized([&](NormalizedString&& n) {
      if (add_prefix_space_ && (n.get().empty() || n.get()[0] != ' ')) n.prepend(" ");
      if (use_regex_) return n.split(regex_matches(gpt2_regex(), n.get()), SplitBehavior::Isolated);
      return std::vector<NormalizedString>{std::move(n)};
    });
    p.normalize([](NormalizedString& n) { n.transform(byte_level_transformation(n.get()), 0); });
  }

 private:
  bool add_prefix_space_, use_regex_;
};

enum class PrependScheme { First, Never, Always };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), rep_(utf8_of(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(PreTokenizedString& p) const override {
    p.split_normalized([&](NormalizedString&& n) {
      n.replace(char_matches(n.get(), [](char32_t c) { return c == U' '; }), rep_);
      bool starts = n.get().compare(0, rep_.size(), rep_) == 0;
      if (scheme_ == PrependScheme::Always && !starts) n.prepend(rep_);
      if (scheme_ == PrependScheme::First && !starts && n.offsets_original().first == 0) n.prepend(rep_);
      if (split_) {
        char32_t r = replacement_;
        return n.split(char_matches(n.get(), [r](char32_t c) { return c == r; }), SplitBehavior::MergedWithNext);
      }
      return std::vector<NormalizedString>{std::move(n)};
    });
  }

 private:
  char32_t replacement_;
  std::string rep_;
  PrependScheme scheme_;
  bool split_;
};

class SplitPre : public PreTokenizer {
 public:
  SplitPre(Regex regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(PreTokenizedString& p) const override {
    p.split_normalized([&](NormalizedString&& n) {
      PatternMatches m = regex_matches(regex_, n.get());
      if (invert_) m = invert_matches(std::move(m));
      return n.split(m, behavior_);
    });
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits with a per-character predicate (Digits, WhitespaceSplit, Punctuation, CharDelimiterSplit).
class CharSplit : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> predicate, SplitBehavior behavior)
      : predicate_(std::move(predicate)), behavior_(behavior) {}
  void pre_tokenize(PreTokenizedString& p) const override {
    p.split_normalized([&](NormalizedString&& n) { return n.split(char_matches(n.get(), predicate_), behavior_); });
  }

 private:
  std::function<bool(char32_t)> predicate_;
  SplitBehavior behavior_;
};

bool is_bert_punctuation(char32_t c) { return is_ascii_punctuation(c) || is_punctuation(c); }

class Whitespace : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& p) const override {
    // Rust regex \w+|[^\w\s]+ ; \w includes Join_Control there.
    static const Regex re = Regex::pcre(
        "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+|"
        "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}\\p{White_Space}]+");
    p.split_normalized([&](NormalizedString&& n) {
      return n.split(invert_matches(regex_matches(re, n.get())), SplitBehavior::Removed);
    });
  }
};

class BertPre : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& p) const override {
    p.split_normalized([](NormalizedString&& n) {
      return n.split(char_matches(n.get(), is_white_space), SplitBehavior::Removed);
    });
    p.split_normalized([](NormalizedString&& n) {
      return n.split(char_matches(n.get(), is_bert_punctuation), SplitBehavior::Isolated);
    });
  }
};

class FixedLength : public PreTokenizer {
 public:
  explicit FixedLength(size_t length) : length_(length) {}
  void pre_tokenize(PreTokenizedString& p) const override {
    p.split_normalized([&](NormalizedString&& n) {
      std::vector<NormalizedString> out;
      const std::string& text = n.get();
      size_t i = 0;
      while (i < text.size()) {
        size_t start = i;
        for (size_t k = 0; k < length_ && i < text.size(); ++k) next_code_point(text, i);
        out.push_back(n.slice(start, i));
      }
      return out;
    });
  }

 private:
  size_t length_;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(PreTokenizedString& p) const override {
    for (const auto& part : parts_) part->pre_tokenize(p);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const JsonView& j) {
  if (!j.is_object()) j.expected("an object");
  const std::string type = j.str("type");
  if (type == "ByteLevel") {
    j.boolean("trim_offsets");  // required by HF, used for offsets only
    return std::make_unique<ByteLevelPre>(j.boolean("add_prefix_space"), j.boolean_or("use_regex", true));
  }
  if (type == "Metaspace") {
    char32_t replacement = json_char(j.at("replacement"));
    PrependScheme scheme = PrependScheme::Always;
    if (auto s = j.find("prepend_scheme")) {
      std::string v = s->str();
      if (v == "first") {
        scheme = PrependScheme::First;
      } else if (v == "never") {
        scheme = PrependScheme::Never;
      } else if (v == "always") {
        scheme = PrependScheme::Always;
      } else {
        s->error("must be \"first\", \"never\" or \"always\", found ", in_quotes(v, 60));
      }
    }
    if (auto a = j.find("add_prefix_space"); a && !a->boolean()) {
      if (scheme != PrependScheme::Never) a->error("is false but prepend_scheme is not \"never\"");
      scheme = PrependScheme::Never;
    }
    return std::make_unique<Metaspace>(replacement, scheme, j.boolean_or("split", true));
  }
  if (type == "Split")
    return std::make_unique<SplitPre>(pattern_from_json(j.at("pattern")), behavior_from_json(j.at("behavior")),
                                      j.boolean("invert"));
  if (type == "Digits") {
    bool individual = j.boolean("individual_digits");
    return std::make_unique<CharSplit>(is_numeric, individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(is_white_space, SplitBehavior::Removed);
  if (type == "Punctuation") {
    SplitBehavior b = SplitBehavior::Isolated;
    if (auto v = j.find("behavior")) b = behavior_from_json(*v);
    return std::make_unique<CharSplit>(is_bert_punctuation, b);
  }
  if (type == "CharDelimiterSplit") {
    char32_t d = json_char(j.at("delimiter"));
    return std::make_unique<CharSplit>([d](char32_t c) { return c == d; }, SplitBehavior::Removed);
  }
  if (type == "BertPreTokenizer") return std::make_unique<BertPre>();
  if (type == "FixedLength") {
    size_t length = 5;
    if (auto v = j.find("length")) length = v->uint(1u << 30);
    if (length == 0) j.at("length").error("must be positive");
    return std::make_unique<FixedLength>(length);
  }
  if (type == "Sequence") {
    JsonView list = j.at("pretokenizers");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(pre_tokenizer_from_json(list[i]));
    return std::make_unique<SequencePre>(std::move(parts));
  }
  if (type == "UnicodeScripts")
    j.at("type").error("is 'UnicodeScripts', a pre-tokenizer jamba.cpp does not implement");
  j.at("type").error("names an unknown pre-tokenizer ", in_quotes(type, 60));
}

}  // namespace jamba::tok
