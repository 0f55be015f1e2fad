// The CPU backend's ops: split each op into ranges, run them on OpenMP threads, call the kernel
// table of the instruction set chosen at run time. Compiled for the baseline CPU.
//
// Threads: OpenMP, as the rest of the code (and --threads) already uses it. A parallel region
// costs a few microseconds here (bench/ops_bench.cpp measures it: 3 us on 2 Zen 5 vCPUs), small
// next to any op big enough to be split (threads_for); smaller ops run on the calling thread.
// A pool of our own would save little of that and lose OpenMP's --threads plumbing.
#include "ops/cpu/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

#include "base/error.h"
#include "ops/cpu/kernels.h"

namespace jamba::ops {
namespace {

using cpu::Kernels;

// ---- Which instruction sets this CPU has --------------------------------------------------

bool cpu_has(CpuIsa isa) {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  unsigned eax, ebx, ecx, edx;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  switch (isa) {
    case CpuIsa::Generic: return true;
    case CpuIsa::Avx2: return avx2;
    case CpuIsa::Avx512:  // __builtin_cpu_supports also checks that the OS saves the state
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
#else
  return isa == CpuIsa::Generic;
#endif
}

bool cpu_has_bf16_dot() {
#if defined(__x86_64__) || defined(_M_X64)
  return cpu::avx512bf16_kernels() != nullptr && cpu::avx512_kernels() != nullptr && cpu_has(CpuIsa::Avx512) &&
         __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

const Kernels* kernels_of(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Generic: return cpu::generic_kernels();
    case CpuIsa::Avx2: return cpu::avx2_kernels();
    case CpuIsa::Avx512: return cpu::avx512_kernels();
  }
  return nullptr;
}

// ---- Threads ----------------------------------------------------------------------------------

// Threads worth using for `work` units when each thread should get at least `min_per_thread`.
int threads_for(double work, double min_per_thread) {
  const int most = omp_in_parallel() ? 1 : omp_get_max_threads();
  return static_cast<int>(std::clamp(work / min_per_thread, 1.0, static_cast<double>(most)));
}

// fn(thread, threads) on `threads` threads; inline when one.
template <class Fn>
void run_threads(int threads, const Fn& fn) {
  if (threads <= 1) {
    fn(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  fn(omp_get_thread_num(), omp_get_num_threads());
}

struct Range {
  int64_t begin, end;
};
// Part `part` of `parts` of [0, total), boundaries at multiples of `align`.
Range split(int64_t total, int parts, int part, int64_t align) {
  const int64_t chunk = (total / parts + (total % parts != 0) + align - 1) / align * align;
  const int64_t begin = std::min(total, part * chunk);
  return {begin, std::min(total, begin + chunk)};
}

// Per-thread scratch that lives as long as the (pooled) OpenMP thread.
float* scratch(size_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

// ---- Ops ----------------------------------------------------------------------------------------

cpu::WeightFormat weight_format(const TensorView& w) {
  if (w.device != Device::CPU) fail("cpu backend: matmul weight is not in CPU memory");
  switch (w.dtype) {
    case DType::F32: return cpu::WeightFormat::F32;
    case DType::BF16: return cpu::WeightFormat::BF16;
    case DType::F16: return cpu::WeightFormat::F16;
    case DType::Q8:
    case DType::Q4:
      if (!w.scales) fail("cpu backend: quantized matmul weight ", shape_string(w.shape), " has no scales");
      if (w.dtype == DType::Q4 && ((w.group_size != 32 && w.group_size != 64) || w.row_size() % w.group_size != 0))
        fail("cpu backend: Q4 weight ", shape_string(w.shape), " needs a group size of 32 or 64 dividing k, not ",
             w.group_size);
      return w.dtype == DType::Q8 ? cpu::WeightFormat::Q8 : cpu::WeightFormat::Q4;
    default: fail("cpu backend: matmul weight dtype ", dtype_name(w.dtype), " is not supported");
  }
}

// Runs compute(a, i0, i1, j0, j1, panel) over the threads; false when there is nothing to
// multiply (y then holds the bias or zeros).
template <class Compute>
void run_matmul(const Kernels& kt, const cpu::MatmulArgs& a, const Compute& compute) {
  const int64_t m = a.m, n = a.n, k = a.k;
  if (m <= 0 || n <= 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) a.y[i * n + j] = a.bias ? a.bias[j] : 0.0f;
    return;
  }
  // Split the weight rows when each thread gets a few strips (each thread then reads only its
  // share of the weights: decode, and prefill of wide matrices); otherwise split the x rows.
  const int threads = threads_for(2.0 * m * n * k, 1 << 18);
  const bool split_cols = n >= static_cast<int64_t>(threads) * 2 * kt.gemm_strip_cols || m < 2 * kt.gemm_tile_rows;
  run_threads(threads, [&](int t, int nt) {
    float* panel = scratch(kt.gemm_panel_floats);
    if (split_cols) {
      const Range cols = split(n, nt, t, kt.gemm_strip_cols);
      if (cols.begin < cols.end) compute(a, 0, m, cols.begin, cols.end, panel);
    } else {
      const Range rows = split(m, nt, t, kt.gemm_tile_rows);
      if (rows.begin < rows.end) compute(a, rows.begin, rows.end, 0, n, panel);
    }
  });
}

void matmul(const Kernels& kt, const float* x, int64_t m, const TensorView& w, const float* bias, float* y) {
  run_matmul(kt, {x, m, w.row_size(), w.rows(), w.data, weight_format(w), bias, y, w.scales, w.group_size}, kt.matmul);
}

// bf16 weights through bf16 dot products, the activations rounded to bf16 once; other weights
// as matmul().
void matmul_bf16_dot(const Kernels& kt, const cpu::Bf16DotKernels& kb, const float* x, int64_t m,
                     const TensorView& w, const float* bias, float* y) {
  const cpu::MatmulArgs a{x, m, w.row_size(), w.rows(), w.data, weight_format(w), bias, y, w.scales, w.group_size};
  if (a.format != cpu::WeightFormat::BF16 || a.k == 0 || m <= 0) return run_matmul(kt, a, kt.matmul);
  const int64_t k2 = (a.k + 1) / 2 * 2;
  thread_local std::vector<uint16_t> rounded;
  if (rounded.size() < static_cast<size_t>(m * k2)) rounded.resize(m * k2);
  uint16_t* xb = rounded.data();
  run_threads(threads_for(double(m) * a.k, 1 << 16), [&](int t, int nt) {
    const Range r = split(m, nt, t, 1);
    if (r.begin < r.end) kb.round_rows(x + r.begin * a.k, r.end - r.begin, a.k, xb + r.begin * k2);
  });
  run_matmul(kt, a, [&](const cpu::MatmulArgs& args, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float* panel) {
    kb.matmul(args, xb, i0, i1, j0, j1, panel);
  });
}

void rmsnorm(const Kernels& kt, const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y) {
  run_threads(threads_for(double(rows) * n, 1 << 16), [&](int t, int nt) {
    const Range r = split(rows, nt, t, 1);
    if (r.begin < r.end) kt.rmsnorm_rows(x + r.begin * n, r.end - r.begin, n, weight, eps, y + r.begin * n);
  });
}

void silu_mul(const Kernels& kt, const float* gate, const float* up, int64_t n, float* y) {
  run_threads(threads_for(n, 1 << 15), [&](int t, int nt) {
    const Range r = split(n, nt, t, 64);
    if (r.begin < r.end) kt.silu_mul(gate + r.begin, up + r.begin, r.end - r.begin, y + r.begin);
  });
}

void softplus(const Kernels& kt, const float* x, int64_t n, float* y) {
  run_threads(threads_for(n, 1 << 15), [&](int t, int nt) {
    const Range r = split(n, nt, t, 64);
    if (r.begin < r.end) kt.softplus(x + r.begin, r.end - r.begin, y + r.begin);
  });
}

constexpr int64_t kMaxConvTaps = 64;  // kernels_impl.h keeps the taps of a block on the stack

void causal_conv1d_silu(const Kernels& kt, const float* x, int64_t T, int64_t C, const float* w, int64_t K,
                        const float* bias, float* state, float* y) {
  if (K > kMaxConvTaps) {  // no model has such a conv; stay correct anyway
    reference_backend().causal_conv1d_silu(x, T, C, w, K, bias, state, y);
    return;
  }
  const cpu::ConvArgs a{x, T, C, w, K, bias, state, y};
  run_threads(threads_for(double(T) * C * K, 1 << 15), [&](int t, int nt) {
    const Range c = split(C, nt, t, 16);
    if (c.begin < c.end) kt.causal_conv1d_silu(a, c.begin, c.end);
  });
}

void selective_scan(const Kernels& kt, const float* u, const float* delta, const float* A, const float* B,
                    const float* C, const float* D, const float* z, int64_t T, int64_t Di, int64_t N, float* state,
                    float* y) {
  const cpu::ScanArgs a{u, delta, A, B, C, D, z, T, Di, N, state, y};
  run_threads(threads_for(double(T) * Di * N, 1 << 14), [&](int t, int nt) {
    const Range c = split(Di, nt, t, 16);
    if (c.begin < c.end) kt.selective_scan(a, c.begin, c.end, scratch(kt.scan_scratch_floats(c.end - c.begin, N)));
  });
}

// Decode over a long cache splits the keys into chunks of this many (flash-decoding), merged
// afterwards. The split depends on T and P only, so results do not depend on the thread count
// (they differ from the unsplit path by fp32 rounding).
constexpr int64_t kSplitKeys = 512;

void attention(const Kernels& kt, const float* q, const float* k, const float* v, int64_t T, int64_t P, int64_t nh,
               int64_t nkv, int64_t hd, float scale, float* out) {
  if (T <= 0) return;
  const int64_t group = nh / nkv, L = P + T;
  // A block holds every query head of one kv head for a few rows (about 16 queries), so each
  // key and value row loaded from memory serves all of them.
  const int64_t rows_per_block = std::clamp<int64_t>(16 / group, 1, T);
  const int64_t row_blocks = (T + rows_per_block - 1) / rows_per_block;
  const int64_t splits = T <= 4 && L >= 2 * kSplitKeys ? (L + kSplitKeys - 1) / kSplitKeys : 1;
  const int64_t queries = rows_per_block * group;
  const int64_t items = nkv * row_blocks * splits;
  const cpu::AttentionArgs a{q, k, v, T, P, nh, nkv, hd, scale};
  const int threads = std::min<int64_t>(items, threads_for(double(T) * L * nh * hd, 1 << 16));

  // Split results: per item, [queries][hd] outputs and [queries] maxima and sums.
  std::vector<float> part_o, part_m, part_l;
  if (splits > 1) {
    part_o.resize(items * queries * hd);
    part_m.resize(items * queries);
    part_l.resize(items * queries);
  }
  std::atomic<int64_t> next{0};
  run_threads(threads, [&](int, int) {
    float* buf = scratch(kt.attention_scratch_floats(queries, hd));
    for (int64_t item; (item = next.fetch_add(1)) < items;) {
      const int64_t s = item % splits, rb = item / splits % row_blocks, g = item / splits / row_blocks;
      const int64_t t0 = rb * rows_per_block, t1 = std::min(T, t0 + rows_per_block);
      cpu::AttentionBlock b{g, t0, t1, g * group, (g + 1) * group, 0, L, nullptr, nh * hd, true, nullptr, nullptr};
      if (splits == 1) {
        b.o = out + (t0 * nh + g * group) * hd;
      } else {
        b.key_begin = s * kSplitKeys;
        b.key_end = std::min(L, b.key_begin + kSplitKeys);
        b.o = part_o.data() + item * queries * hd;
        b.o_row_stride = group * hd;
        b.normalize = false;
        b.m_out = part_m.data() + item * queries;
        b.l_out = part_l.data() + item * queries;
      }
      kt.attention_block(a, b, buf);
    }
  });
  if (splits == 1) return;
  // Merge the chunks of each query: weights e^(m_s - M) / sum_s l_s e^(m_s - M).
  std::vector<float> weight(splits);
  for (int64_t g = 0; g < nkv; ++g)
    for (int64_t rb = 0; rb < row_blocks; ++rb) {
      const int64_t t0 = rb * rows_per_block, rows = std::min(T, t0 + rows_per_block) - t0;
      const int64_t first = (g * row_blocks + rb) * splits;
      for (int64_t qi = 0; qi < rows * group; ++qi) {
        float M = -INFINITY;
        for (int64_t s = 0; s < splits; ++s) M = std::max(M, part_m[(first + s) * queries + qi]);
        double total = 0.0;
        for (int64_t s = 0; s < splits; ++s) {
          const float m = part_m[(first + s) * queries + qi];
          weight[s] = m == -INFINITY ? 0.0f : std::exp(m - M);
          total += weight[s] * double(part_l[(first + s) * queries + qi]);
        }
        float* o = out + ((t0 + qi / group) * nh + g * group + qi % group) * hd;
        for (int64_t i = 0; i < hd; ++i) {
          double acc = 0.0;
          for (int64_t s = 0; s < splits; ++s) acc += weight[s] * double(part_o[((first + s) * queries + qi) * hd + i]);
          o[i] = static_cast<float>(acc / total);
        }
      }
    }
}

// Routing is a few dozen numbers per row: plain code, fp64 softmax like the reference so the
// selected experts agree with it exactly on equal logits.
void moe_route(const float* logits, int64_t rows, int64_t E, int64_t top_k, int32_t* expert_ids, float* weights) {
#pragma omp parallel if (rows * E > (1 << 16))
  {
    std::vector<double> probs(E);
    std::vector<char> taken(E);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* lr = logits + r * E;
      const double max_logit = *std::max_element(lr, lr + E);
      double total = 0.0;
      for (int64_t e = 0; e < E; ++e) total += probs[e] = std::exp(double(lr[e]) - max_logit);
      std::fill(taken.begin(), taken.end(), 0);
      for (int64_t j = 0; j < top_k; ++j) {
        int64_t best = -1;  // the largest untaken; strictly greater wins, so ties go to the lower id
        for (int64_t e = 0; e < E; ++e)
          if (!taken[e] && (best < 0 || probs[e] > probs[best])) best = e;
        taken[best] = 1;
        expert_ids[r * top_k + j] = static_cast<int32_t>(best);
        weights[r * top_k + j] = static_cast<float>(probs[best] / total);
      }
    }
  }
}

// ---- The backend tables ----------------------------------------------------------------------

template <CpuIsa I>
const Kernels& kernels() {
  static const Kernels* table = kernels_of(I);
  return *table;
}

template <CpuIsa I>
Backend make_backend(const char* name) {
  return {
      name,
      [](const float* x, int64_t m, const TensorView& w, const float* bias, float* y) {
        matmul(kernels<I>(), x, m, w, bias, y);
      },
      [](const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y) {
        rmsnorm(kernels<I>(), x, rows, n, weight, eps, y);
      },
      [](const float* gate, const float* up, int64_t n, float* y) { silu_mul(kernels<I>(), gate, up, n, y); },
      [](const float* x, int64_t T, int64_t C, const float* w, int64_t K, const float* bias, float* state,
         float* y) { causal_conv1d_silu(kernels<I>(), x, T, C, w, K, bias, state, y); },
      [](const float* x, int64_t n, float* y) { softplus(kernels<I>(), x, n, y); },
      [](const float* u, const float* delta, const float* A, const float* B, const float* C, const float* D,
         const float* z, int64_t T, int64_t Di, int64_t N, float* state, float* y) {
        selective_scan(kernels<I>(), u, delta, A, B, C, D, z, T, Di, N, state, y);
      },
      [](const float* q, const float* k, const float* v, int64_t T, int64_t P, int64_t nh, int64_t nkv, int64_t hd,
         float scale, float* out) { attention(kernels<I>(), q, k, v, T, P, nh, nkv, hd, scale, out); },
      moe_route,
  };
}

// AVX-512 kernels with the bf16-dot-product matmul; null without AVX512-BF16.
const Backend* bf16_dot_backend() {
  static const Backend backend = [] {
    Backend b = make_backend<CpuIsa::Avx512>("cpu-bf16");
    b.matmul = [](const float* x, int64_t m, const TensorView& w, const float* bias, float* y) {
      static const cpu::Bf16DotKernels& kb = *cpu::avx512bf16_kernels();
      matmul_bf16_dot(kernels<CpuIsa::Avx512>(), kb, x, m, w, bias, y);
    };
    return b;
  }();
  return cpu_has_bf16_dot() ? &backend : nullptr;
}

const Backend& backend_of(CpuIsa isa, bool as_default) {
  static const Backend generic = make_backend<CpuIsa::Generic>("cpu-generic");
  static const Backend avx2 = make_backend<CpuIsa::Avx2>("cpu-avx2");
  static const Backend avx512 = make_backend<CpuIsa::Avx512>("cpu-avx512");
  static const Backend best = [] {
    Backend b = best_cpu_isa() == CpuIsa::Avx512 ? avx512 : best_cpu_isa() == CpuIsa::Avx2 ? avx2 : generic;
    b.name = "cpu";
    return b;
  }();
  if (as_default) return best;
  if (!cpu_isa_supported(isa)) fail("cpu backend: this CPU or build has no ", cpu_isa_name(isa), " kernels");
  return isa == CpuIsa::Avx512 ? avx512 : isa == CpuIsa::Avx2 ? avx2 : generic;
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Generic: return "generic";
    case CpuIsa::Avx2: return "avx2";
    case CpuIsa::Avx512: return "avx512";
  }
  return "?";
}

bool cpu_isa_supported(CpuIsa isa) { return kernels_of(isa) != nullptr && cpu_has(isa); }

CpuIsa best_cpu_isa() {
  static const CpuIsa best = [] {
    CpuIsa cap = CpuIsa::Avx512;
    if (const char* env = std::getenv("JAMBA_CPU_ISA")) {
      bool known = false;
      for (CpuIsa isa : kAllCpuIsas)
        if (std::string(env) == cpu_isa_name(isa)) cap = isa, known = true;
      if (!known) fail("JAMBA_CPU_ISA='", env, "' is not one of generic, avx2, avx512");
    }
    CpuIsa best = CpuIsa::Generic;
    for (CpuIsa isa : kAllCpuIsas)
      if (isa <= cap && cpu_isa_supported(isa)) best = isa;
    return best;
  }();
  return best;
}

const Backend& cpu_backend() { return backend_of(best_cpu_isa(), true); }
const Backend* cpu_bf16_backend() { return bf16_dot_backend(); }
const Backend& cpu_backend(CpuIsa isa) { return backend_of(isa, false); }

}  // namespace jamba::ops
