#include "format/tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "format/json_document.h"
#include "format/tokenizer/gguf_vocab.h"
#include "format/tokenizer/hf_tokenizer.h"
#include "format/tokenizer/json_view.h"
#include "format/tokenizer/spm_tokenizer.h"
#include "format/tokenizer/unicode.h"

namespace jamba {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxConfigBytes = 64ull << 20;

std::string read_small_file(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) fail(path, ": cannot read the file: ", ec.message());
  if (size > kMaxConfigBytes) fail(path, ": ", size, " bytes is too large for a tokenizer configuration");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void Tokenizer::read_config(const std::string& config_path) {
  const nlohmann::json doc = parse_json_document(read_small_file(config_path), config_path);
  tok::JsonView root(doc, "", config_path);
  if (!root.is_object()) root.expected("a JSON object at the top level");
  auto special = [&](const char* key, std::optional<std::string>& name, std::optional<int32_t>& id) {
    auto v = root.find(key);
    if (!v) return;
    if (v->is_string()) {
      name = v->str();
    } else if (v->is_object()) {
      name = v->str("content");
    } else {
      v->expected("a token string or an object with \"content\"");
    }
    id = token_to_id(*name);
    if (!id) v->error("names ", in_quotes(*name, 60), ", which is not in the vocabulary");
  };
  special("bos_token", bos_token_, bos_id_);
  special("eos_token", eos_token_, eos_id_);
  special("unk_token", unk_token_, unk_id_);
  special("pad_token", pad_token_, pad_id_);
  if (auto v = root.find("add_bos_token")) add_bos_token_ = v->boolean();
  if (auto v = root.find("add_eos_token")) add_eos_token_ = v->boolean();
}

std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json(const std::string& path, const std::string& config_path) {
  auto t = std::make_unique<tok::HfTokenizer>(path);
  if (!config_path.empty()) t->load_config(config_path);
  return t;
}

std::unique_ptr<Tokenizer> Tokenizer::from_sentencepiece(const std::string& path, const std::string& config_path) {
  return std::make_unique<tok::SpmTokenizer>(path, config_path);
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& dir) {
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) return tokenizer_from_gguf(dir);  // a model file: GGUF
  if (!fs::is_directory(dir, ec)) fail(dir, ": not a directory");
  const fs::path base(dir);
  std::string config = (base / "tokenizer_config.json").string();
  if (!fs::exists(config, ec)) config.clear();
  const std::string json = (base / "tokenizer.json").string();
  if (fs::exists(json, ec)) return from_tokenizer_json(json, config);
  const std::string model = (base / "tokenizer.model").string();
  if (fs::exists(model, ec)) return from_sentencepiece(model, config);
  fail(dir, ": no tokenizer.json or tokenizer.model in the model directory");
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

void StreamDecoder::reset() {
  window_.clear();
  context_ = 0;
  context_text_.clear();
  emitted_ = 0;
}

std::string StreamDecoder::decode_range(size_t begin, size_t end) const {
  return tokenizer_.decode(std::span<const int32_t>(window_.data() + begin, end - begin), skip_special_);
}

namespace {

bool ends_with_replacement(const std::string& s) { return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0; }

std::string without_trailing_replacements(std::string s) {
  while (ends_with_replacement(s)) s.resize(s.size() - 3);
  return s;
}

}  // namespace

bool StreamDecoder::clean_boundary(size_t m, bool at_end) const {
  if (tokenizer_.holds_back_trailing_bytes() && m > 0 && tokenizer_.is_byte_token(window_[m - 1]) &&
      (at_end || tokenizer_.is_byte_token(window_[m])))
    return false;
  return true;
}

std::string StreamDecoder::push(int32_t id) {
  // Ids that decode drops (unknown, or special when skipping) change nothing.
  if (!tokenizer_.has_id(id) || (skip_special_ && tokenizer_.is_special(id))) return "";
  window_.push_back(id);
  const size_t n = window_.size();

  // Tokens whose text may still change: a trailing run of byte tokens (ByteFallback groups a run
  // into one UTF-8 unit), the last token (BPEDecoder's end-of-word suffix).
  size_t tail = 0;
  if (tokenizer_.holds_back_trailing_bytes())
    while (tail < n - context_ && tokenizer_.is_byte_token(window_[n - 1 - tail])) ++tail;
  if (tokenizer_.holds_back_last_token()) tail = std::max<size_t>(tail, 1);
  tail = std::min(tail, n - context_);
  const size_t stable_end = n - tail;

  std::string out;
  const std::string stable = decode_range(0, stable_end);
  // Trailing U+FFFD may be an incomplete UTF-8 sequence that the next token completes.
  const std::string shown = without_trailing_replacements(stable);
  const size_t done = context_text_.size() + emitted_;
  if (shown.size() > done && shown.compare(0, context_text_.size(), context_text_) == 0) {
    out = shown.substr(done);
    emitted_ += out.size();
  }

  // Move the context forward so the window stays short: window_[..stable_end] becomes context
  // once its text is final and all emitted; keep just enough ids before it that their text is
  // not empty, so that start-of-text rules of the decoder (Metaspace's first token, Strip) apply
  // to them and not to the ids that follow.
  if (stable_end > context_ && !ends_with_replacement(stable) && stable.size() == context_text_.size() + emitted_ &&
      stable.compare(0, context_text_.size(), context_text_) == 0 && clean_boundary(stable_end, stable_end == n)) {
    size_t c = stable_end;
    std::string ctx;
    while (c > 0) {
      --c;
      if (!clean_boundary(c, false)) continue;
      ctx = decode_range(c, stable_end);
      if (!ctx.empty()) break;
    }
    if (!ctx.empty() && c > 0) {
      window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(c));
      context_ = stable_end - c;
      context_text_ = std::move(ctx);
      emitted_ = 0;
    }
  }
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  const std::string all = decode_range(0, window_.size());
  const size_t done = context_text_.size() + emitted_;
  if (all.size() > done) out = all.substr(done);
  reset();
  return out;
}

}  // namespace jamba
