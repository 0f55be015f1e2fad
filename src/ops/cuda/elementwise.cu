// rmsnorm, silu_mul, softplus (+ fused bias). Bandwidth-bound; grid-stride loops over int64
// indices, 16-byte accesses where the pointers and sizes allow.
#include "ops/cuda/common.cuh"

namespace jamba::cuda {
namespace {

constexpr int kThreads = 256;

int64_t grid_for(int64_t work, int sm_count) {
  const int64_t blocks = ceil_div(work, kThreads);
  const int64_t cap = static_cast<int64_t>(sm_count) * 16;  // enough resident warps; loops cover the rest
  return blocks < 1 ? 1 : (blocks > cap ? cap : blocks);
}

// One warp per row (n ≤ 1024): rows of B/C (N = 16) and dt (R = 256) are many and short.
__global__ void rmsnorm_warp_kernel(const float* __restrict__ x, int64_t rows, int64_t n,
                                    const float* __restrict__ weight, float eps, float* y) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
       r += warps_total) {
    const float* xr = x + r * n;
    float ss = 0.0f;
    for (int64_t i = lane; i < n; i += 32) ss = fmaf(xr[i], xr[i], ss);
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
    float* yr = y + r * n;
    for (int64_t i = lane; i < n; i += 32) yr[i] = weight[i] * (xr[i] * inv);
  }
}

// One block per row (n > 1024: the hidden size).
__global__ void rmsnorm_block_kernel(const float* __restrict__ x, int64_t rows, int64_t n,
                                     const float* __restrict__ weight, float eps, float* y) {
  __shared__ float partial[kThreads / 32];
  __shared__ float inv_shared;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * n;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
      float v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
      v = warp_sum(v);
      if (threadIdx.x == 0) inv_shared = 1.0f / sqrtf(v / static_cast<float>(n) + eps);
    }
    __syncthreads();
    const float inv = inv_shared;
    float* yr = y + r * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = weight[i] * (xr[i] * inv);
    __syncthreads();  // partial/inv_shared are reused by the next row
  }
}

__global__ void silu_mul_kernel(const float* gate, const float* __restrict__ up, int64_t n, float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = silu_f(gate[i]) * up[i];
}

__global__ void silu_mul_vec4_kernel(const float4* gate, const float4* __restrict__ up, int64_t n4, float4* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 g = gate[i], u = up[i];
    y[i] = make_float4(silu_f(g.x) * u.x, silu_f(g.y) * u.y, silu_f(g.z) * u.z, silu_f(g.w) * u.w);
  }
}

__global__ void softplus_kernel(const float* x, int64_t n, float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = softplus_f(x[i]);
}

__global__ void softplus_bias_kernel(const float* x, int64_t rows, int64_t n, const float* __restrict__ bias,
                                     float* y) {
  const int64_t total = rows * n;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    y[i] = softplus_f(x[i] + bias[i % n]);
}

}  // namespace

void rmsnorm(Context& ctx, const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y) {
  require(rows >= 0 && n > 0, "rmsnorm", "bad shape rows=", rows, " n=", n);
  if (rows == 0) return;
  auto& d = ctx.impl();
  if (n <= 1024) {
    const int64_t blocks = grid_for(rows * 32, d.sm_count);
    rmsnorm_warp_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, d.stream>>>(x, rows, n, weight, eps, y);
  } else {
    const int64_t blocks = rows < int64_t{1} << 20 ? rows : int64_t{1} << 20;
    rmsnorm_block_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, d.stream>>>(x, rows, n, weight, eps, y);
  }
  JAMBA_LAUNCH_CHECK("rmsnorm");
}

void silu_mul(Context& ctx, const float* gate, const float* up, int64_t n, float* y) {
  require(n >= 0, "silu_mul", "bad size n=", n);
  if (n == 0) return;
  auto& d = ctx.impl();
  if (n % 4 == 0 && aligned16(gate) && aligned16(up) && aligned16(y)) {
    silu_mul_vec4_kernel<<<static_cast<unsigned>(grid_for(n / 4, d.sm_count)), kThreads, 0, d.stream>>>(
        reinterpret_cast<const float4*>(gate), reinterpret_cast<const float4*>(up), n / 4, reinterpret_cast<float4*>(y));
  } else {
    silu_mul_kernel<<<static_cast<unsigned>(grid_for(n, d.sm_count)), kThreads, 0, d.stream>>>(gate, up, n, y);
  }
  JAMBA_LAUNCH_CHECK("silu_mul");
}

void softplus(Context& ctx, const float* x, int64_t n, float* y) {
  require(n >= 0, "softplus", "bad size n=", n);
  if (n == 0) return;
  auto& d = ctx.impl();
  softplus_kernel<<<static_cast<unsigned>(grid_for(n, d.sm_count)), kThreads, 0, d.stream>>>(x, n, y);
  JAMBA_LAUNCH_CHECK("softplus");
}

void softplus_bias(Context& ctx, const float* x, int64_t rows, int64_t n, const float* bias, float* y) {
  require(rows >= 0 && n > 0 && bias, "softplus_bias", "bad arguments rows=", rows, " n=", n);
  if (rows == 0) return;
  auto& d = ctx.impl();
  softplus_bias_kernel<<<static_cast<unsigned>(grid_for(rows * n, d.sm_count)), kThreads, 0, d.stream>>>(
      x, rows, n, bias, y);
  JAMBA_LAUNCH_CHECK("softplus_bias");
}

}  // namespace jamba::cuda
