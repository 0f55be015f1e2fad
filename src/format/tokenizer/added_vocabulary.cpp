#include "format/tokenizer/added_vocabulary.h"

#include "format/tokenizer/components.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

void AddedVocabulary::Trie::insert(const std::string& s, int32_t id) {
  uint32_t node = 0;
  for (unsigned char b : s) {
    uint64_t k = (uint64_t(node) << 8) | b;
    auto it = children.find(k);
    if (it == children.end()) {
      uint32_t child = static_cast<uint32_t>(terminal.size());
      terminal.push_back(-1);
      children.emplace(k, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  terminal[node] = id;
}

std::pair<size_t, int32_t> AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  uint32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = children.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == children.end()) break;
    node = it->second;
    if (terminal[node] >= 0) best = {i + 1 - pos, terminal[node]};
  }
  return best;
}

void AddedVocabulary::add(const AddedToken& token, int32_t id, const std::string& normalized_form) {
  by_content_[token.content] = id;
  if (token.special) special_.insert(token.content);
  by_id_[id] = Entry{token, normalized_form};
}

void AddedVocabulary::build() {
  raw_trie_ = Trie();
  normalized_trie_ = Trie();
  for (const auto& [id, e] : by_id_) {
    if (e.token.normalized) {
      normalized_trie_.insert(e.normalized_form, id);
    } else {
      raw_trie_.insert(e.token.content, id);
    }
  }
}

std::optional<int32_t> AddedVocabulary::find(const std::string& content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::token(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.token;
}

const std::string* AddedVocabulary::decode_string(int32_t id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  return it->second.token.normalized ? &it->second.normalized_form : &it->second.token.content;
}

int64_t AddedVocabulary::max_id() const {
  int64_t m = -1;
  for (const auto& [id, e] : by_id_) m = std::max<int64_t>(m, id);
  return m;
}

namespace {

// The char before `pos` / at `pos` is a word char (Rust regex \w$ / ^\w).
bool word_before(std::string_view s, size_t pos) {
  if (pos == 0) return false;
  size_t k = pos - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  size_t i = k;
  return is_rust_regex_word(next_code_point(s, i));
}

bool word_after(std::string_view s, size_t pos) {
  if (pos >= s.size()) return false;
  size_t i = pos;
  return is_rust_regex_word(next_code_point(s, i));
}

}  // namespace

std::vector<AddedVocabulary::Match> AddedVocabulary::find_matches(std::string_view sentence, const Trie& trie) const {
  if (sentence.empty()) return {{std::nullopt, 0, 0}};
  if (trie.empty()) return {{std::nullopt, 0, sentence.size()}};
  std::vector<Match> splits;
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < sentence.size()) {
    // Leftmost-longest: the first position where some pattern starts, its longest pattern.
    auto [len, id] = trie.longest_at(sentence, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;
    const Entry& e = by_id_.at(id);
    if (e.token.single_word) {
      bool start_space = start == 0 || !word_before(sentence, start);
      bool stop_space = stop == sentence.size() || !word_after(sentence, stop);
      if (!start_space || !stop_space) continue;
    }
    if (e.token.lstrip) {
      size_t s = start;
      while (s > 0) {
        size_t k = s - 1;
        while (k > 0 && (static_cast<unsigned char>(sentence[k]) & 0xC0) == 0x80) --k;
        size_t i = k;
        if (!is_white_space(next_code_point(sentence, i))) break;
        s = k;
      }
      start = std::max(s, start_offset);
    }
    if (e.token.rstrip) {
      size_t i = stop;
      while (i < sentence.size()) {
        size_t k = i;
        if (!is_white_space(next_code_point(sentence, k))) break;
        i = k;
      }
      stop = i;
    }
    if (start_offset < start) splits.push_back({std::nullopt, start_offset, start});
    splits.push_back({id, start, stop});
    start_offset = stop;
  }
  if (start_offset != sentence.size()) splits.push_back({std::nullopt, start_offset, sentence.size()});
  return splits;
}

std::vector<Split> AddedVocabulary::split_with_indices(NormalizedString&& sentence, const Trie& trie) const {
  std::vector<Split> out;
  for (const Match& m : find_matches(sentence.get(), trie)) {
    // An rstrip match can run past a following match's start; HF slices it as it is.
    size_t start = std::min(m.start, sentence.size()), end = std::min(std::max(m.end, start), sentence.size());
    NormalizedString piece = sentence.slice(start, end);
    if (m.id) {
      std::string value = piece.get();
      out.push_back(Split{std::move(piece), std::vector<Token>{Token{*m.id, std::move(value)}}});
    } else {
      out.push_back(Split{std::move(piece), std::nullopt});
    }
  }
  return out;
}

void AddedVocabulary::extract_and_normalize(PreTokenizedString& text, const Normalizer* normalizer) const {
  text.split([&](NormalizedString&& s) { return split_with_indices(std::move(s), raw_trie_); });
  text.split([&](NormalizedString&& s) {
    if (normalizer) normalizer->normalize(s);
    return split_with_indices(std::move(s), normalized_trie_);
  });
}

}  // namespace jamba::tok
