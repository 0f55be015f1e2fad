// Added tokens (tokenizers/src/tokenizer/added_vocabulary.rs): found in the text before the
// model runs, leftmost-longest, first those matched on the raw text (normalized=false), then,
// after normalizing the rest, those matched on normalized text; with HF's lstrip / rstrip /
// single_word rules. Their pieces keep the whitespace that lstrip/rstrip swallowed.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "format/tokenizer/normalized_string.h"

namespace jamba::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  // Registers `token` with `id`; `normalized_form` is the normalizer's output for its content
  // (only used when token.normalized).
  void add(const AddedToken& token, int32_t id, const std::string& normalized_form);
  void build();

  void extract_and_normalize(PreTokenizedString& text, const Normalizer* normalizer) const;

  std::optional<int32_t> find(const std::string& content) const;
  const AddedToken* token(int32_t id) const;
  // The string decode uses for `id`: the normalized form of a normalized token, else its content.
  const std::string* decode_string(int32_t id) const;
  bool is_special_string(const std::string& s) const { return special_.count(s) > 0; }
  size_t size() const { return by_content_.size(); }
  int64_t max_id() const;
  const std::unordered_map<std::string, int32_t>& contents() const { return by_content_; }

 private:
  struct Trie {
    std::unordered_map<uint64_t, uint32_t> children;
    std::vector<int32_t> terminal{-1};
    bool empty() const { return terminal.size() == 1; }
    void insert(const std::string& s, int32_t id);
    // Longest pattern starting at `pos`: (length, id) or length 0.
    std::pair<size_t, int32_t> longest_at(std::string_view text, size_t pos) const;
  };
  struct Match {
    std::optional<int32_t> id;
    size_t start, end;
  };
  std::vector<Match> find_matches(std::string_view sentence, const Trie& trie) const;
  std::vector<Split> split_with_indices(NormalizedString&& sentence, const Trie& trie) const;

  struct Entry {
    AddedToken token;
    std::string normalized_form;
  };
  std::unordered_map<int32_t, Entry> by_id_;
  std::unordered_map<std::string, int32_t> by_content_;
  std::unordered_set<std::string> special_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace jamba::tok
