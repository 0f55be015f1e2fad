// The parts of SentencePiece's ModelProto (sentencepiece_model.proto) that a GGUF "llama"
// vocabulary carries, read from and written to the protobuf wire format directly (Debian ships
// no sentencepiece_model.pb.h). Used to put a tokenizer.model into a GGUF file and to rebuild
// a SentencePiece model from a GGUF file's tokens / scores / token types.
//
// Fields: ModelProto { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
// NormalizerSpec normalizer_spec = 3 }; SentencePiece { string piece = 1; float score = 2;
// Type type = 3 (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6) };
// TrainerSpec { model_type = 3 (UNIGRAM 1, BPE 2, WORD 3, CHAR 4); byte_fallback = 35 };
// NormalizerSpec { name = 1; precompiled_charsmap = 2; add_dummy_prefix = 3 (default true);
// remove_extra_whitespaces = 4 (default true); escape_whitespaces = 5 (default true) }.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace jamba::tok {

struct SpmPiece {
  std::string piece;
  float score = 0;
  int type = 1;  // NORMAL
};

struct SpmModel {
  std::vector<SpmPiece> pieces;
  int model_type = 1;  // UNIGRAM
  bool byte_fallback = false;
  std::string normalizer_name;
  bool has_precompiled_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Throws Error naming `label` on malformed input.
SpmModel parse_spm_model(const std::string& bytes, const std::string& label);
// A minimal ModelProto holding the fields above (identity normalization, no charsmap).
std::string serialize_spm_model(const SpmModel& model);

}  // namespace jamba::tok
