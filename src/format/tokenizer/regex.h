// Regular expressions for the tokenizer, on PCRE2 (UTF + UCP). HF `tokenizers` compiles the
// patterns of tokenizer.json (Split, Replace) with Oniguruma; `Regex::onig` translates the
// Oniguruma constructs whose meaning differs in PCRE2 (\s \w \d \h classes, \v, \uHHHH, inline
// (?m), line anchors) so that the same pattern matches the same text. Iteration follows the onig
// crate's find_iter: leftmost-first, non-overlapping, an empty match right after a match skipped.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jamba::tok {

class Regex {
 public:
  // `pattern` in Oniguruma syntax, as tokenizer.json holds it. Throws Error("...") describing the
  // problem (the caller adds the file and field).
  static Regex onig(const std::string& pattern);
  // `pattern` already in PCRE2 syntax (the fixed patterns of the HF components).
  static Regex pcre(const std::string& pattern);
  // A pattern that matches `literal` exactly (regex::escape in HF).
  static std::string escape(std::string_view literal);

  // Every match (start, end) in byte offsets, onig crate find_iter semantics.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  // Whether the pattern matches somewhere in `text`.
  bool search(std::string_view text) const;

  const std::string& source() const { return source_; }

 private:
  struct Compiled;
  std::shared_ptr<Compiled> compiled_;
  std::string source_;
};

// Oniguruma -> PCRE2 pattern translation (exposed for tests).
std::string onig_to_pcre2(const std::string& pattern);

}  // namespace jamba::tok
