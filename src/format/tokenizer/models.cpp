// Models (tokenizers/src/models): BPE (merges by rank, byte fallback, unk fusing), Unigram
// (best-scoring segmentation, SentencePiece's optimized Viterbi), WordLevel and WordPiece.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <queue>
#include <unordered_map>

#include "format/tokenizer/components.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

constexpr uint64_t kMaxId = 0x7FFFFFFF;

// A string -> id vocabulary with its reverse, from a JSON object {"token": id}.
struct Vocab {
  std::unordered_map<std::string, int32_t> ids;
  std::unordered_map<int32_t, std::string> tokens;
  int64_t limit = 0;

  void load(const JsonView& j) {
    if (!j.is_object()) j.expected("an object {token: id}");
    ids.reserve(j.json().size());
    for (auto it = j.json().begin(); it != j.json().end(); ++it) {
      const std::string& token = it.key();
      if (find_invalid_utf8(token) != std::string::npos) j.error("holds a token that is not valid UTF-8");
      JsonView idv(it.value(), j.path() + "[" + in_quotes(token, 60) + "]", j.file());
      auto id = static_cast<int32_t>(idv.uint(kMaxId));
      auto [pos, inserted] = tokens.emplace(id, token);
      if (!inserted)
        idv.error("gives id ", id, " to ", in_quotes(token, 60), " but ", in_quotes(pos->second, 60), " already has it");
      ids.emplace(token, id);
      limit = std::max<int64_t>(limit, int64_t{id} + 1);
    }
  }
  std::optional<int32_t> find(std::string_view token) const {
    auto it = ids.find(std::string(token));
    if (it == ids.end()) return std::nullopt;
    return it->second;
  }
  const std::string* token(int32_t id) const {
    auto it = tokens.find(id);
    return it == tokens.end() ? nullptr : &it->second;
  }
};

std::string byte_token(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
  return buf;
}

class Bpe : public Model {
 public:
  explicit Bpe(const JsonView& j) {
    vocab_.load(j.at("vocab"));
    if (auto d = j.find("dropout")) {
      double p = d->number();
      if (!(p >= 0.0 && p <= 1.0)) d->error("is ", p, ", must be between 0 and 1");
      if (p > 0.0) d->error("is ", p, ": BPE dropout samples merges at random, which jamba.cpp does not do");
    }
    if (auto u = j.find("unk_token")) unk_token_ = u->str();
    if (auto p = j.find("continuing_subword_prefix")) prefix_ = p->str();
    if (auto s = j.find("end_of_word_suffix")) suffix_ = s->str();
    fuse_unk_ = j.boolean_or("fuse_unk", false);
    byte_fallback_ = j.boolean_or("byte_fallback", false);
    ignore_merges_ = j.boolean_or("ignore_merges", false);
    load_merges(j.at("merges"));
    if (byte_fallback_)
      for (int b = 0; b < 256; ++b) byte_ids_[b] = vocab_.find(byte_token(static_cast<uint8_t>(b))).value_or(-1);
  }

  std::vector<Token> tokenize(std::string_view sequence) const override {
    std::vector<Token> out;
    if (sequence.empty()) return out;
    if (ignore_merges_) {
      if (auto id = vocab_.find(sequence)) {
        out.push_back({*id, std::string(sequence)});
        return out;
      }
    }
    std::vector<Symbol> symbols = merge_word(sequence);
    out.reserve(symbols.size());
    for (const Symbol& s : symbols) out.push_back({s.c, *vocab_.token(s.c)});
    return out;
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.ids.size(); }
  int64_t id_limit() const override { return vocab_.limit; }

 private:
  struct Symbol {
    int32_t c;
    int64_t prev, next;
    size_t len;
  };
  struct MergeEntry {
    size_t pos;
    uint32_t rank;
    int32_t new_id;
    // std::priority_queue pops the largest: make the lowest rank, then the lowest pos, largest.
    bool operator<(const MergeEntry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

  void load_merges(const JsonView& m) {
    size_t n = m.size();
    merges_.reserve(n);
    bool pair_form = n > 0 && m[0].is_array();
    uint32_t rank = 0;
    for (size_t i = 0; i < n; ++i) {
      JsonView item = m[i];
      std::string a, b;
      if (pair_form) {
        if (!item.is_array() || item.size() != 2 || !item[0].is_string() || !item[1].is_string())
          item.expected("a pair [\"a\", \"b\"] like the first merge");
        a = item[0].str();
        b = item[1].str();
      } else {
        if (!item.is_string()) item.expected("a string \"a b\" like the first merge");
        std::string line = item.str();
        if (line.rfind("#version", 0) == 0) continue;  // merges.txt header kept in some files
        size_t space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
          item.error("is ", in_quotes(line, 60), ", not two tokens separated by one space");
        a = line.substr(0, space);
        b = line.substr(space + 1);
      }
      auto a_id = vocab_.find(a);
      if (!a_id) item.error("merges ", in_quotes(a, 60), ", which is not in the vocabulary");
      auto b_id = vocab_.find(b);
      if (!b_id) item.error("merges ", in_quotes(b, 60), ", which is not in the vocabulary");
      const size_t prefix_len = prefix_ ? prefix_->size() : 0;
      if (b.size() < prefix_len) item.error("merges ", in_quotes(b, 60), ", shorter than the continuing_subword_prefix");
      std::string merged = a + b.substr(prefix_len);
      auto new_id = vocab_.find(merged);
      if (!new_id) item.error("makes ", in_quotes(merged, 60), ", which is not in the vocabulary");
      merges_[key(*a_id, *b_id)] = {rank, *new_id};  // a repeated pair keeps its last rank, as HF
      ++rank;
    }
  }

  int32_t unk_id() const {
    auto id = vocab_.find(*unk_token_);
    if (!id) fail("tokenizer: the BPE unk_token ", in_quotes(*unk_token_, 60), " is not in the vocabulary");
    return *id;
  }

  std::vector<Symbol> merge_word(std::string_view w) const {
    std::vector<Symbol> symbols;
    symbols.reserve(w.size());
    auto add = [&](int32_t c, size_t len) {
      int64_t n = static_cast<int64_t>(symbols.size());
      if (!symbols.empty()) symbols.back().next = n;
      symbols.push_back({c, n - 1, -1, len});
    };
    // A pending unknown piece (id, bytes), added when the next known char comes (or at the end).
    bool has_unk = false;
    int32_t unk = 0;
    size_t unk_len = 0;
    size_t i = 0;
    std::string s;
    while (i < w.size()) {
      size_t start = i;
      next_code_point(w, i);
      size_t byte_len = i - start;
      s.assign(w.substr(start, byte_len));
      if (start != 0 && prefix_) s = *prefix_ + s;
      if (i == w.size() && suffix_) s += *suffix_;
      if (auto id = vocab_.find(s)) {
        if (has_unk) {
          add(unk, unk_len);
          has_unk = false;
        }
        add(*id, byte_len);
        continue;
      }
      if (byte_fallback_) {
        bool all = true;
        for (unsigned char b : s) all = all && byte_ids_[b] >= 0;
        if (all) {
          // HF adds these before a pending unk (which waits for the next known char).
          for (unsigned char b : s) add(byte_ids_[b], 1);
          continue;
        }
      }
      if (unk_token_) {
        if (has_unk && fuse_unk_) {
          unk_len += byte_len;
        } else {
          if (has_unk) add(unk, unk_len);
          unk = unk_id();
          unk_len = byte_len;
          has_unk = true;
        }
      }
    }
    if (has_unk) add(unk, unk_len);
    merge_all(symbols);
    return symbols;
  }

  const std::pair<uint32_t, int32_t>* find_merge(int32_t a, int32_t b) const {
    auto it = merges_.find(key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  }

  void merge_all(std::vector<Symbol>& symbols) const {
    std::priority_queue<MergeEntry> queue;
    for (size_t i = 0; i + 1 < symbols.size(); ++i)
      if (auto m = find_merge(symbols[i].c, symbols[i + 1].c)) queue.push({i, m->first, m->second});
    while (!queue.empty()) {
      MergeEntry top = queue.top();
      queue.pop();
      Symbol& cur = symbols[top.pos];
      if (cur.len == 0 || cur.next == -1) continue;
      size_t next_pos = static_cast<size_t>(cur.next);
      Symbol right = symbols[next_pos];
      auto m = find_merge(cur.c, right.c);
      if (!m || m->second != top.new_id) continue;
      cur.c = top.new_id;
      cur.len += right.len;
      cur.next = right.next;
      symbols[next_pos].len = 0;
      if (right.next > -1 && static_cast<size_t>(right.next) < symbols.size())
        symbols[static_cast<size_t>(right.next)].prev = static_cast<int64_t>(top.pos);
      const Symbol& current = symbols[top.pos];
      if (current.prev >= 0) {
        size_t prev = static_cast<size_t>(current.prev);
        if (auto pm = find_merge(symbols[prev].c, current.c)) queue.push({prev, pm->first, pm->second});
      }
      if (current.next >= 0 && static_cast<size_t>(current.next) < symbols.size()) {
        if (auto nm = find_merge(current.c, symbols[static_cast<size_t>(current.next)].c))
          queue.push({top.pos, nm->first, nm->second});
      }
    }
    std::vector<Symbol> kept;
    kept.reserve(symbols.size());
    for (const Symbol& s : symbols)
      if (s.len != 0) kept.push_back(s);
    symbols = std::move(kept);
  }

  Vocab vocab_;
  std::unordered_map<uint64_t, std::pair<uint32_t, int32_t>> merges_;  // (a, b) -> (rank, merged id)
  std::optional<std::string> unk_token_, prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];
};

// A byte trie over the Unigram pieces: common-prefix search in order of increasing length.
class ByteTrie {
 public:
  ByteTrie() { terminal_.push_back(-1); }
  void insert(const std::string& s, int32_t value) {
    uint32_t node = 0;
    for (unsigned char b : s) {
      uint64_t k = (uint64_t(node) << 8) | b;
      auto it = children_.find(k);
      if (it == children_.end()) {
        uint32_t child = static_cast<uint32_t>(terminal_.size());
        terminal_.push_back(-1);
        children_.emplace(k, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    terminal_[node] = value;
  }
  // Calls f(length, value) for every inserted string that is a prefix of `text`.
  template <typename F>
  void prefixes(std::string_view text, F&& f) const {
    uint32_t node = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      auto it = children_.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[i]));
      if (it == children_.end()) return;
      node = it->second;
      if (terminal_[node] >= 0) f(i + 1, terminal_[node]);
    }
  }

 private:
  std::unordered_map<uint64_t, uint32_t> children_;
  std::vector<int32_t> terminal_;
};

class Unigram : public Model {
 public:
  explicit Unigram(const JsonView& j) {
    JsonView v = j.at("vocab");
    size_t n = v.size();
    if (n > kMaxId) v.error("has too many entries");
    pieces_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      JsonView item = v[i];
      if (!item.is_array() || item.size() != 2) item.expected("a pair [piece, score]");
      std::string piece = item[0].str();
      if (find_invalid_utf8(piece) != std::string::npos) item[0].error("is not valid UTF-8");
      double score = item[1].number();
      pieces_.emplace_back(piece, score);
      ids_[piece] = static_cast<int32_t>(i);  // a repeated piece maps to its last id, as HF
      min_score_ = std::min(min_score_, score);
    }
    for (const auto& [piece, id] : ids_) trie_.insert(piece, id);
    if (auto u = j.find("unk_id")) {
      uint64_t id = u->uint(kMaxId);
      if (n == 0) u->error("is set but the vocabulary is empty");
      if (id >= n) u->error("is ", id, ", outside the vocabulary of ", n, " pieces");
      unk_id_ = static_cast<int32_t>(id);
    }
    byte_fallback_ = j.boolean_or("byte_fallback", false);
  }

  std::vector<Token> tokenize(std::string_view sentence) const override {
    std::vector<Token> out;
    if (sentence.empty()) return out;
    for (std::string& piece : encode(sentence)) {
      auto it = ids_.find(piece);
      if (it != ids_.end()) {
        out.push_back({it->second, std::move(piece)});
        continue;
      }
      if (byte_fallback_) {
        std::vector<Token> bytes;
        for (unsigned char b : piece) {
          std::string name = byte_token(b);
          auto bit = ids_.find(name);
          if (bit == ids_.end()) break;
          bytes.push_back({bit->second, name});
        }
        if (bytes.size() == piece.size()) {
          for (Token& t : bytes) out.push_back(std::move(t));
          continue;
        }
      }
      if (!unk_id_) fail("tokenizer: the Unigram model met an unknown piece but has no unk_id");
      out.push_back({*unk_id_, std::move(piece)});
    }
    return out;
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    auto it = ids_.find(std::string(token));
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  const std::string* id_to_token(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return nullptr;
    return &pieces_[static_cast<size_t>(id)].first;
  }
  size_t vocab_size() const override { return pieces_.size(); }
  int64_t id_limit() const override { return static_cast<int64_t>(pieces_.size()); }

 private:
  // SentencePiece's optimized Viterbi (unigram_model.cc), as HF encode_optimized.
  std::vector<std::string> encode(std::string_view sentence) const {
    struct Node {
      int32_t id = 0;
      double score = 0;
      std::optional<size_t> starts_at;
    };
    const double unk_score = min_score_ - 10.0;
    std::vector<Node> best(sentence.size() + 1);
    size_t start = 0;
    while (start < sentence.size()) {
      double till_here = best[start].score;
      size_t mblen = utf8_sequence_length(static_cast<unsigned char>(sentence[start]));
      bool has_single = false;
      trie_.prefixes(sentence.substr(start), [&](size_t length, int32_t id) {
        Node& target = best[start + length];
        double candidate = pieces_[static_cast<size_t>(id)].second + till_here;
        if (!target.starts_at || candidate > target.score) {
          target.score = candidate;
          target.starts_at = start;
          target.id = id;
        }
        if (length == mblen) has_single = true;
      });
      if (!has_single) {
        if (!unk_id_) fail("tokenizer: the Unigram model met an unknown piece but has no unk_id");
        Node& target = best[start + mblen];
        double candidate = unk_score + till_here;
        if (!target.starts_at || candidate > target.score) {
          target.score = candidate;
          target.starts_at = start;
          target.id = *unk_id_;
        }
      }
      start += mblen;
    }
    std::vector<std::string> results;
    std::vector<std::string_view> unk_run;
    size_t end = sentence.size();
    auto flush = [&] {
      if (unk_run.empty()) return;
      std::string fused;
      for (auto it = unk_run.rbegin(); it != unk_run.rend(); ++it) fused += *it;
      results.push_back(std::move(fused));
      unk_run.clear();
    };
    while (end > 0) {
      const Node& node = best[end];
      size_t s = *node.starts_at;
      if (unk_id_ && node.id == *unk_id_) {
        unk_run.push_back(sentence.substr(s, end - s));
      } else {
        flush();
        results.emplace_back(sentence.substr(s, end - s));
      }
      end = s;
    }
    flush();
    std::reverse(results.begin(), results.end());
    return results;
  }

  std::vector<std::pair<std::string, double>> pieces_;
  std::unordered_map<std::string, int32_t> ids_;
  ByteTrie trie_;
  double min_score_ = INFINITY;
  std::optional<int32_t> unk_id_;
  bool byte_fallback_ = false;
};

class WordLevel : public Model {
 public:
  explicit WordLevel(const JsonView& j) {
    vocab_.load(j.at("vocab"));
    if (auto u = j.find("unk_token")) unk_ = u->str();
  }
  std::vector<Token> tokenize(std::string_view token) const override {
    if (auto id = vocab_.find(token)) return {{*id, std::string(token)}};
    if (auto id = vocab_.find(unk_)) return {{*id, unk_}};
    fail("tokenizer: the WordLevel unk_token ", in_quotes(unk_, 60), " is not in the vocabulary");
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.ids.size(); }
  int64_t id_limit() const override { return vocab_.limit; }

 private:
  Vocab vocab_;
  std::string unk_ = "<unk>";
};

class WordPiece : public Model {
 public:
  explicit WordPiece(const JsonView& j) {
    vocab_.load(j.at("vocab"));
    if (auto u = j.find("unk_token")) unk_ = u->str();
    if (auto p = j.find("continuing_subword_prefix")) prefix_ = p->str();
    if (auto m = j.find("max_input_chars_per_word")) max_chars_ = m->uint();
  }
  std::vector<Token> tokenize(std::string_view sequence) const override {
    auto unk = [&]() -> std::vector<Token> {
      auto id = vocab_.find(unk_);
      if (!id) fail("tokenizer: the WordPiece unk_token ", in_quotes(unk_, 60), " is not in the vocabulary");
      return {{*id, unk_}};
    };
    if (count_code_points(sequence) > max_chars_) return unk();
    std::vector<Token> out;
    size_t start = 0;
    while (start < sequence.size()) {
      size_t end = sequence.size();
      bool found = false;
      while (start < end) {
        std::string sub(sequence.substr(start, end - start));
        if (start > 0) sub = prefix_ + sub;
        if (auto id = vocab_.find(sub)) {
          out.push_back({*id, sub});
          found = true;
          break;
        }
        // Step back one char of the sequence.
        size_t k = end - 1;
        while (k > start && (static_cast<unsigned char>(sequence[k]) & 0xC0) == 0x80) --k;
        end = k;
      }
      if (!found) return unk();
      start = end;
    }
    return out;
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.ids.size(); }
  int64_t id_limit() const override { return vocab_.limit; }

 private:
  Vocab vocab_;
  std::string unk_ = "[UNK]";
  std::string prefix_ = "##";
  uint64_t max_chars_ = 100;
};

}  // namespace

std::unique_ptr<Model> model_from_json(const JsonView& j) {
  if (!j.is_object()) j.expected("an object");
  std::string type;
  if (auto t = j.find("type")) {
    type = t->str();
  } else if (j.has("merges")) {
    type = "BPE";  // files written before models carried their type
  } else {
    j.error("has no field 'type' (BPE, Unigram, WordLevel or WordPiece)");
  }
  if (type == "BPE") return std::make_unique<Bpe>(j);
  if (type == "Unigram") return std::make_unique<Unigram>(j);
  if (type == "WordLevel") return std::make_unique<WordLevel>(j);
  if (type == "WordPiece") return std::make_unique<WordPiece>(j);
  j.at("type").error("names an unknown model ", in_quotes(type, 60), " (expected BPE, Unigram, WordLevel or WordPiece)");
}

}  // namespace jamba::tok
