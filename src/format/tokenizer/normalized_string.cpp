#include "format/tokenizer/normalized_string.h"

#include <algorithm>

#include "base/error.h"
#include "format/tokenizer/regex.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

PatternMatches regex_matches(const Regex& regex, std::string_view text) {
  if (text.empty()) return {{0, 0, false}};
  PatternMatches out;
  size_t prev = 0;
  for (auto [start, end] : regex.find_all(text)) {
    if (prev != start) out.push_back({prev, start, false});
    out.push_back({start, end, true});
    prev = end;
  }
  if (prev != text.size()) out.push_back({prev, text.size(), false});
  return out;
}

PatternMatches char_matches(std::string_view text, const std::function<bool(char32_t)>& predicate) {
  if (text.empty()) return {{0, 0, false}};
  PatternMatches out;
  size_t last_offset = 0, last_seen = 0, i = 0;
  while (i < text.size()) {
    size_t b = i;
    char32_t c = next_code_point(text, i);
    last_seen = i;
    if (predicate(c)) {
      if (last_offset < b) out.push_back({last_offset, b, false});
      out.push_back({b, i, true});
      last_offset = i;
    }
  }
  if (last_seen > last_offset) out.push_back({last_offset, last_seen, false});
  return out;
}

PatternMatches invert_matches(PatternMatches matches) {
  for (PatternMatch& m : matches) m.is_match = !m.is_match;
  return matches;
}

NormalizedString::NormalizedString(std::string text) : original_(text), normalized_(std::move(text)) {
  alignments_.reserve(normalized_.size());
  size_t i = 0;
  while (i < normalized_.size()) {
    size_t b = i;
    next_code_point(normalized_, i);
    for (size_t k = b; k < i; ++k) alignments_.emplace_back(b, i);
  }
}

std::optional<std::pair<size_t, size_t>> NormalizedString::original_range_of(size_t start, size_t end) const {
  if (start == end) return std::make_pair(start, end);  // HF returns the target itself here
  if (start > end || end > alignments_.size()) return std::nullopt;
  return std::make_pair(alignments_[start].first, alignments_[end - 1].second);
}

std::optional<std::pair<size_t, size_t>> NormalizedString::normalized_range_of_original(size_t start, size_t end) const {
  if (start == end) return std::make_pair(start, end);
  if (start > end) return std::nullopt;
  std::optional<size_t> s, e;
  for (size_t i = 0; i < alignments_.size(); ++i) {
    auto [a0, a1] = alignments_[i];
    if (end < a1) break;
    if (!s && start <= a0 && a0 != a1) s = i;
    e = i + 1;
  }
  if (s && e) return std::make_pair(*s, *e);
  if (s) return std::make_pair(*s, *s);
  if (e) return std::make_pair(*e, *e);
  return std::nullopt;
}

namespace {

bool is_char_boundary(const std::string& s, size_t i) {
  return i == 0 || i == s.size() || (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80);
}

}  // namespace

NormalizedString NormalizedString::slice(size_t start, size_t end) const {
  if (start > end || end > normalized_.size() || !is_char_boundary(normalized_, start) ||
      !is_char_boundary(normalized_, end))
    fail("internal: tokenizer split at a byte that is not a character boundary");
  auto range = original_range_of(start, end);
  if (!range) fail("internal: tokenizer split outside the string");
  NormalizedString out;
  size_t n_shift = range->first;
  if (range->first <= range->second && range->second <= original_.size() && is_char_boundary(original_, range->first) &&
      is_char_boundary(original_, range->second))
    out.original_ = original_.substr(range->first, range->second - range->first);
  out.normalized_ = normalized_.substr(start, end - start);
  out.alignments_.reserve(end - start);
  for (size_t k = start; k < end; ++k) {
    auto [a, b] = alignments_[k];
    out.alignments_.emplace_back(a >= n_shift ? a - n_shift : 0, b >= n_shift ? b - n_shift : 0);
  }
  out.shift_ = shift_ + n_shift;
  return out;
}

void NormalizedString::transform_range(size_t n_start, size_t n_end, const Transformation& dest, size_t initial_offset) {
  // Byte lengths of the chars being replaced, to follow the original offsets along the way.
  std::vector<size_t> replaced;
  for (size_t i = n_start; i < n_end;) {
    size_t b = i;
    next_code_point(normalized_, i);
    replaced.push_back(i - b);
  }
  size_t r = 0;
  size_t offset = n_start;
  for (; r < std::min(initial_offset, replaced.size()); ++r) offset += replaced[r];

  auto alignment_at = [&](size_t idx) -> std::pair<size_t, size_t> {
    if (idx < alignments_.size()) return alignments_[idx];
    return alignments_.empty() ? std::make_pair(size_t{0}, size_t{0}) : alignments_.back();
  };
  std::string text;
  std::vector<std::pair<size_t, size_t>> aligns;
  for (auto [c, change] : dest) {
    size_t idx = offset;
    std::pair<size_t, size_t> align;
    if (change > 0) {
      align = idx < 1 ? std::make_pair(size_t{0}, size_t{0}) : alignment_at(idx - 1);
    } else {
      align = alignment_at(idx);
      if (r < replaced.size()) offset += replaced[r++];
      for (int k = 0; k < -change && r < replaced.size(); ++k) offset += replaced[r++];
    }
    size_t before = text.size();
    append_utf8(text, c);
    aligns.insert(aligns.end(), text.size() - before, align);
  }
  normalized_.replace(n_start, n_end - n_start, text);
  alignments_.erase(alignments_.begin() + static_cast<std::ptrdiff_t>(n_start),
                    alignments_.begin() + static_cast<std::ptrdiff_t>(n_end));
  alignments_.insert(alignments_.begin() + static_cast<std::ptrdiff_t>(n_start), aligns.begin(), aligns.end());
}

void NormalizedString::transform(const Transformation& dest, size_t initial_offset) {
  auto range = normalized_range_of_original(0, original_.size());
  if (!range) return;
  transform_range(range->first, range->second, dest, initial_offset);
}

void NormalizedString::prepend(std::string_view s) {
  if (normalized_.empty()) return;
  size_t i = 0;
  char32_t next = next_code_point(normalized_, i);
  Transformation dest;
  size_t k = 0;
  size_t j = 0;
  while (j < s.size()) dest.emplace_back(next_code_point(s, j), k++ != 0 ? 1 : 0);
  dest.emplace_back(next, 1);
  transform_range(0, i, dest, 0);
}

void NormalizedString::replace(const PatternMatches& matches, std::string_view content) {
  std::string text;
  std::vector<std::pair<size_t, size_t>> aligns;
  text.reserve(normalized_.size());
  aligns.reserve(alignments_.size());
  size_t last_end = 0;
  for (const PatternMatch& m : matches) {
    if (!m.is_match) continue;
    text.append(normalized_, last_end, m.start - last_end);
    aligns.insert(aligns.end(), alignments_.begin() + static_cast<std::ptrdiff_t>(last_end),
                  alignments_.begin() + static_cast<std::ptrdiff_t>(m.start));
    // Every inserted char takes the alignment of the last byte of the match.
    std::pair<size_t, size_t> align{0, 0};
    if (m.end >= 1) align = alignments_[m.end - 1];
    size_t before = text.size();
    text.append(content);
    aligns.insert(aligns.end(), text.size() - before, align);
    last_end = m.end;
  }
  text.append(normalized_, last_end, std::string::npos);
  aligns.insert(aligns.end(), alignments_.begin() + static_cast<std::ptrdiff_t>(last_end), alignments_.end());
  normalized_ = std::move(text);
  alignments_ = std::move(aligns);
}

void NormalizedString::lowercase() {
  Transformation dest;
  size_t i = 0;
  while (i < normalized_.size()) {
    std::u32string lower = to_lowercase(next_code_point(normalized_, i));
    for (size_t k = 0; k < lower.size(); ++k) dest.emplace_back(lower[k], k > 0 ? 1 : 0);
  }
  transform(dest, 0);
}

void NormalizedString::filter(const std::function<bool(char32_t)>& keep) {
  int removed = 0;
  size_t removed_start = 0;
  Transformation dest;
  std::optional<char32_t> last;
  size_t i = 0;
  while (i < normalized_.size()) {
    char32_t c = next_code_point(normalized_, i);
    if (keep(c)) {
      if (last) {
        dest.emplace_back(*last, -removed);
      } else {
        removed_start = static_cast<size_t>(removed);
      }
      last = c;
      removed = 0;
    } else {
      ++removed;
    }
  }
  if (last) dest.emplace_back(*last, -removed);
  transform(dest, removed_start);
}

void NormalizedString::map(const std::function<char32_t(char32_t)>& f) {
  Transformation dest;
  size_t i = 0;
  while (i < normalized_.size()) dest.emplace_back(f(next_code_point(normalized_, i)), 0);
  transform(dest, 0);
}

void NormalizedString::strip(bool left, bool right) {
  std::u32string chars;
  size_t i = 0;
  while (i < normalized_.size()) chars += next_code_point(normalized_, i);
  size_t leading = 0, trailing = 0;
  if (left)
    while (leading < chars.size() && is_white_space(chars[leading])) ++leading;
  if (right)
    while (trailing < chars.size() && is_white_space(chars[chars.size() - 1 - trailing])) ++trailing;
  if (leading == 0 && trailing == 0) return;
  Transformation dest;
  const auto count = static_cast<std::ptrdiff_t>(chars.size());
  // HF compares the char index with the *byte* length here; kept as it is (it only changes
  // alignments of non-ASCII strings, never the text).
  const std::ptrdiff_t marked = static_cast<std::ptrdiff_t>(normalized_.size()) - static_cast<std::ptrdiff_t>(trailing) - 1;
  for (std::ptrdiff_t k = 0; k < count; ++k) {
    if (k < static_cast<std::ptrdiff_t>(leading) || k >= count - static_cast<std::ptrdiff_t>(trailing)) continue;
    dest.emplace_back(chars[static_cast<size_t>(k)], k == marked ? -static_cast<int>(trailing) : 0);
  }
  transform(dest, leading);
}

std::vector<NormalizedString> NormalizedString::split(const PatternMatches& matches, SplitBehavior behavior) const {
  struct Piece {
    size_t start, end;
    bool remove;
  };
  std::vector<Piece> pieces;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const PatternMatch& m : matches) pieces.push_back({m.start, m.end, false});
      break;
    case SplitBehavior::Removed:
      for (const PatternMatch& m : matches) pieces.push_back({m.start, m.end, m.is_match});
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const PatternMatch& m : matches) {
        if (m.is_match == previous && !pieces.empty()) {
          pieces.back().end = m.end;
        } else {
          pieces.push_back({m.start, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const PatternMatch& m : matches) {
        if (m.is_match && !previous && !pieces.empty()) {
          pieces.back().end = m.end;
        } else {
          pieces.push_back({m.start, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous && !pieces.empty()) {
          pieces.back().start = it->start;
        } else {
          pieces.push_back({it->start, it->end, false});
        }
        previous = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  std::vector<NormalizedString> out;
  out.reserve(pieces.size());
  for (const Piece& p : pieces)
    if (!p.remove) out.push_back(slice(p.start, p.end));
  return out;
}

PreTokenizedString::PreTokenizedString(std::string text) {
  splits_.push_back(Split{NormalizedString(std::move(text)), std::nullopt});
}

void PreTokenizedString::split(const std::function<std::vector<Split>(NormalizedString&&)>& fn) {
  std::vector<Split> next;
  next.reserve(splits_.size());
  for (Split& s : splits_) {
    if (s.tokens) {
      next.push_back(std::move(s));
      continue;
    }
    for (Split& piece : fn(std::move(s.normalized)))
      if (!piece.normalized.empty()) next.push_back(std::move(piece));
  }
  splits_ = std::move(next);
}

void PreTokenizedString::split_normalized(const std::function<std::vector<NormalizedString>(NormalizedString&&)>& fn) {
  split([&](NormalizedString&& n) {
    std::vector<Split> out;
    for (NormalizedString& piece : fn(std::move(n))) out.push_back(Split{std::move(piece), std::nullopt});
    return out;
  });
}

void PreTokenizedString::normalize(const std::function<void(NormalizedString&)>& fn) {
  for (Split& s : splits_)
    if (!s.tokens) fn(s.normalized);
}

void PreTokenizedString::tokenize(const std::function<std::vector<Token>(const NormalizedString&)>& fn) {
  for (Split& s : splits_)
    if (!s.tokens) s.tokens = fn(s.normalized);
}

}  // namespace jamba::tok
