// tokenizer.json: the HF `tokenizers` pipeline (tokenizers/src/tokenizer/mod.rs, serialization.rs).
#include "format/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

constexpr uint64_t kMaxTokenizerJsonBytes = uint64_t{1} << 31;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open the file");
  in.seekg(0, std::ios::end);
  auto size = static_cast<uint64_t>(in.tellg());
  if (size > kMaxTokenizerJsonBytes) fail(path, ": ", size, " bytes is too large for a tokenizer file");
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (!in) fail(path, ": cannot read the file");
  return text;
}

}  // namespace

HfTokenizer::HfTokenizer(const std::string& path) : file_(path) {
  kind_ = "tokenizer.json";
  path_ = path;
  const nlohmann::json doc = parse_json_document(read_file(path), path);
  JsonView root(doc, "", file_);
  if (!root.is_object()) root.expected("a JSON object at the top level");
  if (auto v = root.find("version")) {
    std::string version = v->str();
    if (version != "1.0") v->error("is ", in_quotes(version, 40), ", only \"1.0\" is known");
  }
  model_ = model_from_json(root.at("model"));
  if (auto n = root.find("normalizer")) normalizer_ = normalizer_from_json(*n);
  if (auto p = root.find("pre_tokenizer")) pre_tokenizer_ = pre_tokenizer_from_json(*p);
  if (auto p = root.find("post_processor")) post_processor_ = post_processor_from_json(*p);
  if (auto d = root.find("decoder")) decoder_ = decoder_from_json(*d);
  if (auto t = root.find("truncation")) read_truncation(*t);
  if (auto p = root.find("padding")) read_padding(*p);
  if (auto a = root.find("added_tokens")) read_added_tokens(*a);
  added_.build();

  // Ids the post-processor inserts must exist.
  if (post_processor_) {
    std::vector<Token> probe;
    post_processor_->process(probe, true);
    for (const Token& t : probe)
      if (!has_id(t.id))
        root.at("post_processor").error("adds token ", in_quotes(t.value, 60), " with id ", t.id, ", which is not in the vocabulary");
  }
  if (padding_ && !has_id(padding_->pad_id))
    root.at("padding").error("pad_id ", padding_->pad_id, " is not in the vocabulary");
}

void HfTokenizer::read_added_tokens(const JsonView& list) {
  // HF adds them with add_tokens: a content already in the vocabulary keeps its id, a new one
  // takes the next free id after the model's vocabulary. The file's id must agree.
  int64_t next_id = static_cast<int64_t>(model_->vocab_size());
  for (size_t i = 0; i < list.size(); ++i) {
    JsonView item = list[i];
    if (!item.is_object()) item.expected("an object");
    AddedToken t;
    t.content = item.str("content");
    if (find_invalid_utf8(t.content) != std::string::npos) item.at("content").error("is not valid UTF-8");
    t.single_word = item.boolean_or("single_word", false);
    t.lstrip = item.boolean_or("lstrip", false);
    t.rstrip = item.boolean_or("rstrip", false);
    t.normalized = item.boolean_or("normalized", true);
    t.special = item.boolean_or("special", false);
    auto file_id = static_cast<int32_t>(item.at("id").uint(0x7FFFFFFF));
    if (t.content.empty()) continue;  // HF ignores empty added tokens
    std::optional<int32_t> id = added_.find(t.content);
    if (id) {
      const AddedToken* prev = added_.token(*id);
      if (prev && prev->single_word == t.single_word && prev->lstrip == t.lstrip && prev->rstrip == t.rstrip &&
          prev->normalized == t.normalized && prev->special == t.special) {
        if (*id != file_id) item.at("id").error("is ", file_id, " but ", in_quotes(t.content, 60), " already has id ", *id);
        continue;
      }
      item.error("repeats ", in_quotes(t.content, 60), " with other flags");
    }
    if (!id) id = model_->token_to_id(t.content);
    if (!id) id = static_cast<int32_t>(next_id++);
    if (*id != file_id)
      item.at("id").error("is ", file_id, " but ", in_quotes(t.content, 60), " gets id ", *id,
                          " (the vocabulary's id, or the next id after the model's ", model_->vocab_size(), " tokens)");
    std::string normalized_form = t.content;
    if (t.normalized && normalizer_) {
      NormalizedString n(t.content);
      normalizer_->normalize(n);
      normalized_form = n.get();
    }
    added_.add(t, *id, normalized_form);
  }
}

void HfTokenizer::read_truncation(const JsonView& j) {
  Truncation t;
  t.max_length = j.at("max_length").uint(1u << 31);
  j.at("stride").uint();
  std::string strategy = j.str("strategy");
  if (strategy == "LongestFirst" || strategy == "OnlyFirst") {
    t.only_second = false;
  } else if (strategy == "OnlySecond") {
    t.only_second = true;
  } else {
    j.at("strategy").error("must be LongestFirst, OnlyFirst or OnlySecond, found ", in_quotes(strategy, 40));
  }
  if (auto d = j.find("direction")) {
    std::string dir = d->str();
    if (dir != "Left" && dir != "Right") d->error("must be Left or Right, found ", in_quotes(dir, 40));
    t.left = dir == "Left";
  }
  truncation_ = t;
}

// Padding lengths above this are refused: every encode would allocate that many ids.
constexpr uint64_t kMaxPaddingLength = uint64_t{1} << 20;

void HfTokenizer::read_padding(const JsonView& j) {
  Padding p;
  JsonView strategy = j.at("strategy");
  if (strategy.is_string()) {
    if (strategy.str() != "BatchLongest") strategy.error("must be \"BatchLongest\" or {\"Fixed\": n}");
  } else if (strategy.is_object() && strategy.has("Fixed")) {
    p.fixed = strategy.at("Fixed").uint(kMaxPaddingLength);
  } else {
    strategy.expected("\"BatchLongest\" or {\"Fixed\": n}");
  }
  std::string dir = j.str("direction");
  if (dir != "Left" && dir != "Right") j.at("direction").error("must be Left or Right, found ", in_quotes(dir, 40));
  p.left = dir == "Left";
  if (auto m = j.find("pad_to_multiple_of")) p.multiple = m->uint(kMaxPaddingLength);
  p.pad_id = static_cast<int32_t>(j.at("pad_id").uint(0x7FFFFFFF));
  j.at("pad_type_id").uint();
  p.pad_token = j.str("pad_token");
  padding_ = p;
}

Tokenizer::Encoding HfTokenizer::encode_with_pieces(std::string_view text, bool add_special_tokens) const {
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    fail("text to tokenize is not valid UTF-8 (byte ", bad, ")");
  PreTokenizedString p{std::string(text)};
  added_.extract_and_normalize(p, normalizer_.get());
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(p);
  p.tokenize([&](const NormalizedString& n) { return model_->tokenize(n.get()); });
  std::vector<Token> tokens;
  for (Split& s : p.splits())
    for (Token& t : *s.tokens) tokens.push_back(std::move(t));

  if (truncation_) {
    size_t max = truncation_->max_length;
    size_t added = post_processor_ ? post_processor_->added_tokens() : 0;
    if (add_special_tokens && added > 0) {
      if (added > max) fail(file_, ": truncation max_length ", max, " is smaller than the ", added, " special tokens added");
      max -= added;
    }
    if (tokens.size() > max) {
      if (truncation_->only_second && max > 0) fail("Truncation error: Second sequence not provided");
      if (truncation_->left) {
        tokens.erase(tokens.begin(), tokens.end() - static_cast<std::ptrdiff_t>(max));
      } else {
        tokens.resize(max);
      }
    }
  }
  if (post_processor_) post_processor_->process(tokens, add_special_tokens);
  if (padding_) {
    size_t target = padding_->fixed ? *padding_->fixed : tokens.size();
    if (padding_->multiple && *padding_->multiple > 0 && target % *padding_->multiple)
      target += *padding_->multiple - target % *padding_->multiple;
    if (tokens.size() < target) {
      std::vector<Token> pads(target - tokens.size(), Token{padding_->pad_id, padding_->pad_token});
      tokens.insert(padding_->left ? tokens.begin() : tokens.end(), pads.begin(), pads.end());
    }
  }

  Encoding out;
  out.ids.reserve(tokens.size());
  out.pieces.reserve(tokens.size());
  for (Token& t : tokens) {
    out.ids.push_back(t.id);
    out.pieces.push_back(std::move(t.value));
  }
  return out;
}

const std::string* HfTokenizer::token_string(int32_t id) const {
  if (const std::string* s = added_.decode_string(id)) return s;
  return model_->id_to_token(id);
}

std::string HfTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* s = token_string(id);
    if (!s) continue;
    if (skip_special && added_.is_special_string(*s)) continue;
    tokens.push_back(*s);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  std::string out;
  for (const std::string& s : decoder_->decode_chain(std::move(tokens))) out += s;
  return out;
}

size_t HfTokenizer::vocab_size() const {
  size_t overlapping = 0;
  for (const auto& [content, id] : added_.contents())
    if (model_->token_to_id(content)) ++overlapping;
  return model_->vocab_size() + added_.size() - overlapping;
}

int64_t HfTokenizer::id_limit() const { return std::max<int64_t>(model_->id_limit(), added_.max_id() + 1); }

bool HfTokenizer::has_id(int32_t id) const { return token_string(id) != nullptr; }

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  if (auto id = added_.find(std::string(token))) return id;
  return model_->token_to_id(token);
}

std::optional<std::string> HfTokenizer::id_to_token(int32_t id) const {
  const std::string* s = token_string(id);
  if (!s) return std::nullopt;
  return *s;
}

bool HfTokenizer::is_special(int32_t id) const {
  const std::string* s = token_string(id);
  return s && added_.is_special_string(*s);
}

bool HfTokenizer::holds_back_trailing_bytes() const { return decoder_ && decoder_->holds_back_trailing_bytes(); }
bool HfTokenizer::holds_back_last_token() const { return decoder_ && decoder_->holds_back_last_token(); }

bool HfTokenizer::is_byte_token(int32_t id) const {
  const std::string* s = token_string(id);
  return s && s->size() == 6 && s->compare(0, 3, "<0x") == 0 && (*s)[5] == '>';
}

}  // namespace jamba::tok
