// The CPU kernels, written once against simd.h and compiled once per instruction set: each
// kernels_<isa>.cpp includes this file inside its own namespace with its own -m flags and
// exports the table at the bottom. Single-threaded: cpu_ops.cpp hands each call a range.
//
// Rules that keep results reproducible: every output element gets the same sequence of
// operations whatever range, tile position or tail it falls in (vector lanes are independent and
// tails use masked loads of the same instructions), so results do not depend on the thread
// count, and the sequence ops (conv, scan) give bit-identical results however T is chunked.
//
// Included after simd.h, inside namespace jamba::ops::cpu::<isa>. No std headers (see simd.h).

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
constexpr float kInf = __builtin_inff();

// ---------------------------------------------------------------------------------------------
// Weight rows. A reader gives row j's columns [kk, kk + kWidth) as fp32 (get) or the first n of
// them (get_n). New storage formats add a reader here: an int8 row would carry its scale and
// return q * scale; an int4 row its packed nibbles and the scale of the group holding kk (the
// panel depth kKc is a multiple of 64 and kk a multiple of kWidth, so a group of 32 or 64
// never straddles a load or a panel).

struct F32Rows {
  const float* base;
  int64_t k;
  struct Row {
    const float* p;
    F get(int64_t kk) const { return load(p + kk); }
    F get_n(int64_t kk, int n) const { return load_n(p + kk, n); }
    template <int Locality>
    void prefetch(int64_t kk) const { __builtin_prefetch(p + kk, 0, Locality); }
  };
  Row row(int64_t j) const { return {base + j * k}; }
};

struct Bf16Rows {
  const uint16_t* base;
  int64_t k;
  struct Row {
    const uint16_t* p;
    F get(int64_t kk) const { return load_bf16(p + kk); }
    F get_n(int64_t kk, int n) const { return load_bf16_n(p + kk, n); }
    template <int Locality>
    void prefetch(int64_t kk) const { __builtin_prefetch(p + kk, 0, Locality); }
  };
  Row row(int64_t j) const { return {base + j * k}; }
};

struct F16Rows {
  const uint16_t* base;
  int64_t k;
  struct Row {
    const uint16_t* p;
    F get(int64_t kk) const { return load_f16(p + kk); }
    F get_n(int64_t kk, int n) const { return load_f16_n(p + kk, n); }
    template <int Locality>
    void prefetch(int64_t kk) const { __builtin_prefetch(p + kk, 0, Locality); }
  };
  Row row(int64_t j) const { return {base + j * k}; }
};

#include "ops/cpu/quant_rows.h"  // Q8Rows, Q4Rows

// Calls fn(rows) with the reader for a's weight format.
template <class Fn>
void with_rows(const MatmulArgs& a, Fn&& fn) {
  switch (a.format) {
    case WeightFormat::F32: fn(F32Rows{static_cast<const float*>(a.w), a.k}); return;
    case WeightFormat::BF16: fn(Bf16Rows{static_cast<const uint16_t*>(a.w), a.k}); return;
    case WeightFormat::F16: fn(F16Rows{static_cast<const uint16_t*>(a.w), a.k}); return;
    case WeightFormat::Q8: fn(Q8Rows{static_cast<const int8_t*>(a.w), a.scales, a.k}); return;
    case WeightFormat::Q4: fn(Q4Rows{static_cast<const uint8_t*>(a.w), a.scales, a.k, a.group}); return;
  }
}

// ---------------------------------------------------------------------------------------------
// Matmul, vectorised across outputs: a vector holds kWidth consecutive weight rows' values at
// one column k (kWidth rows are loaded, decoded and transposed in registers), and the kernels
// broadcast x[i, k] and do one FMA per vector: the accumulators are the outputs themselves.
//
// Each output is bias + (sum over each block of kKc columns, in k order, of one FMA chain
// starting from 0), whatever the number of rows, the tile it falls in or the thread: a matmul
// over 1 row gives the same bits as over 512, so decode, chunked prefill and one-shot prefill
// agree exactly.
//
// Many rows (prefill): weight rows [jc, jc + kNc) x one k-block are decoded once into an fp32
// panel of strips of kStrip outputs, k-major, which stays in L2 while every block of kGemmMR x
// rows streams through it (2 * kGemmMR accumulators).
// Few rows (decode): the weights are read once anyway, so a group of rows is decoded kChunk
// columns at a time into an L1 buffer and consumed at once, the accumulators of a whole k-block
// staying in registers. Decode is bound by reading the weights (bench/ops_bench.cpp).

constexpr int64_t kKc = 256, kNc = 256;
constexpr int kStrip = 2 * kWidth;
static_assert(kKc % 64 == 0 && kNc % kStrip == 0);
#if defined(__AVX512F__)
constexpr int kGemmMR = 12;  // 24 accumulators + 2 weight vectors of 32 registers
#elif defined(__AVX2__)
constexpr int kGemmMR = 6;  // 12 + 2 of 16
#else
constexpr int kGemmMR = 4;
#endif
constexpr int64_t kPanelFloats = kNc * kKc;
constexpr int kFewRowsMax = 4;
// Few rows: groups of kFewVectors * kWidth weight rows (more rows read at once made the memory
// system slower here: 128 concurrent row streams reached half the bandwidth of 32), kChunk
// columns decoded per step, prefetched kPrefetchColumns ahead.
constexpr int kFewVectors = 2;
constexpr int64_t kChunk = 32, kPrefetchColumns = 256;

// kWidth weight rows x depth columns from kk on, into dst[c * stride + 0..kWidth) for column
// kk + c: a tile is loaded, transposed in registers and stored by columns. Rows past `rows` are
// zeros.
template <class Rows>
void pack_rows(const typename Rows::Row* wr, int rows, int64_t kk, int64_t depth, float* dst, int64_t stride) {
  F tile[kWidth];
  if constexpr (__is_same(Rows, Bf16Rows)) {
    // bf16: transpose 32-bit pairs of columns, then widen each half; half the shuffles.
    if (rows == kWidth)
      for (; depth >= 2 * kWidth; depth -= 2 * kWidth, kk += 2 * kWidth, dst += 2 * kWidth * stride) {
        for (int r = 0; r < kWidth; ++r) tile[r] = load_bf16_pairs(wr[r].p + kk);
        transpose(tile);  // tile[i]: columns kk + 2i (low halves) and kk + 2i + 1 (high halves)
        for (int i = 0; i < kWidth; ++i) {
          store(dst + (2 * i) * stride, bf16_pair_even(tile[i]));
          store(dst + (2 * i + 1) * stride, bf16_pair_odd(tile[i]));
        }
      }
  }
  for (; depth > 0; depth -= kWidth, kk += kWidth, dst += kWidth * stride) {
    const int cols = static_cast<int>(min64(kWidth, depth));
    if (rows == kWidth && cols == kWidth) {
      for (int r = 0; r < kWidth; ++r) tile[r] = wr[r].get(kk);
    } else {
      for (int r = 0; r < kWidth; ++r) tile[r] = r >= rows ? zero() : wr[r].get_n(kk, cols);
    }
    transpose(tile);  // tile[i] = column kk + i of the rows
    for (int i = 0; i < cols; ++i) store(dst + i * stride, tile[i]);
  }
}

// The hardware prefetcher does not follow this many short runs of many rows at once: software
// prefetches fetch what the rows need next (64 bytes per 32 columns covers every format).
template <class Row>
void prefetch_next_block(const Row* wr, int rows, int64_t k0, int64_t kc, int64_t k) {
  if (k0 + kc < k)
    for (int r = 0; r < rows; ++r)
      for (int64_t kk = 0; kk < kc; kk += 32) wr[r].template prefetch<2>(k0 + kc + kk);
}

// out[0..n) = (first k-block ? bias or 0 : out) + acc.
inline void finish_outputs(F acc, float* out, const float* bias, int n, bool accumulate) {
  if (n >= kWidth) {
    store(out, (accumulate ? load(out) : bias ? load(bias) : zero()) + acc);
  } else {
    store_n(out, (accumulate ? load_n(out, n) : bias ? load_n(bias, n) : zero()) + acc, n);
  }
}

template <class Rows>
void pack_panel(const Rows& w, int64_t jc, int64_t nc, int64_t k0, int64_t kc, float* panel) {
  for (int64_t c = 0; c < round_up(nc, kStrip); c += kWidth) {
    const int rows = static_cast<int>(nc - c < kWidth ? (nc - c > 0 ? nc - c : 0) : kWidth);
    typename Rows::Row wr[kWidth];
    for (int r = 0; r < rows; ++r) wr[r] = w.row(jc + c + r);
    prefetch_next_block(wr, rows, k0, kc, w.k);
    pack_rows<Rows>(wr, rows, k0, kc, panel + (c / kStrip) * kc * kStrip + (c % kStrip), kStrip);
  }
}

// y[0..MR) x one strip from x rows with stride ldx; `cols` of the kStrip columns are real.
template <int MR>
void gemm_micro(const float* x, int64_t ldx, const float* strip, int64_t kc, float* y, int64_t ldy, int cols,
                const float* bias, bool accumulate) {
  F acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = zero();
  for (int64_t kk = 0; kk < kc; ++kk) {
    const F w0 = load(strip + kk * kStrip), w1 = load(strip + kk * kStrip + kWidth);
    for (int r = 0; r < MR; ++r) {
      const F xb = set1(x[r * ldx + kk]);
      acc[r][0] = fma(xb, w0, acc[r][0]);
      acc[r][1] = fma(xb, w1, acc[r][1]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 2 && cols > v * kWidth; ++v)
      finish_outputs(acc[r][v], y + r * ldy + v * kWidth, bias ? bias + v * kWidth : nullptr, cols - v * kWidth,
                     accumulate);
}

template <int MR = kGemmMR>
void gemm_micro_any(int mr, const float* x, int64_t ldx, const float* strip, int64_t kc, float* y, int64_t ldy,
                    int cols, const float* bias, bool accumulate) {
  if constexpr (MR > 1) {
    if (mr < MR) return gemm_micro_any<MR - 1>(mr, x, ldx, strip, kc, y, ldy, cols, bias, accumulate);
  }
  gemm_micro<MR>(x, ldx, strip, kc, y, ldy, cols, bias, accumulate);
}

template <class Rows>
void matmul_many_rows(const MatmulArgs& a, const Rows& w, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                      float* panel) {
  for (int64_t jc = j0; jc < j1; jc += kNc) {
    const int64_t nc = min64(kNc, j1 - jc);
    for (int64_t k0 = 0; k0 < a.k; k0 += kKc) {
      const int64_t kc = min64(kKc, a.k - k0);
      pack_panel(w, jc, nc, k0, kc, panel);
      for (int64_t i = i0; i < i1; i += kGemmMR)
        for (int64_t c = 0; c < nc; c += kStrip)
          gemm_micro_any(static_cast<int>(min64(kGemmMR, i1 - i)), a.x + i * a.k + k0, a.k,
                         panel + (c / kStrip) * kc * kStrip, kc, a.y + i * a.n + jc + c, a.n,
                         static_cast<int>(min64(kStrip, nc - c)), a.bias ? a.bias + jc + c : nullptr, k0 > 0);
    }
  }
}

template <class Rows, int MR>
void matmul_few_rows(const MatmulArgs& a, const Rows& w, int64_t i, int64_t j0, int64_t j1) {
  constexpr int NV = kFewVectors, G = NV * kWidth;
  alignas(64) float buf[kChunk * G];
  const float* xr[MR];
  for (int r = 0; r < MR; ++r) xr[r] = a.x + (i + r) * a.k;
  typename Rows::Row wr[G];
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
          for (int r = 0; r < rows; ++r)
            for (int64_t c = 0; c < kChunk; c += 32) wr[r].template prefetch<3>(k0 + kk + kPrefetchColumns + c);
        for (int v = 0; v < NV; ++v) {
          const int in_tile = rows - v * kWidth;
          pack_rows<Rows>(wr + v * kWidth, in_tile < 0 ? 0 : in_tile > kWidth ? kWidth : in_tile, k0 + kk, depth,
                          buf + v * kWidth, G);
        }
        for (int64_t c = 0; c < depth; ++c) {
          F wv[NV];
          for (int v = 0; v < NV; ++v) wv[v] = load(buf + c * G + v * kWidth);
          for (int r = 0; r < MR; ++r) {
            const F xb = set1(xr[r][k0 + kk + c]);
            for (int v = 0; v < NV; ++v) acc[r][v] = fma(xb, wv[v], acc[r][v]);
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

template <class Rows, int MR = kFewRowsMax>
void matmul_few_rows_any(int mr, const MatmulArgs& a, const Rows& w, int64_t i, int64_t j0, int64_t j1) {
  if constexpr (MR > 1) {
    if (mr < MR) return matmul_few_rows_any<Rows, MR - 1>(mr, a, w, i, j0, j1);
  }
  matmul_few_rows<Rows, MR>(a, w, i, j0, j1);
}

void matmul(const MatmulArgs& a, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float* panel) {
  with_rows(a, [&](const auto& w) {
    if (i1 - i0 <= kFewRowsMax)
      matmul_few_rows_any(static_cast<int>(i1 - i0), a, w, i0, j0, j1);
    else
      matmul_many_rows(a, w, i0, i1, j0, j1, panel);
  });
}

// ---------------------------------------------------------------------------------------------
// Elementwise and per-row ops.

void rmsnorm_rows(const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    F s0 = zero(), s1 = zero();
    int64_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
      const F a = load(xr + i), b = load(xr + i + kWidth);
      s0 = fma(a, a, s0);
      s1 = fma(b, b, s1);
    }
    for (; i < n; i += kWidth) {
      const F a = load_n(xr + i, static_cast<int>(min64(kWidth, n - i)));
      s0 = fma(a, a, s0);
    }
    const double mean_sq = static_cast<double>(hsum(s0 + s1)) / static_cast<double>(n);
    const F inv = set1(static_cast<float>(1.0 / __builtin_sqrt(mean_sq + eps)));
    for (i = 0; i + kWidth <= n; i += kWidth) store(yr + i, load(weight + i) * (load(xr + i) * inv));
    if (i < n) {
      const int rest = static_cast<int>(n - i);
      store_n(yr + i, load_n(weight + i, rest) * (load_n(xr + i, rest) * inv), rest);
    }
  }
}

// out[i] = f(in...) over n values, full vectors then one masked tail.
template <class Fn>
void elementwise(int64_t n, Fn&& fn) {
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) fn(i, kWidth);
  if (i < n) fn(i, static_cast<int>(n - i));
}

void silu_mul(const float* gate, const float* up, int64_t n, float* y) {
  elementwise(n, [&](int64_t i, int w) {
    const F g = w == kWidth ? load(gate + i) : load_n(gate + i, w);
    const F u = w == kWidth ? load(up + i) : load_n(up + i, w);
    w == kWidth ? store(y + i, silu(g) * u) : store_n(y + i, silu(g) * u, w);
  });
}

// softplus(x) = max(x, 0) + log1p(e^-|x|), and x itself above torch's threshold of 20.
void softplus(const float* x, int64_t n, float* y) {
  elementwise(n, [&](int64_t i, int w) {
    const F v = w == kWidth ? load(x + i) : load_n(x + i, w);
    const F soft = max(zero(), v) + log1p_nonneg(fast_exp(zero() - abs(v)));
    const F out = select_gt(v, set1(20.0f), v, soft);
    w == kWidth ? store(y + i, out) : store_n(y + i, out, w);
  });
}

void exp_values(const float* x, int64_t n, float* y) {
  elementwise(n, [&](int64_t i, int w) {
    w == kWidth ? store(y + i, fast_exp(load(x + i))) : store_n(y + i, fast_exp(load_n(x + i, w)), w);
  });
}

// ---------------------------------------------------------------------------------------------
// Causal depthwise conv + SiLU, vectorised over channels: per block of kWidth channels the K
// taps sit in registers (a stack copy, transposed) and the T rows stream through.

constexpr int64_t kMaxConvTaps = 64;

void causal_conv1d_silu(const ConvArgs& a, int64_t c0, int64_t c1) {
  const int64_t K = a.K, H = K - 1, C = a.C, T = a.T;
  alignas(64) float taps[kMaxConvTaps * kWidth];
  for (int64_t c = c0; c < c1; c += kWidth) {
    const int n = static_cast<int>(min64(kWidth, c1 - c));
    for (int64_t j = 0; j < K; ++j)
      for (int l = 0; l < kWidth; ++l) taps[j * kWidth + l] = l < n ? a.w[(c + l) * K + j] : 0.0f;
    const F bias = a.bias ? load_n(a.bias + c, n) : zero();
    for (int64_t t = 0; t < T; ++t) {
      F acc = bias;
      for (int64_t j = 0; j < K; ++j) {
        const int64_t r = t + j;  // row of the history: the H state rows, then x
        const float* src = r < H ? a.state + r * C : a.x + (r - H) * C;
        acc = fma(load(taps + j * kWidth), load_n(src + c, n), acc);
      }
      store_n(a.y + t * C + c, silu(acc), n);
    }
    // The new state is history rows T..T+H-1. Ascending order is safe in place: row r reads
    // state row r + T > r, which no earlier step has written.
    for (int64_t r = 0; r < H; ++r) {
      const int64_t src_row = T + r;
      const float* src = src_row < H ? a.state + src_row * C : a.x + (src_row - H) * C;
      store_n(a.state + r * C + c, load_n(src + c, n), n);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Selective scan, vectorised over channels: a block of kWidth channels holds its N states as N
// vectors (registers when N is a compile-time 8 or 16), transposed in from state[c, n] at the
// start and out at the end. Per step and state: one vector exp, two FMAs.

int64_t scan_scratch_floats(int64_t N) { return 2 * N * kWidth; }

template <int NS>
void scan_block(const ScanArgs& a, int64_t c, int n, float* scratch) {
  const int64_t N = NS > 0 ? NS : a.N, Di = a.Di;
  float* st = scratch;           // [N][kWidth]
  float* At = scratch + N * kWidth;  // [N][kWidth]
  for (int64_t s = 0; s < N; ++s)
    for (int l = 0; l < kWidth; ++l) {
      st[s * kWidth + l] = l < n ? a.state[(c + l) * N + s] : 0.0f;
      At[s * kWidth + l] = l < n ? a.A[(c + l) * N + s] : 0.0f;
    }
  const F Dv = load_n(a.D + c, n);
  [[maybe_unused]] F sreg[NS > 0 ? NS : 1];
  if constexpr (NS > 0)
    for (int s = 0; s < NS; ++s) sreg[s] = load(st + s * kWidth);
  for (int64_t t = 0; t < a.T; ++t) {
    const int64_t at = t * Di + c;
    const F d = load_n(a.delta + at, n), u = load_n(a.u + at, n), z = load_n(a.z + at, n);
    const F du = d * u;
    const float* Bt = a.B + t * N;
    const float* Ct = a.C + t * N;
    F yv = zero();
    if constexpr (NS > 0) {
      for (int s = 0; s < NS; ++s) {
        const F decay = fast_exp(d * load(At + s * kWidth));
        sreg[s] = fma(decay, sreg[s], du * set1(Bt[s]));
        yv = fma(sreg[s], set1(Ct[s]), yv);
      }
    } else {
      for (int64_t s = 0; s < N; ++s) {
        const F decay = fast_exp(d * load(At + s * kWidth));
        const F sv = fma(decay, load(st + s * kWidth), du * set1(Bt[s]));
        store(st + s * kWidth, sv);
        yv = fma(sv, set1(Ct[s]), yv);
      }
    }
    store_n(a.y + at, fma(Dv, u, yv) * silu(z), n);
  }
  if constexpr (NS > 0)
    for (int s = 0; s < NS; ++s) store(st + s * kWidth, sreg[s]);
  for (int l = 0; l < n; ++l)
    for (int64_t s = 0; s < N; ++s) a.state[(c + l) * N + s] = st[s * kWidth + l];
}

void selective_scan(const ScanArgs& a, int64_t c0, int64_t c1, float* scratch) {
  for (int64_t c = c0; c < c1; c += kWidth) {
    const int n = static_cast<int>(min64(kWidth, c1 - c));
    if (a.N == 16)
      scan_block<16>(a, c, n, scratch);
    else if (a.N == 8)
      scan_block<8>(a, c, n, scratch);
    else
      scan_block<0>(a, c, n, scratch);
  }
}

// ---------------------------------------------------------------------------------------------
// Attention for one block of queries sharing a kv head, over blocks of kKeyBlock keys with an
// online softmax (running max m, running sum l, output rescaled by e^(m_old - m_new)). Each
// query's vector sits in registers while the block's keys stream past (one dot product and one
// horizontal sum per key), then its output accumulates the block's value rows, in registers
// kOutVecs vectors at a time.

constexpr int64_t kKeyBlock = 32;
static_assert(kKeyBlock % kWidth == 0);
constexpr int kOutVecs = 8;

int64_t attention_scratch_floats(int64_t queries, int64_t hd) { return queries * (kKeyBlock + 2); }

float dot_scaled(const float* a, const float* b, int64_t hd, float scale) {
  F acc0 = zero(), acc1 = zero();
  int64_t i = 0;
  for (; i + 2 * kWidth <= hd; i += 2 * kWidth) {
    acc0 = fma(load(a + i), load(b + i), acc0);
    acc1 = fma(load(a + i + kWidth), load(b + i + kWidth), acc1);
  }
  for (; i < hd; i += kWidth) {
    const int n = static_cast<int>(min64(kWidth, hd - i));
    acc0 = fma(load_n(a + i, n), load_n(b + i, n), acc0);
  }
  return hsum(acc0 + acc1) * scale;
}

void attention_block(const AttentionArgs& a, const AttentionBlock& b, float* scratch) {
  const int64_t hd = a.hd, heads = b.h_end - b.h_begin, rows = b.t_end - b.t_begin, Q = rows * heads;
  const int64_t kv_stride = a.nkv * hd;
  float* scores = scratch;                   // [Q][kKeyBlock]
  float* run_max = scratch + Q * kKeyBlock;  // [Q]
  float* run_sum = run_max + Q;              // [Q]
  auto out_of = [&](int64_t q) { return b.o + (q / heads) * b.o_row_stride + (q % heads) * hd; };
  for (int64_t q = 0; q < Q; ++q) {
    run_max[q] = -kInf;
    run_sum[q] = 0.0f;
    float* o = out_of(q);
    for (int64_t i = 0; i < hd; ++i) o[i] = 0.0f;
  }
  const int64_t key_end = min64(b.key_end, a.P + b.t_end);  // the last row sees keys < P + t_end
  for (int64_t j0 = b.key_begin; j0 < key_end; j0 += kKeyBlock) {
    const int64_t nk = min64(kKeyBlock, key_end - j0);
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t t = b.t_begin + q / heads, h = b.h_begin + q % heads;
      const float* qv = a.q + (t * a.nh + h) * hd;
      const int64_t visible = min64(nk, a.P + t + 1 - j0);  // keys of this block query q sees
      float* sq = scores + q * kKeyBlock;
      float block_max = -kInf;
      for (int64_t j = 0; j < visible; ++j) {
        sq[j] = dot_scaled(qv, a.k + (j0 + j) * kv_stride + b.kv_head * hd, hd, a.scale);
        block_max = sq[j] > block_max ? sq[j] : block_max;
      }
      for (int64_t j = visible < 0 ? 0 : visible; j < kKeyBlock; ++j) sq[j] = -kInf;
      if (visible <= 0) continue;
      const float new_max = block_max > run_max[q] ? block_max : run_max[q];
      // e^(old - new): 0 on the first block (old = -inf).
      alignas(64) float corr[kWidth];
      store(corr, fast_exp(set1(run_max[q] - new_max)));
      run_max[q] = new_max;
      F psum = zero();
      for (int64_t j = 0; j < visible; j += kWidth) {  // kKeyBlock is a multiple of kWidth
        const F p = fast_exp(load(sq + j) - set1(new_max));  // masked keys: e^-inf = 0
        store(sq + j, p);
        psum = psum + p;
      }
      run_sum[q] = run_sum[q] * corr[0] + hsum(psum);
      float* o = out_of(q);
      const F c = set1(corr[0]);
      for (int64_t i = 0; i < hd; i += kWidth * kOutVecs) {
        // kOutVecs vectors of the output in registers while this block's value rows go by.
        const int64_t span = min64(kWidth * kOutVecs, hd - i);
        const int nv = static_cast<int>((span + kWidth - 1) / kWidth);
        const int last = static_cast<int>(span - (nv - 1) * kWidth);
        F acc[kOutVecs];
        for (int v = 0; v < nv; ++v) acc[v] = load_n(o + i + v * kWidth, v + 1 < nv ? kWidth : last) * c;
        for (int64_t j = 0; j < visible; ++j) {
          const F p = set1(sq[j]);
          const float* vr = a.v + (j0 + j) * kv_stride + b.kv_head * hd + i;
          for (int v = 0; v + 1 < nv; ++v) acc[v] = fma(p, load(vr + v * kWidth), acc[v]);
          acc[nv - 1] = fma(p, load_n(vr + (nv - 1) * kWidth, last), acc[nv - 1]);
        }
        for (int v = 0; v < nv; ++v) store_n(o + i + v * kWidth, acc[v], v + 1 < nv ? kWidth : last);
      }
    }
  }
  for (int64_t q = 0; q < Q; ++q) {
    if (b.normalize) {
      float* o = out_of(q);
      const F inv = set1(1.0f / run_sum[q]);
      for (int64_t i = 0; i < hd; i += kWidth) {
        const int n = static_cast<int>(min64(kWidth, hd - i));
        store_n(o + i, load_n(o + i, n) * inv, n);
      }
    }
    if (b.m_out) b.m_out[q] = run_max[q];
    if (b.l_out) b.l_out[q] = run_sum[q];
  }
}

// ---------------------------------------------------------------------------------------------

const Kernels kTable = {
    JAMBA_CPU_ISA_NAME,
    kGemmMR,
    kStrip,
    kPanelFloats,
    matmul,
    rmsnorm_rows,
    silu_mul,
    softplus,
    exp_values,
    causal_conv1d_silu,
    selective_scan,
    scan_scratch_floats,
    attention_block,
    attention_scratch_floats,
};
