// Matmul with bf16 dot products (AVX512-BF16 vdpbf16ps) for bf16 weights: the activations are
// rounded to bf16 once per matmul (round to nearest even), and each instruction multiplies 16
// pairs of bf16 values exactly and adds both products into 16 fp32 accumulators. Twice the
// multiply rate of fp32 FMAs, no widening of the weights; the price is the activations' rounding
// (relative 2^-8 at most per value): see the "cpu-bf16" backend in cpu_backend.h.
//
// Structured as the fp32 matmul of kernels_impl.h (included before this, same namespace):
// weights as 32-bit pairs of consecutive columns, transposed in registers, vectors across
// outputs; each output is bias + (per k-block, in k order, one chain over the block's pairs
// starting from 0) in both the few-rows and the many-rows path, so row count and threads do not
// change results here either.

inline F dot_pairs(F acc, F x_pairs, F w_pairs) {
  return {_mm512_dpbf16_ps(acc.v, (__m512bh)_mm512_castps_si512(x_pairs.v), (__m512bh)_mm512_castps_si512(w_pairs.v))};
}
// Columns kk, kk + 1 of a bf16 row, as one 32-bit pair in every lane.
inline F broadcast_pair(const uint16_t* row, int64_t kk) {
  uint32_t pair;
  __builtin_memcpy(&pair, row + kk, 4);
  return {_mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(pair)))};
}

// x rows rounded to bf16, each padded to an even length with a zero.
void round_rows_bf16(const float* x, int64_t rows, int64_t k, uint16_t* out) {
  const int64_t k2 = round_up(k, 2);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * k;
    uint16_t* o = out + r * k2;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(xr + i)));
    if (i < k) {
      const __mmask16 m = lanes(static_cast<int>(k - i));
      _mm256_mask_storeu_epi16(o + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, xr + i)));
    }
    if (k2 > k) o[k] = 0;
  }
}

// kWidth bf16 weight rows x columns [kk, kk + depth) as pairs into dst[p * stride] for pair p
// (columns kk + 2p, kk + 2p + 1; an odd last column is paired with 0). Rows past `rows`: zeros.
void pack_pairs(const Bf16Rows::Row* wr, int rows, int64_t kk, int64_t depth, float* dst, int64_t stride) {
  F tile[kWidth];
  for (; depth > 0; depth -= 2 * kWidth, kk += 2 * kWidth, dst += kWidth * stride) {
    const int cols = static_cast<int>(min64(2 * kWidth, depth));
    if (rows == kWidth && cols == 2 * kWidth) {
      for (int r = 0; r < kWidth; ++r) tile[r] = load_bf16_pairs(wr[r].p + kk);
    } else {
      const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << cols) - 1);
      for (int r = 0; r < kWidth; ++r)
        tile[r] = r >= rows ? zero() : F{_mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, wr[r].p + kk))};
    }
    transpose(tile);  // tile[p]: pair p of each row
    for (int p = 0; p < (cols + 1) / 2; ++p) store(dst + p * stride, tile[p]);
  }
}

template <int MR>
void gemm_micro_pairs(const uint16_t* xb, int64_t ldx, const float* strip, int64_t pairs, float* y, int64_t ldy,
                      int cols, const float* bias, bool accumulate) {
  F acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = zero();
  for (int64_t p = 0; p < pairs; ++p) {
    const F w0 = load(strip + p * kStrip), w1 = load(strip + p * kStrip + kWidth);
    for (int r = 0; r < MR; ++r) {
      const F xp = broadcast_pair(xb + r * ldx, 2 * p);
      acc[r][0] = dot_pairs(acc[r][0], xp, w0);
      acc[r][1] = dot_pairs(acc[r][1], xp, w1);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 2 && cols > v * kWidth; ++v)
      finish_outputs(acc[r][v], y + r * ldy + v * kWidth, bias ? bias + v * kWidth : nullptr, cols - v * kWidth,
                     accumulate);
}

template <int MR = kGemmMR>
void gemm_micro_pairs_any(int mr, const uint16_t* xb, int64_t ldx, const float* strip, int64_t pairs, float* y,
                          int64_t ldy, int cols, const float* bias, bool accumulate) {
  if constexpr (MR > 1) {
    if (mr < MR) return gemm_micro_pairs_any<MR - 1>(mr, xb, ldx, strip, pairs, y, ldy, cols, bias, accumulate);
  }
  gemm_micro_pairs<MR>(xb, ldx, strip, pairs, y, ldy, cols, bias, accumulate);
}

void matmul_pairs_many_rows(const MatmulArgs& a, const Bf16Rows& w, const uint16_t* xb, int64_t i0, int64_t i1,
                            int64_t j0, int64_t j1, float* panel) {
  const int64_t k2 = round_up(a.k, 2);
  for (int64_t jc = j0; jc < j1; jc += kNc) {
    const int64_t nc = min64(kNc, j1 - jc);
    for (int64_t k0 = 0; k0 < a.k; k0 += kKc) {
      const int64_t kc = min64(kKc, a.k - k0), pairs = (kc + 1) / 2;
      for (int64_t c = 0; c < round_up(nc, kStrip); c += kWidth) {
        const int rows = static_cast<int>(nc - c < kWidth ? (nc - c > 0 ? nc - c : 0) : kWidth);
        Bf16Rows::Row wr[kWidth];
        for (int r = 0; r < rows; ++r) wr[r] = w.row(jc + c + r);
        prefetch_next_block(wr, rows, k0, kc, a.k);
        pack_pairs(wr, rows, k0, kc, panel + (c / kStrip) * pairs * kStrip + (c % kStrip), kStrip);
      }
      for (int64_t i = i0; i < i1; i += kGemmMR)
        for (int64_t c = 0; c < nc; c += kStrip)
          gemm_micro_pairs_any(static_cast<int>(min64(kGemmMR, i1 - i)), xb + i * k2 + k0, k2,
                               panel + (c / kStrip) * pairs * kStrip, pairs, a.y + i * a.n + jc + c, a.n,
                               static_cast<int>(min64(kStrip, nc - c)), a.bias ? a.bias + jc + c : nullptr, k0 > 0);
    }
  }
}

template <int MR>
void matmul_pairs_few_rows(const MatmulArgs& a, const Bf16Rows& w, const uint16_t* xb, int64_t i, int64_t j0,
                           int64_t j1) {
  constexpr int NV = kFewVectors, G = NV * kWidth;
  alignas(64) float buf[kChunk / 2 * G];
  const int64_t k2 = round_up(a.k, 2);
  const uint16_t* xr[MR];
  for (int r = 0; r < MR; ++r) xr[r] = xb + (i + r) * k2;
  Bf16Rows::Row wr[G];
  for (int64_t jg = j0; jg < j1; jg += G) {
    const int rows = static_cast<int>(min64(G, j1 - jg));
    for (int r = 0; r < rows; ++r) wr[r] = w.row(jg + r);
    for (int64_t k0 = 0; k0 < a.k; k0 += kKc) {
      const int64_t kc = min64(kKc, a.k - k0);
      F acc[MR][NV];
      for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = zero();
      for (int64_t kk = 0; kk < kc; kk += kChunk) {
        const int64_t depth = min64(kChunk, kc - kk);
        if (k0 + kk + kPrefetchColumns < a.k)
          for (int r = 0; r < rows; ++r) wr[r].template prefetch<3>(k0 + kk + kPrefetchColumns, kChunk);
        for (int v = 0; v < NV; ++v) {
          const int in_tile = rows - v * kWidth;
          pack_pairs(wr + v * kWidth, in_tile < 0 ? 0 : in_tile > kWidth ? kWidth : in_tile, k0 + kk, depth,
                     buf + v * kWidth, G);
        }
        for (int64_t p = 0; p < (depth + 1) / 2; ++p) {
          F wv[NV];
          for (int v = 0; v < NV; ++v) wv[v] = load(buf + p * G + v * kWidth);
          for (int r = 0; r < MR; ++r) {
            const F xp = broadcast_pair(xr[r], k0 + kk + 2 * p);
            for (int v = 0; v < NV; ++v) acc[r][v] = dot_pairs(acc[r][v], xp, wv[v]);
          }
        }
      }
      for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV && rows > v * kWidth; ++v)
          finish_outputs(acc[r][v], a.y + (i + r) * a.n + jg + v * kWidth,
                         a.bias ? a.bias + jg + v * kWidth : nullptr, rows - v * kWidth, k0 > 0);
    }
  }
}

template <int MR = kFewRowsMax>
void matmul_pairs_few_rows_any(int mr, const MatmulArgs& a, const Bf16Rows& w, const uint16_t* xb, int64_t i,
                               int64_t j0, int64_t j1) {
  if constexpr (MR > 1) {
    if (mr < MR) return matmul_pairs_few_rows_any<MR - 1>(mr, a, w, xb, i, j0, j1);
  }
  matmul_pairs_few_rows<MR>(a, w, xb, i, j0, j1);
}

// a.format must be BF16; xb = round_rows_bf16(a.x).
void matmul_bf16_dot(const MatmulArgs& a, const uint16_t* xb, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                     float* panel) {
  const Bf16Rows w{static_cast<const uint16_t*>(a.w), a.k};
  if (i1 - i0 <= kFewRowsMax)
    matmul_pairs_few_rows_any(static_cast<int>(i1 - i0), a, w, xb, i0, j0, j1);
  else
    matmul_pairs_many_rows(a, w, xb, i0, i1, j0, j1, panel);
}
