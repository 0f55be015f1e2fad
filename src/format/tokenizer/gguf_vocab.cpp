#include "format/tokenizer/gguf_vocab.h"

#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/json_document.h"
#include "format/tokenizer/spm_model_proto.h"
#include "format/tokenizer/spm_tokenizer.h"

namespace jamba {

namespace {

constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kUnused = 5, kByte = 6;
constexpr int64_t kMaxVocab = int64_t{1} << 31;

}  // namespace

namespace {

bool is_byte_piece(const std::string& t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

// tokenizer.json of the Llama / SentencePiece-BPE kind (BPE over U+2581-escaped text with byte
// fallback) -> pieces with scores that make the merge order: the token a merge of rank r creates
// scores -r, so "merge the best-scored adjacent pair" (llama.cpp's SPM tokenizer, SentencePiece
// BPE) replays the merges in rank order.
GgufVocab vocab_from_tokenizer_json(const std::string& path, int64_t vocab_size) {
  const nlohmann::json doc = parse_json_document(read_text_file(path), path);
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) fail(path, ": not a Llama-style (SentencePiece BPE) tokenizer: ", what, "; GGUF export supports that kind only");
  };
  need(doc.is_object() && doc.contains("model") && doc["model"].is_object(), "no \"model\" object");
  const nlohmann::json& model = doc["model"];
  need(model.value("type", "") == "BPE", "model.type is not BPE");
  need(model.value("byte_fallback", false), "model.byte_fallback is not true");
  need(model.contains("vocab") && model["vocab"].is_object(), "no model.vocab");
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<bool> present(static_cast<size_t>(vocab_size));
  auto place = [&](const std::string& token, const nlohmann::json& id_value) {
    need(id_value.is_number_integer(), "a vocab id is not an integer");
    const int64_t id = id_value.get<int64_t>();
    if (id < 0 || id >= vocab_size) fail(path, ": token id ", id, " is outside the model's vocab_size ", vocab_size);
    tokens[static_cast<size_t>(id)] = token;
    present[static_cast<size_t>(id)] = true;
    return static_cast<size_t>(id);
  };
  for (const auto& [token, id] : model["vocab"].items()) place(token, id);

  GgufVocab v;
  v.types.assign(tokens.size(), kNormal);
  v.scores.assign(tokens.size(), 0.0f);
  std::map<std::string, size_t> id_of;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (present[i]) id_of[tokens[i]] = i;
  if (model.contains("merges") && model["merges"].is_array()) {
    const nlohmann::json& merges = model["merges"];
    std::vector<bool> scored(tokens.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const nlohmann::json& m = merges[rank];
      std::string merged;
      if (m.is_string()) {
        const std::string pair = m.get<std::string>();
        const size_t space = pair.find(' ');
        need(space != std::string::npos, "a merge has no space");
        merged = pair.substr(0, space) + pair.substr(space + 1);
      } else {
        need(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), "a merge is not a pair");
        merged = m[0].get<std::string>() + m[1].get<std::string>();
      }
      auto it = id_of.find(merged);
      if (it == id_of.end() || scored[it->second]) continue;
      scored[it->second] = true;
      v.scores[it->second] = -static_cast<float>(rank + 1);
    }
  }
  const std::string unk = model.contains("unk_token") && model["unk_token"].is_string() ? model["unk_token"].get<std::string>() : "";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!present[i]) continue;
    if (is_byte_piece(tokens[i])) v.types[i] = kByte;
    if (!unk.empty() && tokens[i] == unk) v.types[i] = kUnknown;
  }
  if (doc.contains("added_tokens") && doc["added_tokens"].is_array()) {
    for (const nlohmann::json& added : doc["added_tokens"]) {
      if (!added.is_object() || !added.contains("content") || !added["content"].is_string() || !added.contains("id")) continue;
      const size_t id = place(added["content"].get<std::string>(), added["id"]);
      if (v.types[id] == kUnknown) continue;
      v.types[id] = added.value("special", false) ? kControl : 4;  // USER_DEFINED
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (present[i]) continue;
    tokens[i] = cat("[PAD", i, "]");
    v.types[i] = kUnused;
    v.scores[i] = -1000.0f;
  }
  v.tokens = std::move(tokens);
  // A dummy-prefix "▁": a Prepend normalizer, or a Metaspace pre-tokenizer that prepends.
  bool prefix = false;
  std::function<void(const nlohmann::json&)> scan = [&](const nlohmann::json& j) {
    if (j.is_array()) {
      for (const auto& item : j) scan(item);
      return;
    }
    if (!j.is_object()) return;
    const std::string type = j.value("type", "");
    if (type == "Prepend" && j.value("prepend", "") == "\xe2\x96\x81") prefix = true;
    if (type == "Metaspace") {
      if (j.contains("prepend_scheme")) prefix = prefix || j.value("prepend_scheme", "always") != "never";
      else prefix = prefix || j.value("add_prefix_space", true);
    }
    for (const char* key : {"normalizers", "pretokenizers"})
      if (j.contains(key)) scan(j[key]);
  };
  if (doc.contains("normalizer")) scan(doc["normalizer"]);
  if (doc.contains("pre_tokenizer")) scan(doc["pre_tokenizer"]);
  v.add_space_prefix = prefix;
  return v;
}

}  // namespace

std::optional<GgufVocab> gguf_vocab_from_model_dir(const std::string& dir, int64_t vocab_size) {
  namespace fs = std::filesystem;
  const std::string model_path = (fs::path(dir) / "tokenizer.model").string();
  const std::string json_path = (fs::path(dir) / "tokenizer.json").string();
  const std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  const bool has_config = file_exists(config_path);
  GgufVocab v;
  std::unique_ptr<Tokenizer> tokenizer;
  if (file_exists(model_path)) {
    // As llama.cpp's converter: tokenizer.model first.
    const tok::SpmModel spm = tok::parse_spm_model(read_text_file(model_path), model_path);
    if (static_cast<int64_t>(spm.pieces.size()) > vocab_size)
      fail(model_path, ": the tokenizer has ", spm.pieces.size(), " pieces but the model's vocab_size is ", vocab_size);
    for (const tok::SpmPiece& p : spm.pieces) {
      v.tokens.push_back(p.piece);
      v.scores.push_back(p.score);
      v.types.push_back(p.type >= 1 && p.type <= 6 ? p.type : kNormal);
    }
    v.add_space_prefix = spm.add_dummy_prefix;
    tokenizer = Tokenizer::from_sentencepiece(model_path, has_config ? config_path : "");
  } else if (file_exists(json_path)) {
    v = vocab_from_tokenizer_json(json_path, vocab_size);
    tokenizer = Tokenizer::from_tokenizer_json(json_path, has_config ? config_path : "");
  } else {
    return std::nullopt;
  }

  // Special tokens: tokenizer_config.json names them (our tokenizer resolves the names to ids).
  if (tokenizer->bos_id()) v.bos = *tokenizer->bos_id();
  if (tokenizer->eos_id()) v.eos = *tokenizer->eos_id();
  if (tokenizer->unk_id()) v.unk = *tokenizer->unk_id();
  if (tokenizer->pad_id()) v.pad = *tokenizer->pad_id();
  if (has_config) {
    const nlohmann::json config = parse_json_document(read_text_file(config_path), config_path);
    if (config.is_object()) {
      if (auto it = config.find("add_bos_token"); it != config.end() && it->is_boolean()) v.add_bos = it->get<bool>();
      if (auto it = config.find("add_eos_token"); it != config.end() && it->is_boolean()) v.add_eos = it->get<bool>();
      if (auto it = config.find("chat_template"); it != config.end()) {
        if (it->is_string()) {
          v.chat_template = it->get<std::string>();
        } else if (it->is_array()) {
          for (const auto& entry : *it)
            if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
                entry["template"].is_string())
              v.chat_template = entry["template"].get<std::string>();
        }
      }
      // Added tokens marked special are control tokens, as llama.cpp's converter marks them.
      if (auto it = config.find("added_tokens_decoder"); it != config.end() && it->is_object()) {
        for (const auto& [key, data] : it->items()) {
          char* end = nullptr;
          const long long id = std::strtoll(key.c_str(), &end, 10);
          if (end == key.c_str() || *end != '\0' || id < 0 || id >= static_cast<long long>(v.tokens.size())) continue;
          if (data.is_object() && data.value("special", false) && v.types[static_cast<size_t>(id)] == kNormal)
            v.types[static_cast<size_t>(id)] = kControl;
        }
      }
    }
  }
  for (int64_t id = static_cast<int64_t>(v.tokens.size()); id < vocab_size; ++id) {
    v.tokens.push_back(cat("[PAD", id, "]"));
    v.scores.push_back(-1000.0f);
    v.types.push_back(kUnused);
  }
  return v;
}

void add_gguf_vocab(GgufWriter& w, const GgufVocab& v) {
  w.add("tokenizer.ggml.model", gguf_string(v.model));
  w.add("tokenizer.ggml.pre", gguf_string("default"));
  w.add("tokenizer.ggml.tokens", gguf_string_array(v.tokens));
  w.add("tokenizer.ggml.scores", gguf_f32_array(v.scores));
  w.add("tokenizer.ggml.token_type", gguf_i32_array(v.types));
  if (v.bos) w.add("tokenizer.ggml.bos_token_id", gguf_u32(static_cast<uint32_t>(*v.bos)));
  if (v.eos) w.add("tokenizer.ggml.eos_token_id", gguf_u32(static_cast<uint32_t>(*v.eos)));
  if (v.unk) w.add("tokenizer.ggml.unknown_token_id", gguf_u32(static_cast<uint32_t>(*v.unk)));
  if (v.pad) w.add("tokenizer.ggml.padding_token_id", gguf_u32(static_cast<uint32_t>(*v.pad)));
  if (v.add_bos) w.add("tokenizer.ggml.add_bos_token", gguf_bool(*v.add_bos));
  if (v.add_eos) w.add("tokenizer.ggml.add_eos_token", gguf_bool(*v.add_eos));
  if (v.add_space_prefix) w.add("tokenizer.ggml.add_space_prefix", gguf_bool(*v.add_space_prefix));
  if (!v.chat_template.empty()) w.add("tokenizer.chat_template", gguf_string(v.chat_template));
}

std::unique_ptr<Tokenizer> tokenizer_from_gguf_header(const GgufHeader& header, const std::string& label) {
  const GgufMetadata m(header, label);
  if (!m.has("tokenizer.ggml.model")) fail(label, ": the file has no tokenizer (metadata 'tokenizer.ggml.model' is missing)");
  const std::string model = m.string("tokenizer.ggml.model");
  if (model == "none" || model == "no_vocab")
    fail(label, ": the file has no tokenizer (tokenizer.ggml.model is '", model, "'); use --tokens");
  if (model != "llama")
    fail(label, ": tokenizer.ggml.model '", model.substr(0, 40),
         "' is not supported (only 'llama', SentencePiece-style vocabularies)");
  const std::vector<std::string>& tokens = m.string_array("tokenizer.ggml.tokens");
  if (tokens.empty() || static_cast<int64_t>(tokens.size()) > kMaxVocab)
    fail(label, ": metadata 'tokenizer.ggml.tokens' has ", tokens.size(), " tokens");
  std::vector<float> scores(tokens.size(), 0.0f);
  if (m.has("tokenizer.ggml.scores")) {
    scores = m.float_array("tokenizer.ggml.scores");
    if (scores.size() != tokens.size())
      fail(label, ": metadata 'tokenizer.ggml.scores' has ", scores.size(), " entries for ", tokens.size(), " tokens");
  }
  std::vector<int64_t> types(tokens.size(), kNormal);
  if (m.has("tokenizer.ggml.token_type")) {
    types = m.integer_array("tokenizer.ggml.token_type", 0, 6);
    if (types.size() != tokens.size())
      fail(label, ": metadata 'tokenizer.ggml.token_type' has ", types.size(), " entries for ", tokens.size(), " tokens");
  }
  tok::SpmModel spm;
  spm.model_type = 2;  // BPE: llama.cpp's SPM tokenizer merges the best-scored pair, as SentencePiece BPE does
  spm.remove_extra_whitespaces = false;
  spm.add_dummy_prefix = m.optional_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  std::set<std::string> seen;
  bool has_unknown = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    tok::SpmPiece piece{tokens[i], scores[i], types[i] == 0 ? kNormal : static_cast<int>(types[i])};
    if (tokens[i].empty()) fail(label, ": metadata 'tokenizer.ggml.tokens' entry ", i, " is empty");
    if (!seen.insert(tokens[i]).second)
      fail(label, ": metadata 'tokenizer.ggml.tokens' entry ", i, " repeats an earlier token");
    if (piece.type == kByte) spm.byte_fallback = true;
    if (piece.type == kUnknown) {
      if (has_unknown) piece.type = kControl;  // SentencePiece allows one unknown piece
      has_unknown = true;
    }
    spm.pieces.push_back(std::move(piece));
  }
  // SentencePiece's byte fallback needs all 256 byte pieces; with fewer, the ones present stay
  // decodable (the decoder reads <0xXX> by name) but cannot be produced by encoding.
  int byte_pieces = 0;
  for (const tok::SpmPiece& piece : spm.pieces) byte_pieces += piece.type == kByte;
  if (byte_pieces != 256) {
    spm.byte_fallback = false;
    for (tok::SpmPiece& piece : spm.pieces)
      if (piece.type == kByte) piece.type = kUnused;
  }
  if (!has_unknown) {
    // SentencePiece needs an unknown piece; llama.cpp's default is id 0.
    const int64_t unk = m.optional_integer("tokenizer.ggml.unknown_token_id", 0, static_cast<int64_t>(tokens.size()) - 1).value_or(0);
    spm.pieces[static_cast<size_t>(unk)].type = kUnknown;
  }
  tok::SpmOverrides o;
  const int64_t last = static_cast<int64_t>(tokens.size()) - 1;
  auto id = [&](const char* key) -> std::optional<int32_t> {
    if (auto v = m.optional_integer(key, 0, last)) return static_cast<int32_t>(*v);
    return std::nullopt;
  };
  o.bos = id("tokenizer.ggml.bos_token_id");
  o.eos = id("tokenizer.ggml.eos_token_id");
  o.unk = id("tokenizer.ggml.unknown_token_id");
  o.pad = id("tokenizer.ggml.padding_token_id");
  o.add_bos = m.optional_bool("tokenizer.ggml.add_bos_token");
  o.add_eos = m.optional_bool("tokenizer.ggml.add_eos_token");
  return std::make_unique<tok::SpmTokenizer>(label, tok::serialize_spm_model(spm), o);
}

std::unique_ptr<Tokenizer> tokenizer_from_gguf(const std::string& path) {
  const GgufFile file(path);
  return tokenizer_from_gguf_header(file.header(), path);
}

}  // namespace jamba
