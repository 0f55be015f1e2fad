// The model's weights copied to the GPU once: the big matrices in their storage dtype (device
// TensorViews), the small fp32 vectors as device arrays. Mirrors model/weights.h.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "ops/cuda/cuda_ops.h"

namespace jamba::gpu {

struct DeviceMamba {
  TensorView in_proj, x_proj, dt_proj, out_proj;
  const float *in_proj_bias = nullptr, *out_proj_bias = nullptr;  // nullptr unless mamba_proj_bias
  const float *conv_weight = nullptr, *conv_bias = nullptr;      // conv_bias nullptr unless mamba_conv_bias
  const float *dt_bias = nullptr, *A = nullptr, *D = nullptr;
  const float *dt_norm = nullptr, *b_norm = nullptr, *c_norm = nullptr;
};

struct DeviceLayer {
  const float *input_norm = nullptr, *pre_ff_norm = nullptr;
  TensorView q_proj, k_proj, v_proj, o_proj;  // attention layers
  DeviceMamba mamba;                          // Mamba layers
  TensorView gate_up, down_proj;              // dense FFN layers: gate_up = [gate; up] stacked, [2I, H]
  TensorView router;                          // MoE layers
  std::vector<cuda::ExpertWeights> experts;   // MoE layers
};

class DeviceWeights {
 public:
  // Throws Error naming the tensor when a weight's dtype cannot run on the GPU (Q4).
  explicit DeviceWeights(const Model& model);
  ~DeviceWeights();
  DeviceWeights(const DeviceWeights&) = delete;
  DeviceWeights& operator=(const DeviceWeights&) = delete;

  TensorView embed_tokens, lm_head;
  const float* final_norm = nullptr;
  std::vector<DeviceLayer> layers;
  int64_t bytes() const { return bytes_; }  // device memory the weights take

 private:
  TensorView upload(const TensorView& host, const char* what);
  // [a; b] stacked in one allocation (same dtype and columns): one matmul computes both.
  TensorView upload_stacked(const TensorView& a, const TensorView& b, const char* what);
  const float* upload(const std::vector<float>& host);
  std::vector<void*> allocations_;
  int64_t bytes_ = 0;
};

}  // namespace jamba::gpu
