// The single-threaded kernels of the CPU backend, one table per instruction set. cpu_ops.cpp
// (compiled for the baseline CPU) splits each op into ranges, runs them on threads, and calls
// the table chosen at run time; kernels_<isa>.cpp compile kernels_impl.h with their own -m flags.
//
// This header is included by those ISA files, so it holds only plain structs and declarations:
// no std:: types, nothing with an inline body (see simd.h on why).
#pragma once
#include <cstddef>
#include <cstdint>

namespace jamba::ops::cpu {

// How weight rows are stored. Every format decodes to fp32 in registers; a quantised format
// (int8 with a per-row scale, int4 in groups of 32/64 with scales) adds an entry here and a
// row reader in kernels_impl.h, and both matmul paths pick it up.
enum class WeightFormat : int32_t { F32, BF16, F16, Q8, Q4 };  // Q8/Q4: see TensorView (tensor.h)

struct MatmulArgs {
  const float* x;  // [m, k] fp32
  int64_t m, k, n;
  const void* w;  // [n, k] rows in `format`
  WeightFormat format;
  const float* bias;  // [n] or nullptr
  float* y;           // [m, n]
  const float* scales = nullptr;  // Q8: [n]; Q4: [n, k / group]
  int64_t group = 0;              // Q4: columns per scale (32 or 64)
};

struct ScanArgs {
  const float *u, *delta, *A, *B, *C, *D, *z;
  int64_t T, Di, N;
  float* state;  // [Di, N]
  float* y;      // [T, Di]
};

struct ConvArgs {
  const float* x;  // [T, C]
  int64_t T, C;
  const float* w;  // [C, K]
  int64_t K;
  const float* bias;  // [C] or nullptr
  float* state;       // [K-1, C]
  float* y;           // [T, C]
};

struct AttentionArgs {
  const float *q, *k, *v;  // [T, nh, hd], [P+T, nkv, hd] x2
  int64_t T, P, nh, nkv, hd;
  float scale;
};

// One block of attention work: query rows [t_begin, t_end) of the query heads [h_begin, h_end)
// (all reading kv head `kv_head`), against keys [key_begin, key_end) (each query also stops at
// its causal limit P + t). Writes per query the output sum_j e^(s_j - m) v_j (divided by l when
// `normalize`), the max score m and l = sum_j e^(s_j - m); a query that sees no key in the range
// gets m = -inf, l = 0, o = 0.
struct AttentionBlock {
  int64_t kv_head, t_begin, t_end, h_begin, h_end, key_begin, key_end;
  float* o;              // output of (row r, head i) at o + r * o_row_stride + i * hd
  int64_t o_row_stride;
  bool normalize;        // divide by l at the end (the block covers every visible key)
  float *m_out, *l_out;  // [rows * heads] running max and sum, or nullptr
};

struct Kernels {
  const char* isa;
  // Matmul geometry, for partitioning: rows per micro-tile, weight rows per packed strip, and
  // the size of the packed panel each thread needs (floats).
  int64_t gemm_tile_rows, gemm_strip_cols, gemm_panel_floats;

  // y[i, j] for i in [i0, i1), j in [j0, j1) (all of k). `panel` holds gemm_panel_floats floats.
  void (*matmul)(const MatmulArgs& a, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float* panel);

  void (*rmsnorm_rows)(const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y);
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* y);
  void (*softplus)(const float* x, int64_t n, float* y);
  void (*exp)(const float* x, int64_t n, float* y);  // the kernels' fast exp, for tests
  // Channels [c0, c1) over all T rows, including their part of the state update.
  void (*causal_conv1d_silu)(const ConvArgs& a, int64_t c0, int64_t c1);
  // Channels [c0, c1); `scratch` holds scan_scratch_floats(c1 - c0, N) floats.
  void (*selective_scan)(const ScanArgs& a, int64_t c0, int64_t c1, float* scratch);
  int64_t (*scan_scratch_floats)(int64_t channels, int64_t N);
  // `scratch` holds attention_scratch_floats(rows * heads, hd) floats.
  void (*attention_block)(const AttentionArgs& a, const AttentionBlock& b, float* scratch);
  int64_t (*attention_scratch_floats)(int64_t queries, int64_t hd);
};

// Matmul of bf16 weights with bf16 dot products (AVX512-BF16): the activations rounded to bf16.
struct Bf16DotKernels {
  // out: `rows` rows of k rounded up to even, x rounded to nearest even, padded with a zero.
  void (*round_rows)(const float* x, int64_t rows, int64_t k, uint16_t* out);
  // As Kernels::matmul for a.format == BF16, reading x as `x_bf16` (round_rows of a.x).
  void (*matmul)(const MatmulArgs& a, const uint16_t* x_bf16, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                 float* panel);
};

// nullptr where the build has no such kernels (non-x86) — the CPU may still lack the ISA:
// cpu_ops.cpp checks that.
const Kernels* generic_kernels();
const Kernels* avx2_kernels();
const Kernels* avx512_kernels();
const Bf16DotKernels* avx512bf16_kernels();

}  // namespace jamba::ops::cpu
