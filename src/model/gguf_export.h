// `jamba export-gguf`: a Hugging Face Jamba directory (config.json + safetensors, tokenizer
// files) -> a GGUF file laid out as llama.cpp's converter (convert_hf_to_gguf.py, JambaModel)
// writes it, so llama.cpp and this engine can run the same file.
//
// Tensor types follow the converter: 1-D tensors, *_norm weights, the router (ffn_gate_inp),
// the conv taps (ssm_conv1d) and the tensors whose name does not end in ".weight" (ssm_a, ssm_d)
// stay F32; every other matrix takes the requested type. Q8_0 / Q4_0 need ne[0] to be a
// multiple of 32 (Q4_K / Q6_K: 256); a matrix whose rows are not falls back to F16, as the
// converter does. Q8_0 / Q4_0 use ggml's reference rounding (the bytes llama.cpp would write);
// Q4_K / Q6_K use plain min/max scales (valid blocks, less accurate than llama-quantize's).
// A is stored as -exp(A_log) (computed in fp32, as our binder computes it); conv taps [Di,1,K]
// are stored squeezed (ne [K, Di]); experts are stacked into ffn_*_exps (ne [in, out, E]).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/ggml_quants.h"

namespace jamba {

struct GgufExportResult {
  int64_t tensors = 0;
  uint64_t file_bytes = 0;
  bool has_tokenizer = false;
  std::vector<std::string> fallbacks;  // tensors stored as F16 instead of a block type
  std::vector<std::string> notes;      // what keeps llama.cpp from loading this model, if anything
};

// `type`: "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k" or "q6_k". Throws Error on a bad directory / type or an
// I/O failure; the checkpoint is fully validated (bind_weights) before anything is written.
GgufExportResult export_gguf(const std::string& model_dir, const std::string& out_path, const std::string& type);

}  // namespace jamba
