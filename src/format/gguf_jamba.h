// llama.cpp's Jamba GGUF files (general.architecture "jamba") as a model: the `jamba.*` and
// `tokenizer.ggml.*` metadata as a ModelConfig, and the GGUF tensors under the Hugging Face
// names and shapes the binder expects.
//
// Metadata -> config: block_count, embedding_length, feed_forward_length, context_length,
// attention.head_count, attention.head_count_kv (one entry per layer, 0 on Mamba layers: that
// array *is* the attention layout), attention.key_length (optional head_dim),
// attention.layer_norm_rms_epsilon, ssm.conv_kernel / inner_size / state_size / time_step_rank,
// expert_count / expert_used_count; the vocabulary size from token_embd; bos / eos / pad from
// tokenizer.ggml.*. MoE layers are the ones holding ffn_gate_inp. When a period/offset pair
// reproduces the layout it is used; otherwise the config carries the per-layer lists.
//
// Tensors (ggml ne order reversed into PyTorch order):
//   token_embd / output_norm / output           -> model.embed_tokens / final_layernorm / lm_head
//   blk.N.attn_norm / ffn_norm                  -> input_layernorm / pre_ff_layernorm
//   blk.N.attn_q / attn_k / attn_v / attn_output -> self_attn.{q,k,v,o}_proj
//   blk.N.ssm_in / ssm_x / ssm_dt / ssm_out     -> mamba.in_proj / x_proj / dt_proj / out_proj
//   blk.N.ssm_conv1d.weight ne [K, Di]          -> mamba.conv1d.weight [Di, 1, K] (same bytes)
//   blk.N.ssm_a ne [N, Di] (A = -exp(A_log))    -> mamba.A [Di, N]: the binder takes A as stored,
//                                                  no log/exp round trip
//   blk.N.ssm_d, ssm_dt.bias, ssm_conv1d.bias, ssm_{dt,b,c}_norm -> D, biases, *_layernorm
//   blk.N.ffn_gate / ffn_up / ffn_down          -> feed_forward.{gate,up,down}_proj
//   blk.N.ffn_gate_inp                          -> feed_forward.router
//   blk.N.ffn_{gate,up,down}_exps ne [.., .., E] -> feed_forward.experts.e.*: expert e is a
//                                                  contiguous slice, viewed without a copy
//   blk.N.ssm_in.bias / ssm_out.bias            -> in_proj / out_proj bias (our extension for
//                                                  mamba_proj_bias models; llama.cpp has none)
// F32/F16/BF16 tensors are views into the mapping; quantized ones (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K, Q6_K) are converted to fp32 at load, their blocks kept for quantized().
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "format/model_config.h"
#include "format/weight_source.h"

namespace jamba {

// The Jamba config a GGUF header describes. `label` (the path) prefixes errors, which name the
// metadata key or tensor at fault.
ModelConfig jamba_config_from_gguf(const GgufHeader& header, const std::string& label);

// Our HF tensor name for a GGUF tensor name of a Jamba file ("" when it is not a Jamba tensor).
// Stacked expert tensors map to the prefix "model.layers.N.feed_forward.experts.*.<proj>.weight".
std::string hf_name_for_gguf(const std::string& gguf_name);
// The GGUF name of an HF tensor name (llama.cpp's names), "" when it has none (expert tensors are
// stacked, see the writer).
std::string gguf_name_for_hf(const std::string& hf_name);

class GgufWeightSource : public WeightSource {
 public:
  // Opens, validates and maps a Jamba GGUF file; the config is read from its metadata.
  explicit GgufWeightSource(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const GgufFile& file() const { return file_; }

  bool contains(const std::string& name) const override { return entries_.count(name) != 0; }
  TensorView get(const std::string& name) const override;
  std::vector<std::string> names() const override;
  const std::string& file_of(const std::string& name) const override;  // "<path> (GGUF tensor 'blk.0.ssm_in.weight')"
  std::string stored_name(const std::string& name) const override;
  std::optional<QuantizedView> quantized(const std::string& name) const override;

 private:
  struct Entry {
    TensorView view;
    std::string where, stored_name;
    std::optional<QuantizedView> blocks;
  };
  void add(const std::string& hf_name, const GgufTensorInfo& info, const std::vector<int64_t>& shape,
           const std::byte* data);

  GgufFile file_;
  ModelConfig config_;
  std::map<std::string, Entry> entries_;
  std::deque<std::vector<float>> converted_;  // fp32 copies of quantized tensors
};

}  // namespace jamba
