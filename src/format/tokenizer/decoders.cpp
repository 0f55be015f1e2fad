// Decoders (tokenizers/src/decoders): token strings back to text, in a chain.
#include "format/tokenizer/byte_level.h"
#include "format/tokenizer/components.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

class ByteFallback : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t byte_count = 0;
    auto flush = [&] {
      if (byte_count == 0) return;
      if (find_invalid_utf8(bytes) == std::string::npos) {
        out.push_back(bytes);
      } else {
        for (size_t k = 0; k < byte_count; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      byte_count = 0;
    };
    for (std::string& t : tokens) {
      if (auto b = byte_of(t)) {
        bytes += static_cast<char>(*b);
        ++byte_count;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }
  bool holds_back_trailing_bytes() const override { return true; }

  // "<0xAB>" -> 0xAB, as Rust's u8::from_str_radix(&token[3..5], 16) reads it.
  static std::optional<uint8_t> byte_of(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (t[3] == '+') {
      int lo = hex(t[4]);
      if (lo < 0) return std::nullopt;
      return static_cast<uint8_t>(lo);
    }
    int hi = hex(t[3]), lo = hex(t[4]);
    if (hi < 0 || lo < 0) return std::nullopt;
    return static_cast<uint8_t>(hi * 16 + lo);
  }
};

class Fuse : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    return {all};
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      std::u32string chars;
      size_t i = 0;
      while (i < t.size()) chars += next_code_point(t, i);
      size_t start_cut = 0;
      for (size_t k = 0; k < start_ && k < chars.size(); ++k) {
        if (chars[k] != content_) break;
        start_cut = k + 1;
      }
      size_t stop_cut = chars.size();
      for (size_t k = 0; k < stop_ && k < chars.size(); ++k) {
        size_t index = chars.size() - k - 1;
        if (chars[index] != content_) break;
        stop_cut = index;
      }
      std::string out;
      for (size_t k = start_cut; k < stop_cut; ++k) append_utf8(out, chars[k]);
      t = std::move(out);
    }
    return tokens;
  }
  size_t start() const { return start_; }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepend) : replacement_(replacement), prepend_(prepend) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      size_t k = 0;
      while (k < t.size()) {
        char32_t c = next_code_point(t, k);
        if (c == replacement_) {
          if (!(i == 0 && prepend_)) out += ' ';
        } else {
          append_utf8(out, c);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool prepend_;
};

class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      std::string mapped;
      bool ok = true;
      size_t i = 0;
      while (i < t.size()) {
        auto b = char_to_byte(next_code_point(t, i));
        if (!b) {
          ok = false;
          break;
        }
        mapped += static_cast<char>(*b);
      }
      bytes += ok ? mapped : t;
    }
    return {utf8_lossy(bytes)};
  }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Regex regex, std::string content) : regex_(std::move(regex)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      for (const PatternMatch& m : regex_matches(regex_, t))
        out += m.is_match ? content_ : t.substr(m.start, m.end - m.start);
      t = std::move(out);
    }
    return tokens;
  }

 private:
  Regex regex_;
  std::string content_;
};

class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    return tokens;
  }
  bool holds_back_last_token() const override { return true; }

  static std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) {
      // Rust's str::replace with an empty pattern inserts `to` around every char.
      std::string out = to;
      size_t i = 0;
      while (i < s.size()) {
        size_t b = i;
        next_code_point(s, i);
        out.append(s, b, i - b);
        out += to;
      }
      return out;
    }
    std::string out;
    size_t pos = 0;
    while (true) {
      size_t hit = s.find(from, pos);
      if (hit == std::string::npos) break;
      out.append(s, pos, hit - pos);
      out += to;
      pos = hit + from.size();
    }
    out.append(s, pos, std::string::npos);
    return out;
  }

 private:
  std::string suffix_;
};

std::string wordpiece_cleanup(std::string s) {
  static const std::pair<const char*, const char*> rules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : rules) s = BpeDecoder::replace_all(s, from, to);
  return s;
}

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0) {
          t = t.substr(prefix_.size());
        } else {
          t = " " + t;
        }
      }
      if (cleanup_) t = wordpiece_cleanup(t);
    }
    return tokens;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class CtcDecoder : public Decoder {
 public:
  CtcDecoder(std::string pad, std::string delimiter, bool cleanup)
      : pad_(std::move(pad)), delimiter_(std::move(delimiter)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;
      std::string t = BpeDecoder::replace_all(tokens[i], pad_, "");
      if (cleanup_) t = BpeDecoder::replace_all(wordpiece_cleanup(t), delimiter_, " ");
      if (!t.empty()) out.push_back(std::move(t));
    }
    return out;
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& p : parts_) tokens = p->decode_chain(std::move(tokens));
    return tokens;
  }
  bool holds_back_trailing_bytes() const override {
    for (const auto& p : parts_)
      if (p->holds_back_trailing_bytes()) return true;
    return false;
  }
  bool holds_back_last_token() const override {
    for (const auto& p : parts_)
      if (p->holds_back_last_token()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> decoder_from_json(const JsonView& j) {
  if (!j.is_object()) j.expected("an object");
  const std::string type = j.str("type");
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(json_char(j.at("content")), j.at("start").uint(1u << 30),
                                          j.at("stop").uint(1u << 30));
  if (type == "Metaspace") {
    char32_t replacement = json_char(j.at("replacement"));
    std::string scheme = "always";
    if (auto s = j.find("prepend_scheme")) {
      scheme = s->str();
      if (scheme != "first" && scheme != "never" && scheme != "always")
        s->error("must be \"first\", \"never\" or \"always\", found ", in_quotes(scheme, 60));
    }
    if (auto a = j.find("add_prefix_space"); a && !a->boolean()) {
      if (scheme != "never") a->error("is false but prepend_scheme is not \"never\"");
    }
    return std::make_unique<MetaspaceDecoder>(replacement, scheme != "never");
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(pattern_from_json(j.at("pattern")), j.str("content"));
  if (type == "BPEDecoder") {
    std::string suffix = "</w>";
    if (auto s = j.find("suffix")) suffix = s->str();
    return std::make_unique<BpeDecoder>(suffix);
  }
  if (type == "WordPiece") {
    std::string prefix = "##";
    if (auto p = j.find("prefix")) prefix = p->str();
    return std::make_unique<WordPieceDecoder>(prefix, j.boolean_or("cleanup", true));
  }
  if (type == "CTC") {
    std::string pad = "<pad>", delimiter = "|";
    if (auto p = j.find("pad_token")) pad = p->str();
    if (auto d = j.find("word_delimiter_token")) delimiter = d->str();
    return std::make_unique<CtcDecoder>(pad, delimiter, j.boolean_or("cleanup", true));
  }
  if (type == "Sequence") {
    JsonView list = j.at("decoders");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(decoder_from_json(list[i]));
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  j.at("type").error("names an unknown decoder ", in_quotes(type, 60));
}

}  // namespace jamba::tok
