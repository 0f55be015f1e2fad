// Tensor views: dtype + shape + pointer, no ownership, no autograd. Weights are views into the
// mmap'd checkpoint; activations live in plain std::vector<float> owned by the caller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace jamba {

// Every dtype a safetensors header may name. Only F32/F16/BF16 hold weights we compute with;
// the rest are parsed (so a file is validated completely) and rejected where weights are bound.
// Q8 and Q4 are weight-only quantized matrices (below); they exist only in memory (a quantized
// checkpoint stores them as I8 / U8 tensors plus fp32 scales: model/quantize.h) and have no
// safetensors name.
enum class DType { F32, F16, BF16, F64, F8_E4M3, F8_E5M2, I8, U8, I16, U16, I32, U32, I64, U64, BOOL, Q8, Q4 };

// Bytes per element; throws for nothing (every DType has a size). Q4 counts 1 (two elements per
// byte): use view_bytes for the storage of a view.
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);               // the safetensors spelling, e.g. "BF16"
bool dtype_from_name(const std::string& name, DType* out);  // false for unknown names
inline bool is_weight_dtype(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }
inline bool is_quantized_dtype(DType d) { return d == DType::Q8 || d == DType::Q4; }

enum class Device { CPU, CUDA };

// A weight-only quantized matrix [n, k] (shape holds the logical [n, k]; w[j, t] ~ q[j, t] * s):
//   Q8: data = int8 q[n][k] in [-127, 127]; scales = fp32 [n] (group_size 0: one per row).
//   Q4: data = bytes [n][k / 2], element t of a row in byte t / 2, low nibble for even t, stored
//       as q + 8 (q in [-8, 7]); group_size 32 or 64 (k a multiple of it); scales = fp32
//       [n][k / group_size], the scale of columns [g * group_size, (g + 1) * group_size).
struct TensorView {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  Device device = Device::CPU;
  const float* scales = nullptr;  // Q8 / Q4 only
  int64_t group_size = 0;         // Q4 only: columns per scale

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t row_size() const { return shape.empty() ? 1 : numel() / shape[0]; }
};

// Bytes the view's data (plus its scales) occupies.
int64_t view_bytes(const TensorView& t);

std::string shape_string(const std::vector<int64_t>& shape);  // "[2, 3]"

// Element i of a weight tensor as fp32 (F32/F16/BF16, and Q8/Q4 dequantized).
float load_element(const TensorView& t, int64_t i);
// Row `row` of a 2-D (or flattened) weight tensor converted to fp32 into `out` (row_size floats).
void load_row(const TensorView& t, int64_t row, float* out);
// The whole tensor as fp32 (for small tensors: norms, biases, A_log, D, conv taps).
std::vector<float> to_f32(const TensorView& t);

}  // namespace jamba
