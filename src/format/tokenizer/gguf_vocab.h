// A tokenizer in GGUF terms (tokenizer.ggml.*): what `jamba export-gguf` writes from a model
// directory's tokenizer.model, and the Tokenizer a GGUF file's vocabulary makes.
//
// Written as llama.cpp's converter does for SentencePiece models (tokenizer.ggml.model "llama"):
// one token per id with its SentencePiece score and type (NORMAL 1, UNKNOWN 2, CONTROL 3,
// USER_DEFINED 4, UNUSED 5, BYTE 6), padded to the model's vocab_size with "[PAD<id>]" UNUSED
// tokens; bos / eos / unk / pad ids and add_bos_token / add_eos_token from
// tokenizer_config.json; add_space_prefix from the model's normalizer.
//
// Read back: a "llama" vocabulary becomes a SentencePiece BPE model with byte fallback (the
// algorithm llama.cpp's SPM tokenizer runs: merge the best-scored adjacent pair), identity
// normalization, spaces escaped as U+2581 and the dummy prefix as add_space_prefix says.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "format/tokenizer/tokenizer.h"

namespace jamba {

struct GgufVocab {
  std::string model = "llama";
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::optional<int64_t> bos, eos, unk, pad;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::string chat_template;  // tokenizer_config.json's (default) template, when it has one
};

// From <dir>/tokenizer.model (+ tokenizer_config.json), padded to `vocab_size` tokens. nullopt
// when the directory has no tokenizer.model. Throws Error when the tokenizer has more tokens
// than the model's vocabulary.
std::optional<GgufVocab> gguf_vocab_from_model_dir(const std::string& dir, int64_t vocab_size);

// Adds the tokenizer.ggml.* keys (and tokenizer.chat_template) to a writer.
void add_gguf_vocab(GgufWriter& writer, const GgufVocab& vocab);

// The tokenizer of a GGUF file's vocabulary. Throws Error naming the file and key when the file
// has none ("none"/"no_vocab"), a kind we do not implement ("gpt2" BPE, ...), or broken arrays.
std::unique_ptr<Tokenizer> tokenizer_from_gguf(const std::string& path);

// Same, from a parsed header (`label` names it in errors); for tests and fuzzing.
std::unique_ptr<Tokenizer> tokenizer_from_gguf_header(const GgufHeader& header, const std::string& label);

}  // namespace jamba
