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

// 1 / rms of one row from every thread's partial sum of squares `ss` (n values, one block per
// row): warp sums, then the first warp sums the warps. Synchronises so that the shared slots
// can be reused for the next row.
__device__ __forceinline__ float block_inv_rms(float ss, int64_t n, float eps) {
  __shared__ float partial[kThreads / 32];
  __shared__ float inv_shared;
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
  __syncthreads();
  return inv;
}

// One block per row (n > 1024: the hidden size).
__global__ void rmsnorm_block_kernel(const float* __restrict__ x, int64_t rows, int64_t n,
                                     const float* __restrict__ weight, float eps, float* y) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * n;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    const float inv = block_inv_rms(ss, n, eps);
    float* yr = y + r * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = weight[i] * (xr[i] * inv);
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

// h += delta, then y = rmsnorm(h): the residual add fused into the next norm (one block per row,
// as rmsnorm_block_kernel, which rmsnorm uses for n > 1024: there, the same bits as add + rmsnorm).
__global__ void add_rmsnorm_kernel(float* h, const float* __restrict__ delta, int64_t rows, int64_t n,
                                   const float* __restrict__ weight, float eps, float* y) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float* hr = h + r * n;
    const float* dr = delta + r * n;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float v = hr[i] + dr[i];
      hr[i] = v;
      ss = fmaf(v, v, ss);
    }
    const float inv = block_inv_rms(ss, n, eps);
    float* yr = y + r * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = weight[i] * (hr[i] * inv);
  }
}

// Mamba's x_proj output [rows, R + 2N] = [dt | B | C] split into three arrays, each row RMSNorm'd
// with its own weight: one warp per (row, part), the sums of rmsnorm_warp_kernel.
__global__ void split_rmsnorm3_kernel(const float* __restrict__ x, int64_t rows, int64_t n0, int64_t n1, int64_t n2,
                                      const float* __restrict__ w0, const float* __restrict__ w1,
                                      const float* __restrict__ w2, float eps, float* y0, float* y1, float* y2) {
  const int lane = threadIdx.x & 31;
  const int64_t cols = n0 + n1 + n2;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; item < rows * 3;
       item += warps_total) {
    const int64_t r = item / 3;
    const int part = static_cast<int>(item % 3);
    const int64_t n = part == 0 ? n0 : part == 1 ? n1 : n2;
    const int64_t first = part == 0 ? 0 : part == 1 ? n0 : n0 + n1;
    const float* weight = part == 0 ? w0 : part == 1 ? w1 : w2;
    float* yr = (part == 0 ? y0 : part == 1 ? y1 : y2) + r * n;
    const float* xr = x + r * cols + first;
    float ss = 0.0f;
    for (int64_t i = lane; i < n; i += 32) ss = fmaf(xr[i], xr[i], ss);
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
    for (int64_t i = lane; i < n; i += 32) yr[i] = weight[i] * (xr[i] * inv);
  }
}

// y[r, i] = silu(gu[r, i]) · gu[r, I + i]: gate and up computed by one matmul of the stacked
// [gate; up] weight, rows laid out [gate | up].
__global__ void silu_mul_halves_kernel(const float* __restrict__ gu, int64_t rows, int64_t I, float* __restrict__ y) {
  const int64_t total = rows * I;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int64_t r = idx / I, i = idx - r * I;
    y[idx] = silu_f(gu[r * 2 * I + i]) * gu[r * 2 * I + I + i];
  }
}

__global__ void add_into_kernel(float* acc, const float* __restrict__ x, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) acc[i] += x[i];
}

// One block per token: row ids[r] of the table, converted to fp32.
template <typename WT>
__global__ void embed_rows_kernel(const WT* __restrict__ table, int64_t H, const int32_t* __restrict__ ids,
                                  float* __restrict__ out) {
  const int64_t r = blockIdx.x;
  const WT* row = table + static_cast<int64_t>(ids[r]) * H;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) out[r * H + i] = to_float<WT>(row[i]);
}

}  // namespace

void add_rmsnorm(Context& ctx, float* h, const float* delta, int64_t rows, int64_t n, const float* weight, float eps,
                 float* y) {
  require(rows >= 0 && n > 0, "add_rmsnorm", "bad shape rows=", rows, " n=", n);
  if (rows == 0) return;
  auto& d = ctx.impl();
  const int64_t blocks = rows < int64_t{1} << 20 ? rows : int64_t{1} << 20;
  add_rmsnorm_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, d.stream>>>(h, delta, rows, n, weight, eps, y);
  JAMBA_LAUNCH_CHECK("add_rmsnorm");
}

void split_rmsnorm3(Context& ctx, const float* x, int64_t rows, const int64_t n[3], const float* const weight[3],
                    float eps, float* const y[3]) {
  require(rows >= 0 && n[0] > 0 && n[1] > 0 && n[2] > 0, "split_rmsnorm3", "bad shape rows=", rows);
  if (rows == 0) return;
  auto& d = ctx.impl();
  const int64_t blocks = grid_for(rows * 3 * 32, d.sm_count);
  split_rmsnorm3_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, d.stream>>>(
      x, rows, n[0], n[1], n[2], weight[0], weight[1], weight[2], eps, y[0], y[1], y[2]);
  JAMBA_LAUNCH_CHECK("split_rmsnorm3");
}

void silu_mul_halves(Context& ctx, const float* gu, int64_t rows, int64_t I, float* y) {
  require(rows >= 0 && I > 0, "silu_mul_halves", "bad shape rows=", rows, " I=", I);
  if (rows == 0) return;
  auto& d = ctx.impl();
  silu_mul_halves_kernel<<<static_cast<unsigned>(grid_for(rows * I, d.sm_count)), kThreads, 0, d.stream>>>(gu, rows, I,
                                                                                                          y);
  JAMBA_LAUNCH_CHECK("silu_mul_halves");
}

void add_into(Context& ctx, float* acc, const float* x, int64_t n) {
  require(n >= 0, "add_into", "bad size n=", n);
  if (n == 0) return;
  auto& d = ctx.impl();
  add_into_kernel<<<static_cast<unsigned>(grid_for(n, d.sm_count)), kThreads, 0, d.stream>>>(acc, x, n);
  JAMBA_LAUNCH_CHECK("add_into");
}

void embed_rows(Context& ctx, const TensorView& table, const int32_t* ids, int64_t rows, float* out) {
  require(table.shape.size() == 2 && table.data && rows >= 0 && rows < (int64_t{1} << 31), "embed_rows",
          "bad arguments rows=", rows);
  if (rows == 0) return;
  auto& d = ctx.impl();
  const int64_t H = table.shape[1];
  const unsigned blocks = static_cast<unsigned>(rows);
  switch (table.dtype) {
    case DType::F32:
      embed_rows_kernel<<<blocks, kThreads, 0, d.stream>>>(static_cast<const float*>(table.data), H, ids, out);
      break;
    case DType::BF16:
      embed_rows_kernel<<<blocks, kThreads, 0, d.stream>>>(static_cast<const __nv_bfloat16*>(table.data), H, ids, out);
      break;
    case DType::F16:
      embed_rows_kernel<<<blocks, kThreads, 0, d.stream>>>(static_cast<const __half*>(table.data), H, ids, out);
      break;
    default: require(false, "embed_rows", "table dtype must be F32, F16 or BF16, got ", dtype_label(table.dtype));
  }
  JAMBA_LAUNCH_CHECK("embed_rows");
}

void copy_columns(Context& ctx, const float* src, int64_t rows, int64_t src_cols, int64_t first_col, int64_t cols,
                  float* dst) {
  require(rows >= 0 && cols >= 0 && first_col >= 0 && first_col + cols <= src_cols, "copy_columns",
          "bad shape rows=", rows, " src_cols=", src_cols, " first_col=", first_col, " cols=", cols);
  if (rows == 0 || cols == 0) return;
  JAMBA_CUDA_CHECK(cudaMemcpy2DAsync(dst, static_cast<size_t>(cols) * 4, src + first_col,
                                     static_cast<size_t>(src_cols) * 4, static_cast<size_t>(cols) * 4,
                                     static_cast<size_t>(rows), cudaMemcpyDeviceToDevice, ctx.impl().stream));
}

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
