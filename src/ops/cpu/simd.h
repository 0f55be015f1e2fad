// A small fp32 vector type with the operations the CPU kernels need, in three builds chosen by the
// compiler flags of the translation unit that includes it: AVX-512 (16 lanes), AVX2+FMA+F16C
// (8 lanes), and portable C++ (8 lanes of plain floats, for any CPU). kernels_impl.h is written
// once against this interface.
//
// Only the per-ISA kernel files include this header, each inside its own namespace, and they
// include no other C++ header with inline functions: an inline function compiled with -mavx512f
// and emitted as a weak symbol could otherwise be picked by the linker for baseline code too.
//
// Tails: load_n/store_n touch only the first n lanes (n < kWidth) and compute on zeros in the
// rest, so a tail lane gets exactly the same arithmetic as a full-vector lane.
//
// exp (fast_exp): x = n·ln2 + r with |r| <= ln2/2 (two-part ln2), e^r by a degree-6 polynomial
// (Cephes expf coefficients), times 2^n. Measured max error over [-87.3, 88.7]: see
// tests/unit/test_ops.cpp (FastExp), < 3e-7 relative. exp(-inf) = 0, exp(+large) = +inf, NaN
// stays NaN; results below the smallest normal (x < -87.34) flush to 0 in the AVX2 and
// portable builds.
//
// Included inside a namespace, so it includes nothing itself: the including file first brings
// <cstdint> and, for the x86 builds, <immintrin.h> in at global scope.
#pragma once

#if defined(__AVX512F__)

constexpr int kWidth = 16;
struct F {
  __m512 v;
};
inline __mmask16 lanes(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline F zero() { return {_mm512_setzero_ps()}; }
inline F set1(float a) { return {_mm512_set1_ps(a)}; }
inline F load(const float* p) { return {_mm512_loadu_ps(p)}; }
inline F load_n(const float* p, int n) { return {_mm512_maskz_loadu_ps(lanes(n), p)}; }
inline void store(float* p, F a) { _mm512_storeu_ps(p, a.v); }
inline void store_n(float* p, F a, int n) { _mm512_mask_storeu_ps(p, lanes(n), a.v); }
inline F widen_bf16(__m256i h) { return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))}; }
inline F load_bf16(const uint16_t* p) { return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline F load_bf16_n(const uint16_t* p, int n) { return widen_bf16(_mm256_maskz_loadu_epi16(lanes(n), p)); }
// 2*kWidth bf16 values as kWidth 32-bit pairs (element 2i in the low half of lane i), and each
// half as fp32: the pairs can be transposed as 32-bit lanes before they are widened.
inline F load_bf16_pairs(const uint16_t* p) { return {_mm512_castsi512_ps(_mm512_loadu_si512(p))}; }
inline F bf16_pair_even(F a) { return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(a.v), 16))}; }
inline F bf16_pair_odd(F a) {
  return {_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(static_cast<int>(0xffff0000u))))};
}
inline F load_f16(const uint16_t* p) { return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))}; }
inline F load_f16_n(const uint16_t* p, int n) { return {_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(n), p))}; }
inline F operator+(F a, F b) { return {_mm512_add_ps(a.v, b.v)}; }
inline F operator-(F a, F b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline F operator*(F a, F b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline F operator/(F a, F b) { return {_mm512_div_ps(a.v, b.v)}; }
inline F fma(F a, F b, F c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }  // a*b + c, one rounding
// max/min return the second operand when either is NaN: pass x second to keep its NaN.
inline F max(F a, F b) { return {_mm512_max_ps(a.v, b.v)}; }
inline F min(F a, F b) { return {_mm512_min_ps(a.v, b.v)}; }
inline F abs(F a) { return {_mm512_abs_ps(a.v)}; }
inline F select_gt(F a, F b, F if_true, F if_false) {  // a > b ? if_true : if_false (false for NaN)
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ), if_false.v, if_true.v)};
}
inline F select_eq(F a, F b, F if_true, F if_false) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ), if_false.v, if_true.v)};
}
inline float hsum(F a) { return _mm512_reduce_add_ps(a.v); }
inline float hmax(F a) { return _mm512_reduce_max_ps(a.v); }
inline F round_nearest(F a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
// a * 2^n for integral n (any range: overflow gives inf, underflow 0 or a denormal).
inline F scale_pow2(F a, F n) { return {_mm512_scalef_ps(a.v, n.v)}; }
inline constexpr bool kExactScale = true;
// Integer views for the log's exponent split.
inline F bits_and(F a, uint32_t m) {
  return {_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(static_cast<int>(m))))};
}
inline F bits_or(F a, uint32_t m) {
  return {_mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(static_cast<int>(m))))};
}
inline F exponent_of(F a) {  // unbiased exponent of a positive normal number, as a float
  return {_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(_mm512_castps_si512(a.v), 23), _mm512_set1_epi32(127)))};
}
// r[i] = column i of the kWidth x kWidth matrix whose rows were r[0..15]: pairs of rows
// interleaved by 32 then 64 bits within 128-bit lanes, then lanes gathered across 4 vectors.
inline void transpose(F* r) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i].v, r[i + 1].v);
    t[i + 1] = _mm512_unpackhi_ps(r[i].v, r[i + 1].v);
  }
  for (int i = 0; i < 16; i += 4) {  // u[i + q]: column q of each lane, rows i..i+3
    const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
    const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
    u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 even_lo = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), odd_lo = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xdd);
    const __m512 even_hi = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88),
                 odd_hi = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xdd);
    r[q].v = _mm512_shuffle_f32x4(even_lo, even_hi, 0x88);
    r[8 + q].v = _mm512_shuffle_f32x4(even_lo, even_hi, 0xdd);
    r[4 + q].v = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88);
    r[12 + q].v = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xdd);
  }
}

#elif defined(__AVX2__)

constexpr int kWidth = 8;
struct F {
  __m256 v;
};
inline __m256i lanes(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
inline F zero() { return {_mm256_setzero_ps()}; }
inline F set1(float a) { return {_mm256_set1_ps(a)}; }
inline F load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline F load_n(const float* p, int n) { return {_mm256_maskload_ps(p, lanes(n))}; }
inline void store(float* p, F a) { _mm256_storeu_ps(p, a.v); }
inline void store_n(float* p, F a, int n) { _mm256_maskstore_ps(p, lanes(n), a.v); }
inline __m128i load_u16x8(const uint16_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline __m128i load_u16x8_n(const uint16_t* p, int n) {
  alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i) tmp[i] = p[i];
  return _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
}
inline F widen_bf16(__m128i h) { return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))}; }
inline F load_bf16(const uint16_t* p) { return widen_bf16(load_u16x8(p)); }
inline F load_bf16_n(const uint16_t* p, int n) { return widen_bf16(load_u16x8_n(p, n)); }
inline F load_bf16_pairs(const uint16_t* p) { return {_mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))}; }
inline F bf16_pair_even(F a) { return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(a.v), 16))}; }
inline F bf16_pair_odd(F a) {
  return {_mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(a.v), _mm256_set1_epi32(static_cast<int>(0xffff0000u))))};
}
inline F load_f16(const uint16_t* p) { return {_mm256_cvtph_ps(load_u16x8(p))}; }
inline F load_f16_n(const uint16_t* p, int n) { return {_mm256_cvtph_ps(load_u16x8_n(p, n))}; }
inline F operator+(F a, F b) { return {_mm256_add_ps(a.v, b.v)}; }
inline F operator-(F a, F b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline F operator*(F a, F b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline F operator/(F a, F b) { return {_mm256_div_ps(a.v, b.v)}; }
inline F fma(F a, F b, F c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline F max(F a, F b) { return {_mm256_max_ps(a.v, b.v)}; }
inline F min(F a, F b) { return {_mm256_min_ps(a.v, b.v)}; }
inline F abs(F a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline F select_gt(F a, F b, F if_true, F if_false) {
  return {_mm256_blendv_ps(if_false.v, if_true.v, _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ))};
}
inline F select_eq(F a, F b, F if_true, F if_false) {
  return {_mm256_blendv_ps(if_false.v, if_true.v, _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ))};
}
inline float hsum(F a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hmax(F a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline F round_nearest(F a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
// a * 2^n for integral n in [-126, 128] (the caller clamps), as two in-range power-of-two factors.
inline F scale_pow2(F a, F n) {
  const __m256i ni = _mm256_cvtps_epi32(n.v);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256i rest = _mm256_sub_epi32(ni, half);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
  return {_mm256_mul_ps(_mm256_mul_ps(a.v, s1), s2)};
}
inline constexpr bool kExactScale = false;
inline F bits_and(F a, uint32_t m) {
  return {_mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(a.v), _mm256_set1_epi32(static_cast<int>(m))))};
}
inline F bits_or(F a, uint32_t m) {
  return {_mm256_castsi256_ps(_mm256_or_si256(_mm256_castps_si256(a.v), _mm256_set1_epi32(static_cast<int>(m))))};
}
inline F exponent_of(F a) {
  return {_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(a.v), 23), _mm256_set1_epi32(127)))};
}
inline void transpose(F* r) {  // 8 x 8: 32-bit then 64-bit interleaves, then 128-bit halves
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i].v, r[i + 1].v);
    t[i + 1] = _mm256_unpackhi_ps(r[i].v, r[i + 1].v);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    r[q].v = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
    r[4 + q].v = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
  }
}

#else  // portable: plain loops the compiler may vectorise for whatever the target has

constexpr int kWidth = 8;
struct F {
  float v[kWidth];
};
#define JAMBA_LANEWISE(expr)                     \
  F r;                                           \
  for (int i = 0; i < kWidth; ++i) r.v[i] = expr; \
  return r
inline uint32_t as_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
}
inline float from_bits(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
inline float f16_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) {
    if (mantissa == 0) return from_bits(sign);
    int shift = 0;
    while ((mantissa & 0x400u) == 0) mantissa <<= 1, ++shift;
    return from_bits(sign | (static_cast<uint32_t>(127 - 15 - shift + 1) << 23) | ((mantissa & 0x3ffu) << 13));
  }
  if (exponent == 31) return from_bits(sign | 0x7f800000u | (mantissa << 13));
  return from_bits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}
inline F zero() { JAMBA_LANEWISE(0.0f); }
inline F set1(float a) { JAMBA_LANEWISE(a); }
inline F load(const float* p) { JAMBA_LANEWISE(p[i]); }
inline F load_n(const float* p, int n) { JAMBA_LANEWISE(i < n ? p[i] : 0.0f); }
inline void store(float* p, F a) {
  for (int i = 0; i < kWidth; ++i) p[i] = a.v[i];
}
inline void store_n(float* p, F a, int n) {
  for (int i = 0; i < n; ++i) p[i] = a.v[i];
}
inline F load_bf16(const uint16_t* p) { JAMBA_LANEWISE(from_bits(static_cast<uint32_t>(p[i]) << 16)); }
inline F load_bf16_n(const uint16_t* p, int n) { JAMBA_LANEWISE(i < n ? from_bits(static_cast<uint32_t>(p[i]) << 16) : 0.0f); }
inline F load_bf16_pairs(const uint16_t* p) {  // lane i: bits of element 2i | element 2i+1 << 16
  JAMBA_LANEWISE(from_bits(static_cast<uint32_t>(p[2 * i]) | static_cast<uint32_t>(p[2 * i + 1]) << 16));
}
inline F bf16_pair_even(F a) { JAMBA_LANEWISE(from_bits(as_bits(a.v[i]) << 16)); }
inline F bf16_pair_odd(F a) { JAMBA_LANEWISE(from_bits(as_bits(a.v[i]) & 0xffff0000u)); }
inline F load_f16(const uint16_t* p) { JAMBA_LANEWISE(f16_bits_to_float(p[i])); }
inline F load_f16_n(const uint16_t* p, int n) { JAMBA_LANEWISE(i < n ? f16_bits_to_float(p[i]) : 0.0f); }
inline F operator+(F a, F b) { JAMBA_LANEWISE(a.v[i] + b.v[i]); }
inline F operator-(F a, F b) { JAMBA_LANEWISE(a.v[i] - b.v[i]); }
inline F operator*(F a, F b) { JAMBA_LANEWISE(a.v[i] * b.v[i]); }
inline F operator/(F a, F b) { JAMBA_LANEWISE(a.v[i] / b.v[i]); }
// Two roundings here (no FMA assumed); every path of this build uses the same one.
inline F fma(F a, F b, F c) { JAMBA_LANEWISE(a.v[i] * b.v[i] + c.v[i]); }
inline F max(F a, F b) { JAMBA_LANEWISE(a.v[i] > b.v[i] ? a.v[i] : b.v[i]); }  // NaN in b survives
inline F min(F a, F b) { JAMBA_LANEWISE(a.v[i] < b.v[i] ? a.v[i] : b.v[i]); }
inline F abs(F a) { JAMBA_LANEWISE(from_bits(as_bits(a.v[i]) & 0x7fffffffu)); }
inline F select_gt(F a, F b, F t, F f) { JAMBA_LANEWISE(a.v[i] > b.v[i] ? t.v[i] : f.v[i]); }
inline F select_eq(F a, F b, F t, F f) { JAMBA_LANEWISE(a.v[i] == b.v[i] ? t.v[i] : f.v[i]); }
inline float hsum(F a) {
  float s = 0.0f;
  for (int i = 0; i < kWidth; ++i) s += a.v[i];
  return s;
}
inline float hmax(F a) {
  float s = a.v[0];
  for (int i = 1; i < kWidth; ++i) s = a.v[i] > s ? a.v[i] : s;
  return s;
}
// Only used on |a| < 2^22 (exp clamps first): adding and removing 1.5 * 2^23 rounds to an
// integer in the current (nearest-even) mode with plain arithmetic, no libm call.
inline F round_nearest(F a) { JAMBA_LANEWISE((a.v[i] + 12582912.0f) - 12582912.0f); }
// a * 2^n for integral n in [-126, 128] (the caller clamps), as in the AVX2 build. A NaN n (from
// a NaN x, whose a is NaN too) becomes 0 before the conversion, which would be undefined.
inline int pow2_half(float n) { return (n == n ? static_cast<int>(n) : 0) >> 1; }
inline float pow2_factor(int e) { return from_bits(static_cast<uint32_t>(e + 127) << 23); }
inline F scale_pow2(F a, F n) {
  JAMBA_LANEWISE(a.v[i] * pow2_factor(pow2_half(n.v[i])) *
                 pow2_factor((n.v[i] == n.v[i] ? static_cast<int>(n.v[i]) : 0) - pow2_half(n.v[i])));
}
inline constexpr bool kExactScale = false;
inline F bits_and(F a, uint32_t m) { JAMBA_LANEWISE(from_bits(as_bits(a.v[i]) & m)); }
inline F bits_or(F a, uint32_t m) { JAMBA_LANEWISE(from_bits(as_bits(a.v[i]) | m)); }
inline F exponent_of(F a) { JAMBA_LANEWISE(static_cast<float>(static_cast<int>(as_bits(a.v[i]) >> 23) - 127)); }
inline void transpose(F* r) {
  for (int i = 0; i < kWidth; ++i)
    for (int j = i + 1; j < kWidth; ++j) {
      const float t = r[i].v[j];
      r[i].v[j] = r[j].v[i];
      r[j].v[i] = t;
    }
}
#undef JAMBA_LANEWISE

#endif

// ---- Elementary functions built on the operations above (same formulas in every build). ----

inline F fast_exp(F x) {
  // Clamp first (x as the second operand keeps a NaN). Below -104 the result is 0 either way;
  // above 89 it is +inf either way; the clamp only keeps n finite so r stays exact.
  const F lo = set1(kExactScale ? -104.0f : -87.33654f), hi = set1(kExactScale ? 89.0f : 88.72283f);
  const F xc = min(hi, max(lo, x));
  const F n = round_nearest(xc * set1(1.44269504088896341f));
  F r = fma(n, set1(-0.693359375f), xc);  // ln2 in two parts: r = x - n ln2 without cancellation
  r = fma(n, set1(2.12194440e-4f), r);
  F p = set1(1.9875691500e-4f);
  p = fma(p, r, set1(1.3981999507e-3f));
  p = fma(p, r, set1(8.3334519073e-3f));
  p = fma(p, r, set1(4.1665795894e-2f));
  p = fma(p, r, set1(1.6666665459e-1f));
  p = fma(p, r, set1(5.0000001201e-1f));
  p = fma(p, r * r, r + set1(1.0f));
  F result = scale_pow2(p, n);
  if (!kExactScale) {  // outside the clamped range: 0 below, inf above
    result = select_gt(lo, x, zero(), result);
    result = select_gt(x, hi, set1(__builtin_inff()), result);
  }
  return result;
}

// Natural log of x in [1, 2^127) (normal, positive): Cephes logf's polynomial on the mantissa
// folded into [sqrt(1/2), sqrt(2)).
inline F log_positive(F x) {
  F e = exponent_of(x);
  F m = bits_or(bits_and(x, 0x007fffffu), 0x3f800000u);  // mantissa in [1, 2)
  const F fold = select_gt(m, set1(1.41421356f), set1(1.0f), zero());
  m = m * (set1(1.0f) - fold * set1(0.5f));
  e = e + fold;
  const F f = m - set1(1.0f);
  const F z = f * f;
  F p = set1(7.0376836292e-2f);
  p = fma(p, f, set1(-1.1514610310e-1f));
  p = fma(p, f, set1(1.1676998740e-1f));
  p = fma(p, f, set1(-1.2420140846e-1f));
  p = fma(p, f, set1(1.4249322787e-1f));
  p = fma(p, f, set1(-1.6668057665e-1f));
  p = fma(p, f, set1(2.0000714765e-1f));
  p = fma(p, f, set1(-2.4999993993e-1f));
  p = fma(p, f, set1(3.3333331174e-1f));
  F y = p * f * z;
  y = fma(e, set1(-2.12194440e-4f), y);
  y = fma(z, set1(-0.5f), y);
  return fma(e, set1(0.693359375f), f + y);
}

// log(1 + y) for y >= 0, accurate for tiny y too: log(u) * y / (u - 1) with u = 1 + y rounded
// (the rounding error of u cancels to first order).
inline F log1p_nonneg(F y) {
  const F u = set1(1.0f) + y;
  const F d = u - set1(1.0f);
  const F ratio = select_eq(d, zero(), set1(1.0f), y / select_eq(d, zero(), set1(1.0f), d));
  return select_eq(d, zero(), y, log_positive(u) * ratio);
}

// x * sigmoid(x) = x / (1 + e^-x).
inline F silu(F x) { return x / (set1(1.0f) + fast_exp(zero() - x)); }
