// y[m, n] = x[m, k] · w[n, k]ᵀ + bias, x fp32, w F32/F16/BF16 or Q8 (int8 + a scale per row) on
// the device.
//
// Paths (see MatmulPrecision in cuda_ops.h for the accuracy of each):
//  * m ≤ 8 (exact) or m ≤ 2 (fast): GEMV kernel, one warp per output column j, the weight row
//    streamed once with 16-byte loads and dotted with all m rows of x (fp32 FMA): exact.
//  * cuBLASLt (row-major y = x·wᵀ is column-major yᵀ = w·xᵀ: A = w with op T, B = x with op N),
//    with the bias in the epilogue; plans (descriptors + heuristic's algorithm) cached per shape,
//    types and pointer alignment.
//  * exact BF16: x = hi + mid + lo exactly (three bf16 terms hold fp32's 24 significand bits), the
//    three stacked as 3m rows of ONE bf16 GEMM (weights read once), then y = (lo + mid) + hi + bias.
//  * a tiled fp32 SIMT kernel for exact F16 and whenever cuBLASLt offers no algorithm.
//  * Q8: the GEMV and SIMT kernels read int8 and apply the row's scale to the dot product; the
//    fast path dequantizes the matrix to bf16 once per call (scratch) for a tensor-core GEMM.
// Large m runs in row chunks so that the converted x never needs more than kMaxChunkBytes.
#include <algorithm>

#include "ops/cuda/common.cuh"

namespace jamba::cuda {
namespace {

constexpr int kGemvMaxM = 8;      // exact precision: the GEMV up to this many rows
constexpr int kGemvMaxMFast = 2;  // fast precision: beyond this the GEMM is faster (x re-read per output)
constexpr int kGemvThreads = 256;
constexpr size_t kMaxChunkBytes = size_t{256} << 20;

// ---------------------------------------------------------------------------------------------
// GEMV.
template <typename WT>
__device__ __forceinline__ void unpack16(const uint4& raw, float* out);
template <>
__device__ __forceinline__ void unpack16<float>(const uint4& raw, float* out) {
  out[0] = __uint_as_float(raw.x), out[1] = __uint_as_float(raw.y);
  out[2] = __uint_as_float(raw.z), out[3] = __uint_as_float(raw.w);
}
template <>
__device__ __forceinline__ void unpack16<__nv_bfloat16>(const uint4& raw, float* out) {
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(words[i] << 16);
    out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}
// int8 → fp32 without the quarter-rate int-to-float conversion: q + 128 placed in the low byte of
// the float 2^23 (exponent bits 0x4B) reads as 2^23 + 128 + q, and subtracting 2^23 + 128 gives q
// exactly: one byte permute and one add per weight.
template <>
__device__ __forceinline__ void unpack16<int8_t>(const uint4& raw, float* out) {
  const uint32_t words[4] = {raw.x ^ 0x80808080u, raw.y ^ 0x80808080u, raw.z ^ 0x80808080u, raw.w ^ 0x80808080u};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int b = 0; b < 4; ++b)
      out[4 * i + b] = __uint_as_float(__byte_perm(words[i], 0x4B000000u, 0x7540u + b)) - 8388736.0f;
  }
}
template <>
__device__ __forceinline__ void unpack16<__half>(const uint4& raw, float* out) {
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    __half2 h2 = *reinterpret_cast<const __half2*>(&words[i]);
    const float2 f = __half22float2(h2);
    out[2 * i] = f.x, out[2 * i + 1] = f.y;
  }
}

template <typename WT, int M, bool VEC>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(const float* __restrict__ x, int64_t m, int64_t k,
                                                             const WT* __restrict__ w, int64_t n,
                                                             const float* __restrict__ scales,
                                                             const float* __restrict__ bias, float* __restrict__ y) {
  constexpr int E = 16 / sizeof(WT);  // weights per 16-byte load
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * (kGemvThreads / 32);
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * (kGemvThreads / 32) + threadIdx.x / 32; j < n;
       j += warps_total) {
    float acc[M];
#pragma unroll
    for (int i = 0; i < M; ++i) acc[i] = 0.0f;
    const WT* wrow = w + j * k;
    if (VEC) {
      const uint4* w16 = reinterpret_cast<const uint4*>(wrow);
      const int64_t chunks = k / E;
#pragma unroll 4
      for (int64_t ch = lane; ch < chunks; ch += 32) {
        const uint4 raw = __ldg(w16 + ch);
        float wf[E];
        unpack16<WT>(raw, wf);
#pragma unroll
        for (int i = 0; i < M; ++i) {
          if (i < m) {
            const float4* xp = reinterpret_cast<const float4*>(x + i * k + ch * E);
#pragma unroll
            for (int v = 0; v < E / 4; ++v) {
              const float4 xv = __ldg(xp + v);
              acc[i] = fmaf(xv.x, wf[4 * v], acc[i]);
              acc[i] = fmaf(xv.y, wf[4 * v + 1], acc[i]);
              acc[i] = fmaf(xv.z, wf[4 * v + 2], acc[i]);
              acc[i] = fmaf(xv.w, wf[4 * v + 3], acc[i]);
            }
          }
        }
      }
    } else {
      for (int64_t t = lane; t < k; t += 32) {
        const float wv = to_float<WT>(wrow[t]);
#pragma unroll
        for (int i = 0; i < M; ++i)
          if (i < m) acc[i] = fmaf(x[i * k + t], wv, acc[i]);
      }
    }
    const float b = bias ? bias[j] : 0.0f;
    const float scale = scales ? scales[j] : 1.0f;
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const float s = warp_sum(acc[i]);
      if (lane == 0 && i < m) y[i * n + j] = s * scale + b;
    }
  }
}

template <typename WT, int M>
void launch_gemv_m(Context::Impl& d, const float* x, int64_t m, int64_t k, const WT* w, const float* scales, int64_t n,
                   const float* bias, float* y) {
  constexpr int E = 16 / sizeof(WT);
  const bool vec = k % E == 0 && aligned16(w) && aligned16(x);
  const int64_t rows_per_block = kGemvThreads / 32;
  int64_t blocks = ceil_div(n, rows_per_block);
  const int64_t cap = static_cast<int64_t>(d.sm_count) * 64;
  if (blocks > cap) blocks = cap;
  if (vec)
    gemv_kernel<WT, M, true><<<static_cast<unsigned>(blocks), kGemvThreads, 0, d.stream>>>(x, m, k, w, n, scales, bias, y);
  else
    gemv_kernel<WT, M, false><<<static_cast<unsigned>(blocks), kGemvThreads, 0, d.stream>>>(x, m, k, w, n, scales, bias, y);
  JAMBA_LAUNCH_CHECK("matmul(gemv)");
}

template <typename WT>
void launch_gemv(Context::Impl& d, const float* x, int64_t m, int64_t k, const WT* w, const float* scales, int64_t n,
                 const float* bias, float* y) {
  if (m <= 1) return launch_gemv_m<WT, 1>(d, x, m, k, w, scales, n, bias, y);
  if (m <= 2) return launch_gemv_m<WT, 2>(d, x, m, k, w, scales, n, bias, y);
  if (m <= 4) return launch_gemv_m<WT, 4>(d, x, m, k, w, scales, n, bias, y);
  return launch_gemv_m<WT, 8>(d, x, m, k, w, scales, n, bias, y);
}

// ---------------------------------------------------------------------------------------------
// Tiled fp32 SIMT GEMM: 64×64 outputs per block, 16-deep k tiles, 4×4 per thread.
constexpr int kTileM = 64, kTileN = 64, kTileK = 16;

template <typename WT>
__global__ void __launch_bounds__(256) simt_gemm_kernel(const float* __restrict__ x, int64_t m, int64_t k,
                                                         const WT* __restrict__ w, const float* __restrict__ scales,
                                                         int64_t n, const float* __restrict__ bias,
                                                         float* __restrict__ y) {
  __shared__ float xs[kTileK][kTileM + 4];
  __shared__ float ws[kTileK][kTileN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < k; k0 += kTileK) {
    // 64 rows × 16 k of each operand: 4 elements per thread, consecutive threads along k.
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int idx = tid + e * 256;
      const int r = idx / kTileK, kk = idx % kTileK;
      const int64_t gm = m0 + r, gn = n0 + r, gk = k0 + kk;
      xs[kk][r] = (gm < m && gk < k) ? x[gm * k + gk] : 0.0f;
      ws[kk][r] = (gn < n && gk < k) ? to_float<WT>(w[gn * k + gk]) * (scales ? scales[gn] : 1.0f) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = xs[kk][ty * 4 + i], b[i] = ws[kk][tx * 4 + i];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) acc[i][jj] = fmaf(a[i], b[jj], acc[i][jj]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t gm = m0 + ty * 4 + i;
    if (gm >= m) continue;
#pragma unroll
    for (int jj = 0; jj < 4; ++jj) {
      const int64_t gn = n0 + tx * 4 + jj;
      if (gn < n) y[gm * n + gn] = acc[i][jj] + (bias ? bias[gn] : 0.0f);
    }
  }
}

template <typename WT>
void launch_simt(Context::Impl& d, const float* x, int64_t m, int64_t k, const WT* w, const float* scales, int64_t n,
                 const float* bias, float* y) {
  require(ceil_div(m, kTileM) < 65536, "matmul", "m=", m, " too large for the SIMT path");
  dim3 grid(static_cast<unsigned>(ceil_div(n, kTileN)), static_cast<unsigned>(ceil_div(m, kTileM)));
  simt_gemm_kernel<WT><<<grid, 256, 0, d.stream>>>(x, m, k, w, scales, n, bias, y);
  JAMBA_LAUNCH_CHECK("matmul(simt)");
}

// ---------------------------------------------------------------------------------------------
// Conversions.
template <typename HT>
__device__ __forceinline__ HT from_float(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

template <typename HT>
__global__ void convert_kernel(const float* __restrict__ x, int64_t count, HT* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    out[i] = from_float<HT>(x[i]);
}

// x (count = m·k values) → [hi; mid; lo] stacked: out[0..count), out[count..2count), out[2count..3count).
__global__ void split3_bf16_kernel(const float* __restrict__ x, int64_t count, __nv_bfloat16* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const float v = x[i];
    const __nv_bfloat16 hi = __float2bfloat16_rn(v);
    const float r1 = v - __bfloat162float(hi);
    const __nv_bfloat16 mid = __float2bfloat16_rn(r1);
    const float r2 = r1 - __bfloat162float(mid);
    out[i] = hi;
    out[count + i] = mid;
    out[2 * count + i] = __float2bfloat16_rn(r2);
  }
}

// y[i] = (lo + mid) + hi (+ bias[i % n]) over count = m·n outputs of the stacked GEMM.
__global__ void sum3_kernel(const float* __restrict__ stacked, int64_t count, int64_t n,
                            const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    float v = (stacked[2 * count + i] + stacked[count + i]) + stacked[i];
    if (bias) v += bias[i % n];
    y[i] = v;
  }
}

// w[j, t] = q[j, t] · scale[j] rounded to bf16 (the Q8 fast path's tensor-core operand).
__global__ void dequant_q8_bf16_kernel(const int8_t* __restrict__ q, const float* __restrict__ scales, int64_t n,
                                       int64_t k, __nv_bfloat16* __restrict__ out) {
  const int64_t count = n * k;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    out[i] = __float2bfloat16_rn(static_cast<float>(q[i]) * scales[i / k]);
}

__global__ void add_bias_kernel(float* y, int64_t count, int64_t n, const float* __restrict__ bias) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    y[i] += bias[i % n];
}

unsigned elementwise_blocks(Context::Impl& d, int64_t count) {
  const int64_t blocks = std::min<int64_t>(ceil_div(count, 256), static_cast<int64_t>(d.sm_count) * 16);
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// ---------------------------------------------------------------------------------------------
// cuBLASLt.
int64_t alignment_of(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  int64_t a = 256;
  while (a > 1 && (v % static_cast<uintptr_t>(a)) != 0) a >>= 1;
  return a;
}

// Runs D = op(w)·x (+bias) through cuBLASLt; false when cuBLASLt has no algorithm for it.
bool lt_gemm(Context::Impl& d, cudaDataType wtype, cudaDataType xtype, cublasComputeType_t compute, int64_t m,
             int64_t n, int64_t k, const void* w, const void* x, const float* bias, float* y) {
  const int64_t al_w = alignment_of(w), al_x = alignment_of(x), al_y = alignment_of(y);
  const int64_t al_b = bias ? alignment_of(bias) : 0;
  const int64_t align_key = al_w | (al_x << 9) | (al_y << 18) | (al_b << 27);
  const auto key = std::make_tuple(static_cast<int>(wtype), static_cast<int>(xtype), static_cast<int>(compute), m, n, k,
                                   bias ? 1 : 0, align_key);
  auto it = d.plans.find(key);
  if (it == d.plans.end()) {
    GemmPlan plan;
    auto make = [&](bool with_bias) -> bool {
      JAMBA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.desc, compute, CUDA_R_32F));
      const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      JAMBA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
      JAMBA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
      if (with_bias) {
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        const cudaDataType bt = CUDA_R_32F;
        JAMBA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        JAMBA_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
      }
      JAMBA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.a, wtype, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k));
      JAMBA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.b, xtype, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k));
      JAMBA_CUBLAS_CHECK(
          cublasLtMatrixLayoutCreate(&plan.c, CUDA_R_32F, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n));
      cublasLtMatmulPreference_t pref = nullptr;
      JAMBA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
      const uint64_t ws = d.lt_workspace_bytes;
      JAMBA_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
      const uint32_t aw = static_cast<uint32_t>(al_w), ax = static_cast<uint32_t>(al_x),
                     ay = static_cast<uint32_t>(al_y);
      JAMBA_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aw, sizeof(aw)));
      JAMBA_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ax, sizeof(ax)));
      JAMBA_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ay, sizeof(ay)));
      JAMBA_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ay, sizeof(ay)));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      const cublasStatus_t st =
          cublasLtMatmulAlgoGetHeuristic(d.lt, plan.desc, plan.a, plan.b, plan.c, plan.c, pref, 1, &result, &found);
      cublasLtMatmulPreferenceDestroy(pref);
      if (st == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
        plan.algo = result.algo;
        plan.has_bias_epilogue = with_bias;
        return true;
      }
      cublasLtMatmulDescDestroy(plan.desc);
      cublasLtMatrixLayoutDestroy(plan.a);
      cublasLtMatrixLayoutDestroy(plan.b);
      cublasLtMatrixLayoutDestroy(plan.c);
      plan = GemmPlan{};
      return false;
    };
    bool ok = bias ? make(true) : false;
    if (!ok) ok = make(false);
    if (!ok) {
      d.plans.emplace(key, GemmPlan{});  // remember: no algorithm
      return false;
    }
    it = d.plans.emplace(key, plan).first;
  }
  GemmPlan& plan = it->second;
  if (!plan.desc) return false;
  if (plan.has_bias_epilogue) {
    JAMBA_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  JAMBA_CUBLAS_CHECK(cublasLtMatmul(d.lt, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y, plan.c,
                                    &plan.algo, d.lt_workspace, d.lt_workspace_bytes, d.stream));
  if (bias && !plan.has_bias_epilogue) {
    add_bias_kernel<<<elementwise_blocks(d, m * n), 256, 0, d.stream>>>(y, m * n, n, bias);
    JAMBA_LAUNCH_CHECK("matmul(bias)");
  }
  return true;
}

void simt_any(Context::Impl& d, const float* x, int64_t m, int64_t k, const TensorView& w, int64_t n,
              const float* bias, float* y) {
  switch (w.dtype) {
    case DType::F32: return launch_simt(d, x, m, k, static_cast<const float*>(w.data), nullptr, n, bias, y);
    case DType::BF16: return launch_simt(d, x, m, k, static_cast<const __nv_bfloat16*>(w.data), nullptr, n, bias, y);
    case DType::Q8: return launch_simt(d, x, m, k, static_cast<const int8_t*>(w.data), w.scales, n, bias, y);
    default: return launch_simt(d, x, m, k, static_cast<const __half*>(w.data), nullptr, n, bias, y);
  }
}

// Rows per chunk so that the chunk's converted x (and stacked output) stay within kMaxChunkBytes.
int64_t chunk_rows(int64_t m, size_t bytes_per_row) {
  const int64_t rows = static_cast<int64_t>(kMaxChunkBytes / std::max<size_t>(bytes_per_row, 1));
  return std::max<int64_t>(1, std::min(m, rows));
}

size_t exact_bf16_bytes(int64_t m, int64_t n, int64_t k, int64_t* rows_out) {
  const int64_t rows = chunk_rows(m, 3 * (static_cast<size_t>(k) * 2 + static_cast<size_t>(n) * 4));
  if (rows_out) *rows_out = rows;
  return align_up(static_cast<size_t>(3 * rows * k) * 2, 256) + align_up(static_cast<size_t>(3 * rows * n) * 4, 256);
}

size_t fast_half_bytes(int64_t m, int64_t k, int64_t* rows_out) {
  const int64_t rows = chunk_rows(m, static_cast<size_t>(k) * 2);
  if (rows_out) *rows_out = rows;
  return align_up(static_cast<size_t>(rows * k) * 2, 256);
}

}  // namespace

size_t matmul_scratch_bytes(int64_t m, int64_t n, int64_t k) {
  if (m <= kGemvMaxMFast) return 0;  // the GEMV needs none
  const size_t q8_weights = align_up(static_cast<size_t>(n * k) * 2, 256);
  return std::max(exact_bf16_bytes(m, n, k, nullptr), fast_half_bytes(m, k, nullptr) + q8_weights);
}

void matmul(Context& ctx, const float* x, int64_t m, const TensorView& w, const float* bias, float* y,
            MatmulPrecision precision) {
  require(w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16 ||
              (w.dtype == DType::Q8 && w.scales != nullptr),
          "matmul", "weight dtype must be F32, F16, BF16 or Q8 (with scales), got ", dtype_label(w.dtype));
  require(w.shape.size() == 2 && w.data != nullptr, "matmul", "weight must be a 2-D device tensor");
  const int64_t n = w.shape[0], k = w.shape[1];
  require(m >= 0 && n > 0 && k > 0, "matmul", "bad shape m=", m, " n=", n, " k=", k);
  if (m == 0) return;
  auto& d = ctx.impl();

  if (m <= (precision == MatmulPrecision::kExact ? kGemvMaxM : kGemvMaxMFast)) {
    switch (w.dtype) {
      case DType::F32: return launch_gemv(d, x, m, k, static_cast<const float*>(w.data), nullptr, n, bias, y);
      case DType::BF16:
        return launch_gemv(d, x, m, k, static_cast<const __nv_bfloat16*>(w.data), nullptr, n, bias, y);
      case DType::Q8: return launch_gemv(d, x, m, k, static_cast<const int8_t*>(w.data), w.scales, n, bias, y);
      default: return launch_gemv(d, x, m, k, static_cast<const __half*>(w.data), nullptr, n, bias, y);
    }
  }

  if (w.dtype == DType::F32) {
    const cublasComputeType_t ct =
        precision == MatmulPrecision::kExact ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
    if (!lt_gemm(d, CUDA_R_32F, CUDA_R_32F, ct, m, n, k, w.data, x, bias, y)) simt_any(d, x, m, k, w, n, bias, y);
    return;
  }

  if (precision == MatmulPrecision::kExact) {
    if (w.dtype == DType::F16 || w.dtype == DType::Q8) return simt_any(d, x, m, k, w, n, bias, y);
    // bf16x3: per chunk of rows, 3·rows·k bf16 split terms + 3·rows·n fp32 stacked outputs.
    int64_t rows = 0;
    const size_t need = exact_bf16_bytes(m, n, k, &rows);
    ScratchFrame frame(d);
    d.reserve(d.scratch_top + need);
    auto* split = frame.push<__nv_bfloat16>(3 * rows * k);
    auto* stacked = frame.push<float>(3 * rows * n);
    for (int64_t r0 = 0; r0 < m; r0 += rows) {
      const int64_t mr = std::min(rows, m - r0);
      split3_bf16_kernel<<<elementwise_blocks(d, mr * k), 256, 0, d.stream>>>(x + r0 * k, mr * k, split);
      JAMBA_LAUNCH_CHECK("matmul(split)");
      if (lt_gemm(d, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 3 * mr, n, k, w.data, split, nullptr, stacked)) {
        sum3_kernel<<<elementwise_blocks(d, mr * n), 256, 0, d.stream>>>(stacked, mr * n, n, bias, y + r0 * n);
        JAMBA_LAUNCH_CHECK("matmul(sum3)");
      } else {
        simt_any(d, x + r0 * k, mr, k, w, n, bias, y + r0 * n);
      }
    }
    return;
  }

  // Fast: x rounded to the weight dtype, one tensor-core GEMM per chunk of rows. Q8 weights are
  // dequantized to bf16 first (once per call: the GEMM then reads 2 bytes a weight).
  int64_t rows = 0;
  const bool q8 = w.dtype == DType::Q8;
  const size_t need = fast_half_bytes(m, k, &rows) + (q8 ? align_up(static_cast<size_t>(n * k) * 2, 256) : 0);
  ScratchFrame frame(d);
  d.reserve(d.scratch_top + need);
  void* xh = frame.push<uint16_t>(rows * k);
  const void* wdata = w.data;
  if (q8) {
    auto* wb = frame.push<__nv_bfloat16>(n * k);
    dequant_q8_bf16_kernel<<<elementwise_blocks(d, n * k), 256, 0, d.stream>>>(static_cast<const int8_t*>(w.data),
                                                                               w.scales, n, k, wb);
    JAMBA_LAUNCH_CHECK("matmul(dequant q8)");
    wdata = wb;
  }
  const cudaDataType t = w.dtype == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  for (int64_t r0 = 0; r0 < m; r0 += rows) {
    const int64_t mr = std::min(rows, m - r0);
    if (w.dtype != DType::F16)
      convert_kernel<<<elementwise_blocks(d, mr * k), 256, 0, d.stream>>>(x + r0 * k, mr * k,
                                                                           static_cast<__nv_bfloat16*>(xh));
    else
      convert_kernel<<<elementwise_blocks(d, mr * k), 256, 0, d.stream>>>(x + r0 * k, mr * k, static_cast<__half*>(xh));
    JAMBA_LAUNCH_CHECK("matmul(convert)");
    if (!lt_gemm(d, t, t, CUBLAS_COMPUTE_32F, mr, n, k, wdata, xh, bias, y + r0 * n))
      simt_any(d, x + r0 * k, mr, k, w, n, bias, y + r0 * n);
  }
}

}  // namespace jamba::cuda

namespace jamba::cuda {
namespace {

__global__ void fill_bf16_kernel(__nv_bfloat16* p, int64_t count, uint32_t seed) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = __float2bfloat16_rn((static_cast<float>(h & 0xffff) / 65536.0f - 0.5f));
  }
}

}  // namespace

double measure_bf16_gemm_flops(Context& ctx, int64_t n, int reps) {
  require(n >= 256 && reps > 0, "measure_bf16_gemm_flops", "n=", n, " reps=", reps);
  auto& d = ctx.impl();
  __nv_bfloat16 *a = nullptr, *b = nullptr;
  float* c = nullptr;
  JAMBA_CUDA_CHECK(cudaMalloc(&a, static_cast<size_t>(n * n) * 2));
  JAMBA_CUDA_CHECK(cudaMalloc(&b, static_cast<size_t>(n * n) * 2));
  JAMBA_CUDA_CHECK(cudaMalloc(&c, static_cast<size_t>(n * n) * 4));
  fill_bf16_kernel<<<elementwise_blocks(d, n * n), 256, 0, d.stream>>>(a, n * n, 1u);
  fill_bf16_kernel<<<elementwise_blocks(d, n * n), 256, 0, d.stream>>>(b, n * n, 2u);
  cudaEvent_t start, stop;
  JAMBA_CUDA_CHECK(cudaEventCreate(&start));
  JAMBA_CUDA_CHECK(cudaEventCreate(&stop));
  double best = 0;
  bool ok = lt_gemm(d, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, n, n, n, a, b, nullptr, c);  // warm-up
  for (int r = 0; ok && r < reps; ++r) {
    JAMBA_CUDA_CHECK(cudaEventRecord(start, d.stream));
    lt_gemm(d, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, n, n, n, a, b, nullptr, c);
    JAMBA_CUDA_CHECK(cudaEventRecord(stop, d.stream));
    JAMBA_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    JAMBA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best = std::max(best, 2.0 * static_cast<double>(n) * n * n / (ms * 1e-3));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  require(ok, "measure_bf16_gemm_flops", "cuBLASLt has no bf16 algorithm for ", n, "^3");
  return best;
}

}  // namespace jamba::cuda
