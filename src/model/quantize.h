// Weight-only quantization of a Hugging Face Jamba checkpoint (`jamba quantize`) and the loader
// side that binds such a checkpoint transparently (Model::load).
//
// On disk (safetensors + config.json, HF names):
//   int8 (bits 8): NAME         I8  [n, k]      q in [-127, 127], w ~ q * s, s = max|row| / 127
//                  NAME_scale   F32 [n]         one scale per output row
//   int4 (bits 4): NAME         U8  [n, k / 2]  element t in byte t / 2, low nibble for even t,
//                                               stored as q + 8 (q in [-8, 7]), s searched per
//                                               group (least squares; may be negative)
//                  NAME_scale   F32 [n, k / g]  one scale per group of g = 32 or 64 columns
//   config.json gains "quantization_config": {"quant_method": "jamba.cpp", "bits": 8|4,
//   "group_size": 0|32|64, "scale_dtype": "F32", "scale_suffix": "_scale",
//   "modules_not_quantized": [names of matrices left in their float dtype]}.
// Quantized: every 2-D matmul weight (attention q/k/v/o, Mamba in/x/dt/out, dense FFN and expert
// gate/up/down, an untied lm_head). Left as stored: embeddings, router, norms, conv taps, A_log,
// D, biases, and (int4) a matrix whose k is not a multiple of the group.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/weight_source.h"

namespace jamba {

struct QuantizeResult {
  int64_t quantized = 0;              // matrices quantized
  int64_t copied = 0;                 // tensors copied as they are
  std::vector<std::string> skipped;   // matmul weights left unquantized (k not a multiple of the group)
  uint64_t bytes_in = 0, bytes_out = 0;
};

// bits 8 (group 0) or 4 (group 32 or 64). Reads `in_dir` (validated by loading it first),
// writes out_dir/model.safetensors, out_dir/config.json and copies the other files of in_dir
// (tokenizer, generation_config.json, ...). Throws Error on bad arguments, a checkpoint that is
// already quantized, NaN/Inf in a matrix, or I/O failure.
QuantizeResult quantize_checkpoint(const std::string& in_dir, const std::string& out_dir, int bits, int64_t group);

// Quantizes one row of k floats: int8 -> k bytes + 1 scale; int4 -> k / 2 bytes + k / group
// scales. Returns false when a value is NaN or Inf.
bool quantize_row_q8(const float* w, int64_t k, int8_t* q, float* scale);
bool quantize_row_q4(const float* w, int64_t k, int64_t group, uint8_t* q, float* scales);

struct QuantizationConfig {
  int bits = 0;         // 8 or 4
  int64_t group = 0;    // 0 for bits 8
};
// The "quantization_config" of <dir>/config.json, if any. Throws Error for a method other than
// "jamba.cpp" or bad bits / group_size.
bool read_quantization_config(const std::string& dir, QuantizationConfig* out);

// Wraps a checkpoint's tensors so that a quantized matrix (I8 / U8 + NAME_scale) reads as one
// Q8 / Q4 TensorView of the logical shape [n, k]; scale tensors are not listed by names().
// Each get() validates the pair: scale present, F32, of the right shape and finite; storage
// dtype matching bits.
std::unique_ptr<WeightSource> make_quantized_source(std::unique_ptr<WeightSource> inner, const QuantizationConfig& q);

}  // namespace jamba
