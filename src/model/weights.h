// Weights bound by their on-disk names (reference/hf_jamba.md §4), every shape checked against
// the config. Big matrices stay views into the mmap'd checkpoint in their storage dtype; small
// vectors (norms, biases, conv taps, A, D) are converted to fp32 once.
#pragma once
#include <string>
#include <vector>

#include "format/model_config.h"
#include "format/weight_source.h"
#include "model/layer_plan.h"
#include "tensor/tensor.h"

namespace jamba {

struct AttentionWeights {
  TensorView q_proj, k_proj, v_proj, o_proj;
};

struct MambaWeights {
  TensorView in_proj, x_proj, dt_proj, out_proj;
  std::vector<float> in_proj_bias;   // empty unless mamba_proj_bias
  std::vector<float> out_proj_bias;  // empty unless mamba_proj_bias
  std::vector<float> conv_weight;    // [Di, K]
  std::vector<float> conv_bias;      // empty unless mamba_conv_bias
  std::vector<float> dt_bias;        // [Di]
  std::vector<float> A;              // [Di, N] = -exp(A_log), fp32 (taken as stored when the source has A)
  std::vector<float> D;              // [Di]
  std::vector<float> dt_norm, b_norm, c_norm;
};

struct FfnWeights {  // SwiGLU: down(silu(gate x) * up x)
  TensorView gate_proj, up_proj, down_proj;
};

struct MoeWeights {
  TensorView router;  // [E, H]
  std::vector<FfnWeights> experts;
};

struct LayerWeights {
  std::vector<float> input_norm, pre_ff_norm;
  AttentionWeights attention;  // set when the layer's mixer is attention
  MambaWeights mamba;          // set when the layer's mixer is Mamba
  FfnWeights dense;            // set when the layer's FFN is dense
  MoeWeights moe;              // set when the layer's FFN is MoE
};

struct Weights {
  TensorView embed_tokens;  // [V, H]
  TensorView lm_head;       // [V, H]; the embedding itself when tied
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  DType storage_dtype = DType::F32;  // dtype of embed_tokens (for reporting)
};

// Binds every tensor the config needs. Throws Error naming the tensor and its file when one is
// missing, has the wrong shape or a non-float dtype (matmul weights may also be Q8 / Q4, from a
// quantized checkpoint: model/quantize.h), when a small tensor holds NaN/Inf, or when
// the checkpoint holds tensors this config does not use (a config/checkpoint mismatch).
// A: from "mamba.A_log" (HF) as -exp(A_log), or from "mamba.A" as stored (GGUF files hold A,
// and recomputing it through log/exp would not give the same floats back).
Weights bind_weights(const WeightSource& store, const ModelConfig& config, const LayerPlan& plan);

}  // namespace jamba
