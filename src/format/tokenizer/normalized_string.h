// The string model of HF `tokenizers`: a NormalizedString keeps the original text, the
// normalized text and, for every normalized byte, the original range it came from. Components
// transform it, split it and slice it exactly as HF does, because some decisions depend on
// where a piece came from (Metaspace "first" prepends only to the piece that starts at original
// offset 0). A PreTokenizedString is the list of pieces, some already turned into tokens.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jamba::tok {

class Regex;

// One piece of a pattern scan: [start, end) in bytes, and whether it is a match.
struct PatternMatch {
  size_t start = 0;
  size_t end = 0;
  bool is_match = false;
};
using PatternMatches = std::vector<PatternMatch>;

// The scans of HF's Pattern implementations (they cover the whole input, in order).
PatternMatches regex_matches(const Regex& regex, std::string_view text);
PatternMatches char_matches(std::string_view text, const std::function<bool(char32_t)>& predicate);
PatternMatches invert_matches(PatternMatches matches);

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// (char, change): 0 replaces the next original char, +1 inserts, -n replaces and removes n more.
using Transformation = std::vector<std::pair<char32_t, int>>;

class NormalizedString {
 public:
  NormalizedString() = default;
  explicit NormalizedString(std::string text);

  const std::string& get() const { return normalized_; }
  const std::string& original() const { return original_; }
  bool empty() const { return normalized_.empty(); }
  size_t size() const { return normalized_.size(); }
  // (start, end) of this piece in the original input.
  std::pair<size_t, size_t> offsets_original() const { return {shift_, shift_ + original_.size()}; }

  // The piece of the normalized string [start, end) (bytes, on char boundaries).
  NormalizedString slice(size_t start, size_t end) const;

  void transform_range(size_t start, size_t end, const Transformation& dest, size_t initial_offset);
  void transform(const Transformation& dest, size_t initial_offset);

  void prepend(std::string_view s);
  void replace(const PatternMatches& matches, std::string_view content);
  void lowercase();
  void filter(const std::function<bool(char32_t)>& keep);
  void map(const std::function<char32_t(char32_t)>& f);
  void strip(bool left, bool right);
  std::vector<NormalizedString> split(const PatternMatches& matches, SplitBehavior behavior) const;

 private:
  // The original range covered by normalized bytes [start, end), as HF's convert_offsets.
  std::optional<std::pair<size_t, size_t>> original_range_of(size_t start, size_t end) const;
  // The normalized range covered by the whole original (HF Range::Original(..)).
  std::optional<std::pair<size_t, size_t>> normalized_range_of_original(size_t start, size_t end) const;

  std::string original_;
  std::string normalized_;
  std::vector<std::pair<size_t, size_t>> alignments_;  // per normalized byte
  size_t shift_ = 0;
};

struct Token {
  int32_t id = 0;
  std::string value;
};

struct Split {
  NormalizedString normalized;
  std::optional<std::vector<Token>> tokens;
};

class PreTokenizedString {
 public:
  explicit PreTokenizedString(std::string text);

  // Replaces every piece without tokens by what `fn` makes of it; empty pieces are dropped.
  void split(const std::function<std::vector<Split>(NormalizedString&&)>& fn);
  void split_normalized(const std::function<std::vector<NormalizedString>(NormalizedString&&)>& fn);
  void normalize(const std::function<void(NormalizedString&)>& fn);
  void tokenize(const std::function<std::vector<Token>(const NormalizedString&)>& fn);

  std::vector<Split>& splits() { return splits_; }
  const std::vector<Split>& splits() const { return splits_; }

 private:
  std::vector<Split> splits_;
};

}  // namespace jamba::tok
