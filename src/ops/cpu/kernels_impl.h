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

template <class T, F (*Load)(const T*), F (*LoadN)(const T*, int)>
struct RowsOf {
  const T* base;
  int64_t k;
  struct Row {
    const T* p;
    F get(int64_t kk) const { return Load(p + kk); }
    F get_n(int64_t kk, int n) const { return LoadN(p + kk, n); }
    // Every cache line of columns [kk, kk + count).
    template <int Locality>
    void prefetch(int64_t kk, int64_t count) const {
      for (int64_t c = 0; c < count; c += 64 / static_cast<int64_t>(sizeof(T))) __builtin_prefetch(p + kk + c, 0, Locality);
    }
  };
  Row row(int64_t j) const { return {base + j * k}; }
};
using F32Rows = RowsOf<float, load, load_n>;
using Bf16Rows = RowsOf<uint16_t, load_bf16, load_bf16_n>;
using F16Rows = RowsOf<uint16_t, load_f16, load_f16_n>;

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
// Matmul. Two kernels, chosen by the total number of x rows (MatmulArgs::m), never by the range
// a thread gets, so the thread count does not change results:
//
// Decode (m <= kFewRowsMax): dot products along k. A vector holds kWidth consecutive columns of
// one weight row, decoded to fp32 in registers (Rows::get), and of x; one FMA per vector into an
// accumulator per (x row, weight row); one horizontal sum per output at the end. Each weight row
// is read once, start to end, at a few instructions per 64 bytes and without transposes, so
// decode runs at memory speed (bench/ops_bench.cpp --matmul). Per output: kWidth lane chains
// (lane l: columns l, l + kWidth, ... in k order, from 0; a tail is a masked load of zeros in x
// and w), summed by hsum, plus the bias.
//
// Prefill (m > kFewRowsMax): vectorised across outputs. A vector holds kWidth consecutive weight
// rows' values at one column k (kWidth rows are loaded, decoded and transposed in registers),
// the kernels broadcast x[i, k] and do one FMA per vector: the accumulators are the outputs
// themselves, 24 of them covering 12 x rows x 32 outputs, which dot products cannot match (16
// outputs per 16 accumulators: twice the cache traffic per FMA). Per output: bias + (sum over
// each block of kKc columns, in k order, of one FMA chain starting from 0), whatever the tile
// or thread. Weight rows [jc, jc + kNc) x one k-block are decoded once into an fp32 panel of
// strips of kStrip outputs, k-major, which stays in L2 while every block of kGemmMR x rows
// streams through it (2 * kGemmMR accumulators).
//
// The two orders of summation differ by fp32 rounding (about 1e-7 of ||x * w||), so decode and
// prefill of the same row agree to that, not bit for bit; each kernel alone gives the same bits
// for any thread count and any split of its rows.

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
// The cpu-bf16 backend's decode (kernels_bf16_impl.h) still goes through transposed tiles:
// groups of kFewVectors * kWidth rows decoded kChunk columns per step, prefetched
// kPrefetchColumns ahead.
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
// prefetches fetch what the rows need next.
template <class Row>
void prefetch_next_block(const Row* wr, int rows, int64_t k0, int64_t kc, int64_t k) {
  if (k0 + kc < k)
    for (int r = 0; r < rows; ++r) wr[r].template prefetch<2>(k0 + kc, min64(kc, k - k0 - kc));
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


// Decode: weight rows read at once per x row count (more rows, more memory streams in flight;
// at most kDecodeAccs accumulators, which fit the registers with the x vectors).
#if defined(__AVX512F__)
constexpr int kDecodeAccs = 16;
#else
constexpr int kDecodeAccs = 8;
#endif
constexpr int decode_group(int mr) { return kDecodeAccs / mr < 8 ? kDecodeAccs / mr : 8; }
// Software prefetch distance along each weight row, in columns: a thread reads several rows at
// once, and fetching ahead keeps enough lines in flight for all of them.
constexpr int64_t kDecodePrefetch = 512, kDecodePrefetchEvery = 64;
static_assert(kDecodePrefetchEvery % kWidth == 0);

template <class Rows, int MR, int G>
void matmul_few_rows(const MatmulArgs& a, const Rows& w, int64_t i, int64_t j0, int64_t j1) {
  const float* xr[MR];
  for (int r = 0; r < MR; ++r) xr[r] = a.x + (i + r) * a.k;
  for (int64_t jg = j0; jg < j1; jg += G) {
    const int rows = static_cast<int>(min64(G, j1 - jg));
    typename Rows::Row wr[G];
    // A short last group computes its first row again in the spare slots and does not store it.
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) wr[g] = w.row(jg + (g < rows ? g : 0));
    const int64_t next = jg + G < j1 ? jg + G : -1;  // the next group, prefetched near the end
    F acc[MR][G];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) acc[r][g] = zero();
    int64_t kk = 0;
    for (; kk + kWidth <= a.k; kk += kWidth) {
      if (kk % kDecodePrefetchEvery == 0) {
        const int64_t ahead = kk + kDecodePrefetch;
        if (ahead < a.k) {
#pragma GCC unroll 8
          for (int g = 0; g < G; ++g) wr[g].template prefetch<3>(ahead, kDecodePrefetchEvery);
        } else if (next >= 0) {
          for (int g = 0; g < G && next + g < j1; ++g)
            w.row(next + g).template prefetch<3>(ahead - a.k, kDecodePrefetchEvery);
        }
      }
      F xv[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) xv[r] = load(xr[r] + kk);
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) {
        const F wv = wr[g].get(kk);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) acc[r][g] = fma(xv[r], wv, acc[r][g]);
      }
    }
    if (kk < a.k) {
      const int n = static_cast<int>(a.k - kk);
      F xv[MR];
      for (int r = 0; r < MR; ++r) xv[r] = load_n(xr[r] + kk, n);
      for (int g = 0; g < G; ++g) {
        const F wv = wr[g].get_n(kk, n);
        for (int r = 0; r < MR; ++r) acc[r][g] = fma(xv[r], wv, acc[r][g]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int g = 0; g < rows; ++g)
        a.y[(i + r) * a.n + jg + g] = (a.bias ? a.bias[jg + g] : 0.0f) + hsum(acc[r][g]);
  }
}

template <class Rows, int MR = kFewRowsMax>
void matmul_few_rows_any(int mr, const MatmulArgs& a, const Rows& w, int64_t i, int64_t j0, int64_t j1) {
  if constexpr (MR > 1) {
    if (mr < MR) return matmul_few_rows_any<Rows, MR - 1>(mr, a, w, i, j0, j1);
  }
  matmul_few_rows<Rows, MR, decode_group(MR)>(a, w, i, j0, j1);
}

// The kernel follows a.m, the whole matmul's rows: a thread's share of a prefill can be short.
void matmul(const MatmulArgs& a, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float* panel) {
  with_rows(a, [&](const auto& w) {
    if (a.m <= kFewRowsMax) {
      for (int64_t i = i0; i < i1; i += kFewRowsMax)
        matmul_few_rows_any(static_cast<int>(min64(kFewRowsMax, i1 - i)), a, w, i, j0, j1);
    } else {
      matmul_many_rows(a, w, i0, i1, j0, j1, panel);
    }
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
// taps sit in a stack copy, transposed, and the rows stream through. Rows go in chunks of
// kConvChunk, block after block within a chunk, for the reason the scan does (below).

constexpr int64_t kMaxConvTaps = 64;
constexpr int64_t kConvChunk = 32;

void causal_conv1d_silu(const ConvArgs& a, int64_t c0, int64_t c1) {
  const int64_t K = a.K, H = K - 1, C = a.C, T = a.T;
  const float *x = a.x, *w = a.w, *bias_in = a.bias;
  float *state = a.state, *y = a.y;
  alignas(64) float taps[kMaxConvTaps * kWidth];
  for (int64_t t0 = 0; t0 < T; t0 += kConvChunk) {
    const int64_t t1 = min64(T, t0 + kConvChunk);
    for (int64_t c = c0; c < c1; c += kWidth) {
      const int n = static_cast<int>(min64(kWidth, c1 - c));
      for (int64_t j = 0; j < K; ++j)
        for (int l = 0; l < kWidth; ++l) taps[j * kWidth + l] = l < n ? w[(c + l) * K + j] : 0.0f;
      const F bias = bias_in ? load_n(bias_in + c, n) : zero();
      for (int64_t t = t0; t < t1; ++t) {
        // Each row is a stream moving 64 bytes per block: fetch a few blocks ahead.
        __builtin_prefetch(x + t * C + c + 4 * kWidth);
        __builtin_prefetch(y + t * C + c + 4 * kWidth, 1);
        F acc = bias;
        for (int64_t j = 0; j < K; ++j) {
          const int64_t r = t + j;  // row of the history: the H state rows, then x
          const float* src = r < H ? state + r * C : x + (r - H) * C;
          acc = fma(load(taps + j * kWidth), load_n(src + c, n), acc);
        }
        store_n(y + t * C + c, silu(acc), n);
      }
    }
  }
  // The new state is history rows T..T+H-1. Ascending order is safe in place: row r reads state
  // row r + T > r, which no earlier step has written.
  for (int64_t r = 0; r < H; ++r) {
    const int64_t src_row = T + r;
    const float* src = src_row < H ? state + src_row * C : x + (src_row - H) * C;
    for (int64_t c = c0; c < c1; c += kWidth) {
      const int n = static_cast<int>(min64(kWidth, c1 - c));
      store_n(state + r * C + c, load_n(src + c, n), n);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Selective scan, vectorised over channels: a block of kWidth channels holds its N states as N
// vectors (registers when N is a compile-time 8 or 16). Per step and state: one vector exp, two
// FMAs. Time goes in chunks of kScanChunk steps and, within a chunk, block after block: the
// chunk's rows of u, delta, z, y (Di apart) stay in cache and in the TLB while every block
// takes its 64 bytes of each (one block over all of T would touch a new page per step and
// array). The states live transposed, [block][n][lane], in scratch between chunks.

constexpr int64_t kScanChunk = 32;

int64_t scan_scratch_floats(int64_t channels, int64_t N) { return 2 * round_up(channels, kWidth) * N; }

template <int NS>
void scan_block(const ScanArgs& a, int64_t c, int n, float* st, const float* At, int64_t t0, int64_t t1,
                bool prefetch_next) {
  // Locals, not a.*: stores to y could alias the argument struct as far as the compiler knows.
  const int64_t N = NS > 0 ? NS : a.N, Di = a.Di;
  const float *delta = a.delta + c, *u = a.u + c, *z = a.z + c, *B = a.B, *C = a.C;
  float* y = a.y + c;
  const F Dv = load_n(a.D + c, n);
  [[maybe_unused]] F sreg[NS > 0 ? NS : 1];
  if constexpr (NS > 0) {
#pragma GCC unroll 16
    for (int s = 0; s < NS; ++s) sreg[s] = load(st + s * kWidth);
  }
  for (int64_t t = t0; t < t1; ++t) {
    if (prefetch_next) {  // the next block's 64 bytes of this row
      __builtin_prefetch(delta + t * Di + kWidth);
      __builtin_prefetch(u + t * Di + kWidth);
      __builtin_prefetch(z + t * Di + kWidth);
      __builtin_prefetch(y + t * Di + kWidth, 1);
    }
    const F d = load_n(delta + t * Di, n), ut = load_n(u + t * Di, n), zt = load_n(z + t * Di, n);
    const F du = d * ut;
    const float* Bt = B + t * N;
    const float* Ct = C + t * N;
    F yv = zero();
    if constexpr (NS > 0) {
#pragma GCC unroll 16
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
    store_n(y + t * Di, fma(Dv, ut, yv) * silu(zt), n);
  }
  if constexpr (NS > 0) {
#pragma GCC unroll 16
    for (int s = 0; s < NS; ++s) store(st + s * kWidth, sreg[s]);
  }
}

// [c][s] (n channels of N values) <-> [s][lane] for one block, in registers where the block is
// whole and N a multiple of kWidth (Jamba: N = 16), else element by element.
void block_to_lanes(const float* src, int64_t N, int n, float* dst) {
  if (n == kWidth && N % kWidth == 0) {
    F tile[kWidth];
    for (int64_t s0 = 0; s0 < N; s0 += kWidth) {
      for (int l = 0; l < kWidth; ++l) tile[l] = load(src + l * N + s0);
      transpose(tile);
      for (int i = 0; i < kWidth; ++i) store(dst + (s0 + i) * kWidth, tile[i]);
    }
    return;
  }
  for (int64_t s = 0; s < N; ++s)
    for (int l = 0; l < kWidth; ++l) dst[s * kWidth + l] = l < n ? src[l * N + s] : 0.0f;
}

void lanes_to_block(const float* src, int64_t N, int n, float* dst) {
  if (n == kWidth && N % kWidth == 0) {
    F tile[kWidth];
    for (int64_t s0 = 0; s0 < N; s0 += kWidth) {
      for (int i = 0; i < kWidth; ++i) tile[i] = load(src + (s0 + i) * kWidth);
      transpose(tile);
      for (int l = 0; l < kWidth; ++l) store(dst + l * N + s0, tile[l]);
    }
    return;
  }
  for (int l = 0; l < n; ++l)
    for (int64_t s = 0; s < N; ++s) dst[l * N + s] = src[s * kWidth + l];
}

void selective_scan(const ScanArgs& a, int64_t c0, int64_t c1, float* scratch) {
  const int64_t N = a.N, blocks = (c1 - c0 + kWidth - 1) / kWidth, per_block = N * kWidth;
  float* states = scratch;                  // [block][N][kWidth]
  float* As = scratch + blocks * per_block;  // the same layout
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c = c0 + b * kWidth;
    const int n = static_cast<int>(min64(kWidth, c1 - c));
    block_to_lanes(a.state + c * N, N, n, states + b * per_block);
    block_to_lanes(a.A + c * N, N, n, As + b * per_block);
  }
  for (int64_t t0 = 0; t0 < a.T; t0 += kScanChunk) {
    const int64_t t1 = min64(a.T, t0 + kScanChunk);
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c = c0 + b * kWidth;
      const int n = static_cast<int>(min64(kWidth, c1 - c));
      float* st = states + b * per_block;
      const float* At = As + b * per_block;
      const bool more = b + 1 < blocks;
      if (N == 16)
        scan_block<16>(a, c, n, st, At, t0, t1, more);
      else if (N == 8)
        scan_block<8>(a, c, n, st, At, t0, t1, more);
      else
        scan_block<0>(a, c, n, st, At, t0, t1, more);
    }
  }
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c = c0 + b * kWidth;
    lanes_to_block(states + b * per_block, N, static_cast<int>(min64(kWidth, c1 - c)), a.state + c * N);
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


// Lane i of the result = the sum of p[i]'s lanes.
inline F sum_each(F* p) {
  transpose(p);
  for (int step = kWidth / 2; step >= 1; step /= 2)
    for (int i = 0; i < step; ++i) p[i] = p[i] + p[i + step];
  return p[0];
}

// Scores of one query against keys [j0, j0 + count) (count <= kKeyBlock) into sq, times scale;
// HV = hd / kWidth when known at compile time (the query and each key row in whole vectors),
// else 0 (any hd, masked tails).
template <int HV>
void query_scores(const float* qv, const float* k, int64_t kv_stride, int64_t hd, int64_t count, float scale,
                  float* sq) {
  const int64_t nv = HV > 0 ? HV : (hd + kWidth - 1) / kWidth;
  for (int64_t g = 0; g < count; g += kWidth) {
    F part[kWidth];
    for (int jj = 0; jj < kWidth; ++jj) {
      F acc = zero();
      if (g + jj < count) {
        const float* kr = k + (g + jj) * kv_stride;
        if constexpr (HV > 0) {
#pragma GCC unroll 16
          for (int c = 0; c < HV; ++c) acc = fma(load(qv + c * kWidth), load(kr + c * kWidth), acc);
        } else {
          for (int64_t c = 0; c < nv; ++c) {
            const int n = static_cast<int>(min64(kWidth, hd - c * kWidth));
            acc = fma(load_n(qv + c * kWidth, n), load_n(kr + c * kWidth, n), acc);
          }
        }
      }
      part[jj] = acc;
    }
    store(sq + g, sum_each(part) * set1(scale));
  }
}

// o[0..hd) = o * corr + sum_j p[j] v_j over `count` value rows.
template <int HV>
void accumulate_values(float* o, float corr, const float* sq, const float* v, int64_t kv_stride, int64_t hd,
                       int64_t count) {
  const F c = set1(corr);
  if constexpr (HV > 0) {
    F acc[HV];
#pragma GCC unroll 16
    for (int i = 0; i < HV; ++i) acc[i] = load(o + i * kWidth) * c;
    for (int64_t j = 0; j < count; ++j) {
      const F p = set1(sq[j]);
      const float* vr = v + j * kv_stride;
#pragma GCC unroll 16
      for (int i = 0; i < HV; ++i) acc[i] = fma(p, load(vr + i * kWidth), acc[i]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < HV; ++i) store(o + i * kWidth, acc[i]);
  } else {
    for (int64_t i = 0; i < hd; i += kWidth * kOutVecs) {
      // kOutVecs vectors of the output at a time while the value rows go by.
      const int64_t span = min64(kWidth * kOutVecs, hd - i);
      const int nv = static_cast<int>((span + kWidth - 1) / kWidth);
      const int last = static_cast<int>(span - (nv - 1) * kWidth);
      F acc[kOutVecs];
      for (int u = 0; u < nv; ++u) acc[u] = load_n(o + i + u * kWidth, u + 1 < nv ? kWidth : last) * c;
      for (int64_t j = 0; j < count; ++j) {
        const F p = set1(sq[j]);
        const float* vr = v + j * kv_stride + i;
        for (int u = 0; u < nv; ++u) acc[u] = fma(p, load_n(vr + u * kWidth, u + 1 < nv ? kWidth : last), acc[u]);
      }
      for (int u = 0; u < nv; ++u) store_n(o + i + u * kWidth, acc[u], u + 1 < nv ? kWidth : last);
    }
  }
}

template <int HV>
void attention_block_hd(const AttentionArgs& a, const AttentionBlock& b, float* scratch) {
  const int64_t hd = a.hd, heads = b.h_end - b.h_begin, rows = b.t_end - b.t_begin, Q = rows * heads;
  const int64_t kv_stride = a.nkv * hd, P = a.P, nh = a.nh;
  const float* keys = a.k + b.kv_head * hd;
  const float* values = a.v + b.kv_head * hd;
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
  const int64_t key_end = min64(b.key_end, P + b.t_end);  // the last row sees keys < P + t_end
  for (int64_t j0 = b.key_begin; j0 < key_end; j0 += kKeyBlock) {
    const int64_t nk = min64(kKeyBlock, key_end - j0);
    // Rows kv_stride apart (a page apart at Jamba's sizes): fetch the next block's now.
    for (int64_t j = j0 + kKeyBlock; j < min64(j0 + 2 * kKeyBlock, key_end); ++j)
      for (int64_t i = 0; i < hd; i += 16) {
        __builtin_prefetch(keys + j * kv_stride + i);
        __builtin_prefetch(values + j * kv_stride + i);
      }
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t t = b.t_begin + q / heads;
      const int64_t visible = min64(nk, P + t + 1 - j0);  // keys of this block query q sees
      if (visible <= 0) continue;
      float* sq = scores + q * kKeyBlock;
      query_scores<HV>(a.q + (t * nh + b.h_begin + q % heads) * hd, keys + j0 * kv_stride, kv_stride, hd, visible,
                       a.scale, sq);
      float block_max = -kInf;
      for (int64_t j = 0; j < visible; ++j) block_max = sq[j] > block_max ? sq[j] : block_max;
      for (int64_t j = visible; j < kKeyBlock; ++j) sq[j] = -kInf;
      const float new_max = block_max > run_max[q] ? block_max : run_max[q];
      alignas(64) float corr[kWidth];  // e^(old - new): 0 on the first block (old = -inf)
      store(corr, fast_exp(set1(run_max[q] - new_max)));
      run_max[q] = new_max;
      F psum = zero();
      for (int64_t j = 0; j < visible; j += kWidth) {
        const F p = fast_exp(load(sq + j) - set1(new_max));  // masked keys: e^-inf = 0
        store(sq + j, p);
        psum = psum + p;
      }
      run_sum[q] = run_sum[q] * corr[0] + hsum(psum);
      accumulate_values<HV>(out_of(q), corr[0], sq, values + j0 * kv_stride, kv_stride, hd, visible);
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

// Head sizes of real models get the compile-time paths.
void attention_block(const AttentionArgs& a, const AttentionBlock& b, float* scratch) {
  switch (a.hd == 64 ? 64 : a.hd == 128 ? 128 : a.hd == 256 ? 256 : 0) {
    case 64: return attention_block_hd<64 / kWidth>(a, b, scratch);
    case 128: return attention_block_hd<128 / kWidth>(a, b, scratch);
    case 256: return attention_block_hd<256 / kWidth>(a, b, scratch);
    default: return attention_block_hd<0>(a, b, scratch);
  }
}

// ---------------------------------------------------------------------------------------------

#ifndef JAMBA_CPU_NO_TABLE
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
#endif
