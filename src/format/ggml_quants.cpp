#include "format/ggml_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/half.h"

namespace jamba {

namespace {

struct TypeRow {
  uint32_t id;
  GgmlTypeInfo info;
};

// Sizes from ggml-common.h. Types listed with block_size 0 are named in errors but not read.
constexpr TypeRow kTypes[] = {
    {0, {"F32", 1, 4, true}},        {1, {"F16", 1, 2, true}},        {2, {"Q4_0", 32, 18, true}},
    {3, {"Q4_1", 32, 20, true}},     {6, {"Q5_0", 32, 22, true}},     {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},     {9, {"Q8_1", 32, 36, false}},    {10, {"Q2_K", 256, 84, false}},
    {11, {"Q3_K", 256, 110, false}}, {12, {"Q4_K", 256, 144, true}},  {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}},  {15, {"Q8_K", 256, 292, false}}, {16, {"IQ2_XXS", 0, 0, false}},
    {17, {"IQ2_XS", 0, 0, false}},   {18, {"IQ3_XXS", 0, 0, false}},  {19, {"IQ1_S", 0, 0, false}},
    {20, {"IQ4_NL", 0, 0, false}},   {21, {"IQ3_S", 0, 0, false}},    {22, {"IQ2_S", 0, 0, false}},
    {23, {"IQ4_XS", 0, 0, false}},   {24, {"I8", 1, 1, false}},       {25, {"I16", 1, 2, false}},
    {26, {"I32", 1, 4, false}},      {27, {"I64", 1, 8, false}},      {28, {"F64", 1, 8, false}},
    {29, {"IQ1_M", 0, 0, false}},    {30, {"BF16", 1, 2, true}},      {34, {"TQ1_0", 0, 0, false}},
    {35, {"TQ2_0", 0, 0, false}},    {39, {"MXFP4", 0, 0, false}},
};

// float -> int8 as C's (int8_t) cast does for values in range; out-of-range values and NaN
// (undefined behaviour for the cast; only reachable when 1/d overflows for subnormal blocks)
// saturate, NaN to 0.
int8_t to_int8(float v) {
  if (!(v == v)) return 0;
  return static_cast<int8_t>(std::clamp(v, -128.0f, 127.0f));
}

uint16_t read_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
float read_half(const uint8_t* p) { return f16_to_f32(read_u16(p)); }
void write_half(uint8_t* p, float value) {
  const uint16_t h = f32_to_f16(value);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// The 6-bit scale and min of sub-block j (0..7) packed in the 12 bytes of a Q4_K/Q5_K block.
void k4_scale_min(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = read_half(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = read_half(b), m = read_half(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Q5_0/Q5_1: bit j of qh is the fifth bit of element j (0..31).
void dequant_q5(const uint8_t* b, float* y, bool has_min) {
  const float d = read_half(b);
  const float m = has_min ? read_half(b + 2) : 0.0f;
  const uint8_t* qh_bytes = b + (has_min ? 4 : 2);
  const uint32_t qh = static_cast<uint32_t>(qh_bytes[0]) | (static_cast<uint32_t>(qh_bytes[1]) << 8) |
                      (static_cast<uint32_t>(qh_bytes[2]) << 16) | (static_cast<uint32_t>(qh_bytes[3]) << 24);
  const uint8_t* qs = qh_bytes + 4;
  const int offset = has_min ? 0 : 16;
  for (int j = 0; j < 16; ++j) {
    const int high0 = ((qh >> j) & 1) << 4;
    const int high1 = ((qh >> (j + 16)) & 1) << 4;
    const int x0 = ((qs[j] & 0x0F) | high0) - offset;
    const int x1 = ((qs[j] >> 4) | high1) - offset;
    y[j] = static_cast<float>(x0) * d + m;
    y[j + 16] = static_cast<float>(x1) * d + m;
  }
}

void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = read_half(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// Q4_K: 8 sub-blocks of 32; sub-block pairs (2i, 2i+1) share 32 bytes of qs (low, high nibbles).
void dequant_q4_k(const uint8_t* b, float* y) {
  const float d = read_half(b), dmin = read_half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int pair = 0; pair < 4; ++pair) {
    int sc, mn;
    k4_scale_min(2 * pair, scales, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    k4_scale_min(2 * pair + 1, scales, &sc, &mn);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
  }
}

// Q5_K: Q4_K plus a fifth bit per element from qh: sub-block s uses bit s of qh[l].
void dequant_q5_k(const uint8_t* b, float* y) {
  const float d = read_half(b), dmin = read_half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  for (int pair = 0; pair < 4; ++pair) {
    int sc, mn;
    k4_scale_min(2 * pair, scales, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    k4_scale_min(2 * pair + 1, scales, &sc, &mn);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
    const uint8_t bit1 = static_cast<uint8_t>(1u << (2 * pair)), bit2 = static_cast<uint8_t>(2u << (2 * pair));
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & bit1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & bit2) ? 16 : 0)) - m2;
    ql += 32;
  }
}

// Q6_K: two halves of 128; in each, element l + 32 k (k = 0..3) takes 4 low bits from ql and 2
// high bits from qh, minus 32, times d and the int8 scale of its 16-element group.
void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = read_half(b + 208);
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type) {
  for (const TypeRow& row : kTypes)
    if (row.id == type) return row.info;
  return std::nullopt;
}

std::string ggml_type_name(uint32_t type) {
  const auto info = ggml_type_info(type);
  return info ? std::string(info->name) : cat("type ", type);
}

void dequantize_row(GgmlType type, const void* blocks, int64_t count, float* out) {
  const auto info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info || !info->dequantizable) fail("cannot convert tensors of type ", ggml_type_name(static_cast<uint32_t>(type)));
  const uint8_t* b = static_cast<const uint8_t*>(blocks);
  switch (type) {
    case GgmlType::F32: std::memcpy(out, b, static_cast<size_t>(count) * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < count; ++i) out[i] = f16_to_f32(read_u16(b + 2 * i));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_f32(read_u16(b + 2 * i));
      return;
    default: break;
  }
  const int64_t blocks_n = count / info->block_size;
  for (int64_t i = 0; i < blocks_n; ++i, b += info->block_bytes, out += info->block_size) {
    switch (type) {
      case GgmlType::Q4_0: dequant_q4_0(b, out); break;
      case GgmlType::Q4_1: dequant_q4_1(b, out); break;
      case GgmlType::Q5_0: dequant_q5(b, out, false); break;
      case GgmlType::Q5_1: dequant_q5(b, out, true); break;
      case GgmlType::Q8_0: dequant_q8_0(b, out); break;
      case GgmlType::Q4_K: dequant_q4_k(b, out); break;
      case GgmlType::Q5_K: dequant_q5_k(b, out); break;
      case GgmlType::Q6_K: dequant_q6_k(b, out); break;
      default: fail("cannot convert tensors of type ", info->name);
    }
  }
}

void quantize_row_q8_0(const float* x, int64_t count, void* out) {
  uint8_t* b = static_cast<uint8_t*>(out);
  for (int64_t i = 0; i < count / 32; ++i, x += 32, b += 34) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    write_half(b, d);
    for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(to_int8(std::roundf(x[j] * id)));
  }
}

void quantize_row_q4_0(const float* x, int64_t count, void* out) {
  uint8_t* b = static_cast<uint8_t*>(out);
  for (int64_t i = 0; i < count / 32; ++i, x += 32, b += 18) {
    // The signed value of largest magnitude maps to -8, so the full [-8, 7] range is used.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    write_half(b, d);
    for (int j = 0; j < 16; ++j) {
      // ggml truncates x + 8.5 toward zero (through int8_t), then clamps at 15.
      const int q0 = std::clamp(static_cast<int>(to_int8(x[j] * id + 8.5f)), 0, 15);
      const int q1 = std::clamp(static_cast<int>(to_int8(x[j + 16] * id + 8.5f)), 0, 15);
      b[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q4_k_plain(const float* x, int64_t count, void* out) {
  uint8_t* b = static_cast<uint8_t*>(out);
  for (int64_t i = 0; i < count / 256; ++i, x += 256, b += 144) {
    // Sub-block s (32 elements) ~ scale_s * q - min_s with q in [0, 15] and min_s >= 0.
    float scale[8], minimum[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; ++s) {
      float lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo = std::min(lo, x[32 * s + l]);
        hi = std::max(hi, x[32 * s + l]);
      }
      scale[s] = (hi - lo) / 15.0f;
      minimum[s] = -lo;
      max_scale = std::max(max_scale, scale[s]);
      max_min = std::max(max_min, minimum[s]);
    }
    write_half(b, max_scale / 63.0f);
    write_half(b + 2, max_min / 63.0f);
    const float d = read_half(b), dmin = read_half(b + 2);
    int sc[8], mn[8];
    for (int s = 0; s < 8; ++s) {
      sc[s] = d > 0 ? std::clamp(static_cast<int>(std::lround(scale[s] / d)), 0, 63) : 0;
      mn[s] = dmin > 0 ? std::clamp(static_cast<int>(std::lround(minimum[s] / dmin)), 0, 63) : 0;
    }
    uint8_t* scales = b + 4;
    std::memset(scales, 0, 12);
    for (int j = 0; j < 4; ++j) {
      scales[j] = static_cast<uint8_t>(sc[j]);
      scales[j + 4] = static_cast<uint8_t>(mn[j]);
    }
    for (int j = 4; j < 8; ++j) {
      scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
    uint8_t* qs = b + 16;
    std::memset(qs, 0, 128);
    for (int s = 0; s < 8; ++s) {
      const float step = d * static_cast<float>(sc[s]), offset = dmin * static_cast<float>(mn[s]);
      for (int l = 0; l < 32; ++l) {
        const int q = step > 0 ? std::clamp(static_cast<int>(std::lround((x[32 * s + l] + offset) / step)), 0, 15) : 0;
        qs[(s / 2) * 32 + l] |= static_cast<uint8_t>(s % 2 == 0 ? q : q << 4);
      }
    }
  }
}

void quantize_row_q6_k_plain(const float* x, int64_t count, void* out) {
  uint8_t* b = static_cast<uint8_t*>(out);
  for (int64_t i = 0; i < count / 256; ++i, x += 256, b += 210) {
    // Group g (16 consecutive elements) ~ d * scales[g] * (q - 32) with q in [0, 63].
    float scale[16], max_scale = 0;
    for (int g = 0; g < 16; ++g) {
      float amax = 0;
      for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * g + l]));
      scale[g] = amax / 31.0f;
      max_scale = std::max(max_scale, scale[g]);
    }
    write_half(b + 208, max_scale / 127.0f);
    const float d = read_half(b + 208);
    uint8_t* ql = b;
    uint8_t* qh = b + 128;
    int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
    std::memset(b, 0, 208);
    for (int g = 0; g < 16; ++g) sc[g] = static_cast<int8_t>(d > 0 ? std::clamp(static_cast<int>(std::lround(scale[g] / d)), 0, 127) : 0);
    for (int e = 0; e < 256; ++e) {
      const float step = d * static_cast<float>(sc[e / 16]);
      const int q = (step > 0 ? std::clamp(static_cast<int>(std::lround(x[e] / step)), -32, 31) : 0) + 32;
      const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
      uint8_t& low = ql[64 * h + l + 32 * (k % 2)];
      low |= static_cast<uint8_t>(k < 2 ? (q & 0xF) : (q & 0xF) << 4);
      qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
    }
  }
}

}  // namespace jamba
