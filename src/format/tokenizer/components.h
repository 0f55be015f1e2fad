// The stages of an HF `tokenizers` pipeline, each read from its tokenizer.json object:
// normalizer -> pre-tokenizer -> model -> post-processor on the way in, decoder on the way out.
// Every `*_from_json` throws Error naming the file and the field when the object is malformed
// or of a type we do not implement.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/tokenizer/json_view.h"
#include "format/tokenizer/normalized_string.h"
#include "format/tokenizer/regex.h"

namespace jamba::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& s) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::vector<Token> tokenize(std::string_view sequence) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(int32_t id) const = 0;
  virtual size_t vocab_size() const = 0;
  // One past the largest id, for range checks.
  virtual int64_t id_limit() const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Tokens added to a single sequence (for truncation).
  virtual size_t added_tokens() const = 0;
  virtual void process(std::vector<Token>& tokens, bool add_special_tokens) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
  // Whether the text of a token can still change when more tokens follow (ByteFallback: a run of
  // byte tokens is one UTF-8 unit; BPEDecoder: the last token's suffix). Used by streaming.
  virtual bool holds_back_trailing_bytes() const { return false; }
  virtual bool holds_back_last_token() const { return false; }
};

std::unique_ptr<Normalizer> normalizer_from_json(const JsonView& j);
std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const JsonView& j);
std::unique_ptr<Decoder> decoder_from_json(const JsonView& j);

// Post-processors add tokens by id; the tokenizer checks that those ids exist.
std::unique_ptr<PostProcessor> post_processor_from_json(const JsonView& j);

// A Replace / Split pattern: {"String": literal} or {"Regex": Oniguruma pattern}.
Regex pattern_from_json(const JsonView& j);

// A single character given as a one-char string (Metaspace replacement, Strip content).
char32_t json_char(const JsonView& j);

// Models.
std::unique_ptr<Model> model_from_json(const JsonView& j);

}  // namespace jamba::tok
