// Text <-> token ids for a model directory, as Hugging Face gives them.
//
// `Tokenizer::load(dir)` reads `tokenizer.json` when the directory has one (our implementation of
// HF `tokenizers`: normalizers, pre-tokenizers, BPE / Unigram / WordLevel / WordPiece models,
// added tokens, post-processors, decoders), else `tokenizer.model` through libsentencepiece, else
// fails. `tokenizer_config.json`, when present, names the bos / eos / unk / pad tokens.
//
// encode(text) equals HF `tokenizers.Tokenizer.encode(text).ids` (special tokens of the
// post-processor included); decode(ids, skip_special) equals `Tokenizer.decode`. Malformed files
// throw jamba::Error naming the file and the field.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jamba {

class Tokenizer {
 public:
  struct Encoding {
    std::vector<int32_t> ids;
    std::vector<std::string> pieces;  // the token strings, as HF Encoding.tokens
  };

  virtual ~Tokenizer() = default;

  // tokenizer.json, else tokenizer.model, in `dir` (+ tokenizer_config.json when present).
  // `dir` may also be a GGUF model file: its tokenizer.ggml.* vocabulary (gguf_vocab.h).
  static std::unique_ptr<Tokenizer> load(const std::string& dir);
  // One file directly; `config_path` may be empty.
  static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path, const std::string& config_path = "");
  static std::unique_ptr<Tokenizer> from_sentencepiece(const std::string& path, const std::string& config_path = "");

  // `text` must be valid UTF-8 (Error otherwise). add_special_tokens=false skips the
  // post-processor's tokens (BOS etc.), as HF encode(text, add_special_tokens=False).
  virtual Encoding encode_with_pieces(std::string_view text, bool add_special_tokens = true) const = 0;
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const {
    return encode_with_pieces(text, add_special_tokens).ids;
  }
  std::vector<std::string> pieces(std::string_view text, bool add_special_tokens = true) const {
    return encode_with_pieces(text, add_special_tokens).pieces;
  }

  // HF decode: ids unknown to the vocabulary are skipped (check with has_id first to reject them).
  // The result is valid UTF-8 (invalid byte sequences become U+FFFD, as HF).
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;

  // HF get_vocab_size(with_added_tokens=True).
  virtual size_t vocab_size() const = 0;
  // One past the largest id (ids may have gaps).
  virtual int64_t id_limit() const = 0;
  virtual bool has_id(int32_t id) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;
  // Special tokens (added tokens marked special; control/unknown pieces for SentencePiece): what
  // decode(..., skip_special=true) leaves out.
  virtual bool is_special(int32_t id) const = 0;

  // From tokenizer_config.json (bos_token, eos_token, unk_token, pad_token), by name.
  const std::optional<std::string>& bos_token() const { return bos_token_; }
  const std::optional<std::string>& eos_token() const { return eos_token_; }
  const std::optional<std::string>& unk_token() const { return unk_token_; }
  const std::optional<std::string>& pad_token() const { return pad_token_; }
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }
  std::optional<int32_t> unk_id() const { return unk_id_; }
  std::optional<int32_t> pad_id() const { return pad_id_; }

  // "tokenizer.json" or "tokenizer.model", and the file read.
  const std::string& kind() const { return kind_; }
  const std::string& path() const { return path_; }

  // Decoders that behave differently for the first token (Metaspace, Strip) or hold state across
  // tokens (ByteFallback runs) need context; StreamDecoder asks for these.
  virtual bool holds_back_trailing_bytes() const { return false; }
  virtual bool holds_back_last_token() const { return false; }
  virtual bool is_byte_token(int32_t id) const { return false; }

 protected:
  void read_config(const std::string& config_path);

  std::optional<std::string> bos_token_, eos_token_, unk_token_, pad_token_;
  std::optional<int32_t> bos_id_, eos_id_, unk_id_, pad_id_;
  std::optional<bool> add_bos_token_, add_eos_token_;  // tokenizer_config.json, if it says
  std::string kind_, path_;
};

// Detokenizes one id at a time for streaming output. push() returns only text that is final:
// never a broken or incomplete UTF-8 sequence, never text a later id could still change;
// finish() returns the rest. Everything returned, concatenated, equals
// tokenizer.decode(all ids, skip_special).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(int32_t id);
  std::string finish();
  void reset();

 private:
  std::string decode_range(size_t begin, size_t end) const;
  // Whether window_[..m] may serve as context: no byte-token run crosses m, and its text does not
  // end in U+FFFD (an incomplete UTF-8 sequence might continue).
  bool clean_boundary(size_t m, bool at_end) const;

  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int32_t> window_;  // context ids (already emitted) followed by pending ids
  size_t context_ = 0;           // how many leading ids of window_ are context
  std::string context_text_;     // decode of the context ids
  size_t emitted_ = 0;           // bytes emitted beyond context_text_
};

}  // namespace jamba
