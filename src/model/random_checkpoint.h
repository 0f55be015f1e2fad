// Random-weight Jamba checkpoints of any config (HF names and shapes, one model.safetensors):
// what `jamba bench --random-weights` measures real shapes with, and what tests pair with
// tokenizers of any vocabulary. Written tensor by tensor, so a multi-GB model never sits in
// memory twice.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tensor/tensor.h"

namespace jamba {

// Writes <dir>/config.json (the given object; missing fields take HF defaults) and
// <dir>/model.safetensors in `dtype` (F32, BF16 or F16). Values are seeded normals scaled like
// a trained model's (matrices ~ 1/sqrt(fan_in), norms ~ 1, dt bias ~ -3 so softplus is small);
// the same seed gives the same bytes whatever the thread count.
void write_random_checkpoint(const std::string& dir, const nlohmann::json& config, DType dtype = DType::F32,
                             uint64_t seed = 1);

}  // namespace jamba
