#include "tensor/tensor.h"

#include <cstring>
#include <sstream>

#include "base/error.h"
#include "base/half.h"

namespace jamba {

namespace {
struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4},        {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::F64, "F64", 8},        {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::I8, "I8", 1},          {DType::U8, "U8", 1},           {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},        {DType::I32, "I32", 4},         {DType::U32, "U32", 4},
    {DType::I64, "I64", 8},        {DType::U64, "U64", 8},         {DType::BOOL, "BOOL", 1},
    {DType::Q8, "Q8", 1},          {DType::Q4, "Q4", 1},  // in memory only: no file names them
};
constexpr size_t kFileDTypes = 15;  // the safetensors dtypes: the entries before Q8
const DTypeInfo& info(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e;
  return kDTypes[0];
}
}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
const char* dtype_name(DType dtype) { return info(dtype).name; }

bool dtype_from_name(const std::string& name, DType* out) {
  for (size_t i = 0; i < kFileDTypes; ++i) {
    const DTypeInfo& e = kDTypes[i];
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

int64_t view_bytes(const TensorView& t) {
  switch (t.dtype) {
    case DType::Q8: return t.numel() + t.rows() * 4;
    case DType::Q4: return t.numel() / 2 + (t.group_size > 0 ? t.numel() / t.group_size * 4 : 0);
    default: return t.numel() * static_cast<int64_t>(dtype_size(t.dtype));
  }
}

namespace {
void check_quantized(const TensorView& t) {
  if (!t.scales) fail("quantized ", dtype_name(t.dtype), " weight ", shape_string(t.shape), " has no scales");
  if (t.dtype == DType::Q4 && (t.group_size <= 0 || t.row_size() % t.group_size != 0 || t.group_size % 2 != 0))
    fail("Q4 weight ", shape_string(t.shape), ": group size ", t.group_size, " does not divide the row");
}
// Element c of row `row` of a Q8/Q4 view, dequantized.
float quantized_element(const TensorView& t, int64_t row, int64_t c) {
  const int64_t k = t.row_size();
  if (t.dtype == DType::Q8) return static_cast<const int8_t*>(t.data)[row * k + c] * t.scales[row];
  const uint8_t byte = static_cast<const uint8_t*>(t.data)[row * (k / 2) + c / 2];
  const int q = ((c % 2 == 0) ? (byte & 0x0f) : (byte >> 4)) - 8;
  return static_cast<float>(q) * t.scales[row * (k / t.group_size) + c / t.group_size];
}
}  // namespace

float load_element(const TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DType::Q8:
    case DType::Q4: {
      check_quantized(t);
      const int64_t k = t.row_size();
      return quantized_element(t, i / k, i % k);
    }
    case DType::F32: return static_cast<const float*>(t.data)[i];
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
    default: fail("load_element: dtype ", dtype_name(t.dtype), " is not a weight dtype");
  }
}

void load_row(const TensorView& t, int64_t row, float* out) {
  const int64_t n = t.row_size();
  const int64_t base = row * n;
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(t.data) + base, n * sizeof(float));
      return;
    case DType::BF16: {
      const uint16_t* p = static_cast<const uint16_t*>(t.data) + base;
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* p = static_cast<const uint16_t*>(t.data) + base;
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
      return;
    }
    case DType::Q8:
    case DType::Q4:
      check_quantized(t);
      for (int64_t i = 0; i < n; ++i) out[i] = quantized_element(t, row, i);
      return;
    default: fail("load_row: dtype ", dtype_name(t.dtype), " is not a weight dtype");
  }
}

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = load_element(t, i);
  return out;
}

}  // namespace jamba
