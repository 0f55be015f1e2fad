// Row readers for weight-only quantized matrices (TensorView Q8 / Q4, tensor.h), included by
// kernels_impl.h inside each ISA's namespace (so, like simd.h, it includes nothing). A reader
// gives kWidth columns of a row as fp32: the integers are widened and converted in registers and
// multiplied by the scale (one fp32 multiply per element, as the reference's load_row does), so
// the matmul kernels (packing, FMA order) are the float formats' own.
//
// Callers ask for columns kk.. with kk a multiple of kWidth; Q4 groups (32 or 64 columns) are
// multiples of kWidth, so one vector never straddles two scales.
#pragma once

#if defined(__AVX512F__)
// 16 int8 -> fp32.
inline F widen_i8(__m128i q) { return {_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))}; }
inline F load_q8(const int8_t* p) { return widen_i8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline F load_q8_n(const int8_t* p, int n) { return widen_i8(_mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << n) - 1u), p)); }
// 8 bytes = 16 nibbles (low first), each minus 8.
inline F widen_q4(__m128i bytes) {
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(bytes, mask), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
  const __m512i v = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), _mm512_set1_epi32(8));
  return {_mm512_cvtepi32_ps(v)};
}
inline F load_q4(const uint8_t* p) { return widen_q4(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
// 16 columns of int4 times `scale` in 5 instructions: each byte twice, shifted so lane i's low
// nibble is column i, then a lookup of the 16 values (q - 8) * scale (vpermps reads only the
// index's low 4 bits). The table entries are the same fp32 products float(q - 8) * scale.
#define JAMBA_Q4_TABLE 1
inline F load_q4_scaled(const uint8_t* p, float scale) {
  const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  const __m512i twice = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(bytes, bytes));
  const __m512i index = _mm512_srlv_epi32(twice, _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0));
  const __m512 values = _mm512_set_ps(7, 6, 5, 4, 3, 2, 1, 0, -1, -2, -3, -4, -5, -6, -7, -8);
  return {_mm512_permutexvar_ps(index, _mm512_mul_ps(values, _mm512_set1_ps(scale)))};
}
#elif defined(__AVX2__)
// 8 int8 -> fp32.
inline F widen_i8(__m128i q) { return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))}; }
inline F load_q8(const int8_t* p) { return widen_i8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
inline F load_q8_n(const int8_t* p, int n) {
  alignas(16) int8_t tmp[16] = {};
  for (int i = 0; i < n; ++i) tmp[i] = p[i];
  return widen_i8(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
}
// 4 bytes = 8 nibbles (low first), each minus 8.
inline F widen_q4(__m128i bytes) {
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(bytes, mask), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
  const __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), _mm256_set1_epi32(8));
  return {_mm256_cvtepi32_ps(v)};
}
inline F load_q4(const uint8_t* p) {
  int32_t word;
  __builtin_memcpy(&word, p, 4);
  return widen_q4(_mm_cvtsi32_si128(word));
}
#else  // portable (simd.h's JAMBA_LANEWISE is undefined by now: plain loops)
inline F load_q8(const int8_t* p) {
  F r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = static_cast<float>(p[i]);
  return r;
}
inline F load_q8_n(const int8_t* p, int n) {
  F r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = i < n ? static_cast<float>(p[i]) : 0.0f;
  return r;
}
inline F load_q4(const uint8_t* p) {
  F r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = static_cast<float>(((i % 2 == 0) ? (p[i / 2] & 0x0f) : (p[i / 2] >> 4)) - 8);
  return r;
}
#endif

// Q8: int8 rows, one scale per row.
struct Q8Rows {
  const int8_t* base;
  const float* scales;
  int64_t k;
  struct Row {
    const int8_t* p;
    F scale;  // broadcast once per row, not per vector
    F get(int64_t kk) const { return load_q8(p + kk) * scale; }
    F get_n(int64_t kk, int n) const { return load_q8_n(p + kk, n) * scale; }
    // Every cache line of columns [kk, kk + count) (one byte a column).
    template <int Locality>
    void prefetch(int64_t kk, int64_t count) const {
      for (int64_t c = 0; c < count; c += 64) __builtin_prefetch(p + kk + c, 0, Locality);
    }
  };
  Row row(int64_t j) const { return {base + j * k, set1(scales[j])}; }
};

// Q4: nibble rows (k / 2 bytes), one scale per `group` columns.
struct Q4Rows {
  const uint8_t* base;
  const float* scales;
  int64_t k, group;
  struct Row {
    const uint8_t* p;
    const float* scales;  // this row's k / group scales
    int shift;            // log2(group): a shift, not a division, per vector
#ifdef JAMBA_Q4_TABLE
    F get(int64_t kk) const { return load_q4_scaled(p + kk / 2, scales[kk >> shift]); }
#else
    F get(int64_t kk) const { return load_q4(p + kk / 2) * set1(scales[kk >> shift]); }
#endif
    F get_n(int64_t kk, int n) const {
      // Only at a row's end, which k % group == 0 makes vector-aligned: the lanes past n are zeroed.
      const F v = get(kk);
      alignas(64) float tmp[kWidth];
      store(tmp, v);
      return load_n(tmp, n);
    }
    // Every cache line of columns [kk, kk + count) (half a byte a column).
    template <int Locality>
    void prefetch(int64_t kk, int64_t count) const {
      for (int64_t c = 0; c < count; c += 128) __builtin_prefetch(p + (kk + c) / 2, 0, Locality);
    }
  };
  Row row(int64_t j) const { return {base + j * (k / 2), scales + j * (k / group), group == 64 ? 6 : 5}; }
};
