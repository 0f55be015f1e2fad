#include "format/tokenizer/spm_tokenizer.h"

#include <sentencepiece_processor.h>

#include "base/error.h"
#include "format/json_document.h"
#include "format/tokenizer/components.h"
#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

// transformers' LlamaConverter decoder: Replace ▁ -> " ", ByteFallback, Fuse, Strip(" ", 1, 0).
std::unique_ptr<Decoder> llama_decoder() {
  static const std::string label = "built-in Llama decoder";
  static const nlohmann::json spec = nlohmann::json::parse(R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})");
  return decoder_from_json(JsonView(spec, "", label));
}

}  // namespace

SpmTokenizer::SpmTokenizer(const std::string& path, const std::string& config_path)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  kind_ = "tokenizer.model";
  path_ = path;
  auto status = sp_->Load(path);
  if (!status.ok()) fail(path, ": cannot load the SentencePiece model: ", status.ToString());
  init_pieces();
  if (!config_path.empty()) read_config(config_path);
  add_bos_ = add_bos_token_.value_or(true);
  add_eos_ = add_eos_token_.value_or(false);
  auto reserved = [&](int id) -> std::optional<int32_t> {
    if (id < 0 || id >= sp_->GetPieceSize()) return std::nullopt;
    return id;
  };
  if (!bos_token_) bos_id_ = reserved(sp_->bos_id());
  if (!eos_token_) eos_id_ = reserved(sp_->eos_id());
  if (!unk_token_) unk_id_ = reserved(sp_->unk_id());
  if (!pad_token_) pad_id_ = reserved(sp_->pad_id());
}

SpmTokenizer::SpmTokenizer(const std::string& label, const std::string& serialized_proto, const SpmOverrides& overrides)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  kind_ = "gguf";
  path_ = label;
  auto status = sp_->LoadFromSerializedProto(serialized_proto);
  if (!status.ok()) fail(label, ": the vocabulary does not make a SentencePiece model: ", status.ToString());
  init_pieces();
  auto valid = [&](std::optional<int32_t> id) -> std::optional<int32_t> {
    if (id && (*id < 0 || *id >= sp_->GetPieceSize())) return std::nullopt;
    return id;
  };
  bos_id_ = valid(overrides.bos);
  eos_id_ = valid(overrides.eos);
  unk_id_ = valid(overrides.unk);
  pad_id_ = valid(overrides.pad);
  if (bos_id_) bos_token_ = sp_->IdToPiece(*bos_id_);
  if (eos_id_) eos_token_ = sp_->IdToPiece(*eos_id_);
  if (unk_id_) unk_token_ = sp_->IdToPiece(*unk_id_);
  if (pad_id_) pad_token_ = sp_->IdToPiece(*pad_id_);
  add_bos_ = overrides.add_bos.value_or(true);
  add_eos_ = overrides.add_eos.value_or(false);
}

void SpmTokenizer::init_pieces() {
  decoder_ = llama_decoder();
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    if (sp_->IsControl(id) || sp_->IsUnknown(id)) {
      const std::string& piece = sp_->IdToPiece(id);
      if (!piece.empty()) specials_.emplace_back(piece, id);
    }
  }
}

SpmTokenizer::~SpmTokenizer() = default;

std::vector<int32_t> SpmTokenizer::encode_plain(std::string_view text) const {
  std::vector<int> ids;
  auto status = sp_->Encode(text, &ids);
  if (!status.ok()) fail(path_, ": SentencePiece cannot encode the text: ", status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

Tokenizer::Encoding SpmTokenizer::encode_with_pieces(std::string_view text, bool add_special_tokens) const {
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    fail("text to tokenize is not valid UTF-8 (byte ", bad, ")");
  std::vector<int32_t> ids;
  if (add_special_tokens && add_bos_ && bos_id_) ids.push_back(*bos_id_);
  size_t segment = 0, pos = 0;
  auto flush = [&](size_t end) {
    if (end > segment) {
      std::vector<int32_t> part = encode_plain(text.substr(segment, end - segment));
      ids.insert(ids.end(), part.begin(), part.end());
    }
  };
  while (pos < text.size()) {
    size_t best_len = 0;
    int32_t best_id = -1;
    for (const auto& [piece, id] : specials_)
      if (piece.size() > best_len && text.compare(pos, piece.size(), piece) == 0) {
        best_len = piece.size();
        best_id = id;
      }
    if (best_len == 0) {
      ++pos;
      continue;
    }
    flush(pos);
    ids.push_back(best_id);
    pos += best_len;
    segment = pos;
  }
  flush(text.size());
  if (add_special_tokens && add_eos_ && eos_id_) ids.push_back(*eos_id_);
  Encoding out;
  out.ids = std::move(ids);
  for (int32_t id : out.ids) out.pieces.push_back(sp_->IdToPiece(id));
  return out;
}

std::string SpmTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  for (int32_t id : ids) {
    if (!has_id(id)) continue;
    if (skip_special && is_special(id)) continue;
    tokens.push_back(sp_->IdToPiece(id));
  }
  std::string out;
  for (const std::string& s : decoder_->decode_chain(std::move(tokens))) out += s;
  return out;
}

size_t SpmTokenizer::vocab_size() const { return static_cast<size_t>(sp_->GetPieceSize()); }
int64_t SpmTokenizer::id_limit() const { return sp_->GetPieceSize(); }
bool SpmTokenizer::has_id(int32_t id) const { return id >= 0 && id < sp_->GetPieceSize(); }

std::optional<int32_t> SpmTokenizer::token_to_id(std::string_view token) const {
  int id = sp_->PieceToId(token);
  if (id < 0 || id >= sp_->GetPieceSize() || sp_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

std::optional<std::string> SpmTokenizer::id_to_token(int32_t id) const {
  if (!has_id(id)) return std::nullopt;
  return sp_->IdToPiece(id);
}

bool SpmTokenizer::is_special(int32_t id) const { return has_id(id) && (sp_->IsControl(id) || sp_->IsUnknown(id)); }
bool SpmTokenizer::is_byte_token(int32_t id) const { return has_id(id) && sp_->IsByte(id); }

}  // namespace jamba::tok
