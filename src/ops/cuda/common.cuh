// Shared by the CUDA op sources: error checks, the Context's insides, small device helpers.
#pragma once
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "base/error.h"
#include "ops/cuda/cuda_ops.h"

namespace jamba::cuda {

[[noreturn]] void throw_cuda(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t st, const char* what, const char* file, int line);

#define JAMBA_CUDA_CHECK(expr)                                                   \
  do {                                                                           \
    cudaError_t jamba_err_ = (expr);                                             \
    if (jamba_err_ != cudaSuccess) ::jamba::cuda::throw_cuda(jamba_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define JAMBA_CUBLAS_CHECK(expr)                                                 \
  do {                                                                           \
    cublasStatus_t jamba_st_ = (expr);                                           \
    if (jamba_st_ != CUBLAS_STATUS_SUCCESS) ::jamba::cuda::throw_cublas(jamba_st_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a launch: configuration errors show here; faults inside the kernel show at the next sync.
#define JAMBA_LAUNCH_CHECK(name) JAMBA_CUDA_CHECK(cudaGetLastError())

// Argument checks: one-line messages naming the op.
template <typename... Parts>
inline void require(bool ok, const char* op, const Parts&... parts) {
  if (!ok) fail("cuda::", op, ": ", parts...);
}

// Names for messages (this library depends on src/ headers only, so not tensor.cpp's dtype_name).
inline const char* dtype_label(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::Q8: return "Q8 (int8)";
    case DType::Q4: return "Q4 (int4)";
    default: return "a non-float dtype";
  }
}

inline cudaStream_t as_cuda(Stream s) { return reinterpret_cast<cudaStream_t>(s); }

// A cached cuBLASLt plan for one GEMM shape/type/alignment combination.
struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_bias_epilogue = false;
};

struct Context::Impl {
  cudaStream_t stream = nullptr;
  int device = 0;
  int sm_count = 0;
  size_t max_smem_optin = 0;
  cublasLtHandle_t lt = nullptr;
  void* lt_workspace = nullptr;
  size_t lt_workspace_bytes = 0;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  size_t scratch_top = 0;  // bytes handed out by live ScratchFrames
  // key: (a type, b type, compute, m, n, k, bias, alignments a|b|c|bias packed)
  std::map<std::tuple<int, int, int, int64_t, int64_t, int64_t, int, int64_t>, GemmPlan> plans;

  // Makes the arena at least `bytes` long. Growing synchronises the stream and reallocates:
  // refused while a CUDA graph is being captured or while scratch is handed out.
  void reserve(size_t bytes);
  // `bytes` (256-byte aligned) above what live frames hold; grows the arena only when nothing
  // is live (an op that nests scratch users reserves the total first).
  void* push(size_t bytes);
};

// Scratch handed out inside an op; released (stream order makes reuse safe) when it ends.
class ScratchFrame {
 public:
  explicit ScratchFrame(Context::Impl& d) : d_(d), saved_(d.scratch_top) {}
  ~ScratchFrame() { d_.scratch_top = saved_; }
  template <typename T>
  T* push(size_t count) {
    return static_cast<T*>(d_.push(count * sizeof(T)));
  }

 private:
  Context::Impl& d_;
  size_t saved_;
};

// The most scratch one matmul(m, n, k) pushes, whatever its precision (for ops that run matmuls
// inside their own scratch frame and must reserve the total up front).
size_t matmul_scratch_bytes(int64_t m, int64_t n, int64_t k);

inline size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// ---------------------------------------------------------------------------------------------
// Device helpers.

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + expf(-x)); }

// torch's softplus with threshold 20 (as ops/ref: x > 20 returns x).
__device__ __forceinline__ float softplus_f(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float to_float<int8_t>(int8_t v) { return static_cast<float>(v); }

}  // namespace jamba::cuda
