// The CUDA executor: the whole forward on one NVIDIA GPU. The weights are uploaded once (as
// stored: F32/F16/BF16, or int8 Q8 from an int8 checkpoint), the cache lives in device memory,
// and every op runs through src/ops/cuda. Only the token ids go up and the asked-for logits come
// down per step.
#pragma once
#include <memory>
#include <string>

#include "runtime/executor.h"

namespace jamba::gpu {

enum class MatmulMode {
  kAuto,   // exact for a config whose dtype is float32, fast (tensor cores) otherwise
  kExact,  // fp32 products of the activations with the stored weights (agrees with the CPU)
  kFast,   // activations rounded to the weight dtype for prefill GEMMs (what HF does in bf16)
};
MatmulMode matmul_mode_from_name(const std::string& name);  // "auto" | "exact" | "fast"; throws Error

// Throws Error when no CUDA device is usable, or when the model has weights the GPU path does
// not run (int4), naming the problem.
std::unique_ptr<Executor> cuda_executor(const Model& model, MatmulMode mode = MatmulMode::kAuto);

}  // namespace jamba::gpu
