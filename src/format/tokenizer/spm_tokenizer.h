// tokenizer.model through libsentencepiece, for model directories without tokenizer.json.
//
// encode: the text is split at the text of control / unknown pieces (as HF matches special
// tokens before the model), every other segment goes through SentencePiece (which adds its
// dummy-prefix "▁" per segment, as the legacy Llama conversion does), then BOS / EOS as
// tokenizer_config.json's add_bos_token (default true) / add_eos_token (default false) say.
// decode: the Llama recipe (▁ -> space, <0xXX> byte pieces, one leading space stripped), so
// that it matches tokenizer.json's decode for the same vocabulary.
#pragma once
#include <memory>
#include <string>

#include "format/tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace jamba::tok {

class Decoder;

// Special tokens and flags given by the container rather than tokenizer_config.json (GGUF's
// tokenizer.ggml.* keys).
struct SpmOverrides {
  std::optional<int32_t> bos, eos, unk, pad;
  std::optional<bool> add_bos, add_eos;
};

class SpmTokenizer : public Tokenizer {
 public:
  SpmTokenizer(const std::string& path, const std::string& config_path);
  // A serialized ModelProto (rebuilt from a GGUF vocabulary); `label` names it in errors.
  SpmTokenizer(const std::string& label, const std::string& serialized_proto, const SpmOverrides& overrides);
  ~SpmTokenizer() override;

  Encoding encode_with_pieces(std::string_view text, bool add_special_tokens) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  size_t vocab_size() const override;
  int64_t id_limit() const override;
  bool has_id(int32_t id) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;
  bool holds_back_trailing_bytes() const override { return true; }
  bool is_byte_token(int32_t id) const override;

  // What SentencePiece alone gives for `text` (no special-token splitting, no BOS).
  std::vector<int32_t> encode_plain(std::string_view text) const;

 private:
  void init_pieces();
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<std::pair<std::string, int32_t>> specials_;  // control / unknown pieces, longest first
  bool add_bos_ = true, add_eos_ = false;
};

}  // namespace jamba::tok
