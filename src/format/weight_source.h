// Where a model's tensors come from, by their Hugging Face names (reference/hf_jamba.md §4) and
// PyTorch shapes: a safetensors checkpoint (TensorStore) or a GGUF file (GgufWeightSource), so
// the binder in model/weights.cpp is written once. A source owns whatever the views point into
// (mappings, converted buffers) and lives as long as the model.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/ggml_quants.h"
#include "tensor/tensor.h"

namespace jamba {

// A tensor as ggml blocks, for backends that compute on quantized weights directly. `blocks`
// holds rows() rows of row_bytes each; a row is shape.back() elements (the `in` dimension).
struct QuantizedView {
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> shape;  // PyTorch order
  const void* blocks = nullptr;
  int64_t row_bytes = 0;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual bool contains(const std::string& name) const = 0;
  // Throws Error naming the tensor when absent. F32/F16/BF16 data for every weight a model
  // binds (other dtypes are reported, and rejected, by the binder).
  virtual TensorView get(const std::string& name) const = 0;
  virtual std::vector<std::string> names() const = 0;  // sorted
  // The file a tensor comes from (for messages).
  virtual const std::string& file_of(const std::string& name) const = 0;
  // The name the file stores the tensor under, for messages ("blk.3.ssm_in.weight" in a GGUF).
  virtual std::string stored_name(const std::string& name) const { return name; }
  // The stored blocks when the file holds the tensor quantized (get() then returns an fp32 copy).
  virtual std::optional<QuantizedView> quantized(const std::string& name) const { return std::nullopt; }
};

}  // namespace jamba
