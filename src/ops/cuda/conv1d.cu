// Causal depthwise conv1d + SiLU (Mamba's conv over the x half of in_proj), channel-last rows.
//
// hist = the K-1 state rows followed by the T new rows; output t uses hist rows t .. t+K-1.
// Short runs (T ≤ 16, and the batched decode update) use one thread per (sequence, channel)
// that keeps its K-1 window in registers and writes it back: no cross-thread hazard on the
// state. Long runs tile time over blocks (so a long prefill fills the GPU), then a second
// kernel writes the new state once every block has read the old one.
#include "ops/cuda/common.cuh"

namespace jamba::cuda {
namespace {

constexpr int kMaxK = 8;
constexpr int kShortT = 16;
constexpr int kChannels = 128;  // threads per block, one channel each
constexpr int kTimeTile = 64;   // rows per block in the long kernel

template <int K>
__global__ void conv_short_kernel(const float* __restrict__ x, int64_t batch, int64_t T, int64_t C,
                                  const float* __restrict__ w, const float* __restrict__ bias, float* state_pool,
                                  const int32_t* __restrict__ slots, float* y) {
  constexpr int H = K - 1;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t b = blockIdx.y;
  if (c >= C || b >= batch) return;
  const int64_t slot = slots ? static_cast<int64_t>(slots[b]) : b;
  if (slot < 0) return;
  float* state = state_pool + slot * H * C;
  float wk[K];
#pragma unroll
  for (int j = 0; j < K; ++j) wk[j] = w[c * K + j];
  const float b0 = bias ? bias[c] : 0.0f;
  float hist[H > 0 ? H : 1];
#pragma unroll
  for (int j = 0; j < H; ++j) hist[j] = state[j * C + c];
  const float* xb = x + b * T * C;
  float* yb = y + b * T * C;
  for (int64_t t = 0; t < T; ++t) {
    const float cur = xb[t * C + c];
    float acc = b0;
#pragma unroll
    for (int j = 0; j < H; ++j) acc = fmaf(wk[j], hist[j], acc);
    acc = fmaf(wk[K - 1], cur, acc);
    yb[t * C + c] = silu_f(acc);
#pragma unroll
    for (int j = 0; j + 1 < H; ++j) hist[j] = hist[j + 1];
    if constexpr (H > 0) hist[H - 1] = cur;
  }
#pragma unroll
  for (int j = 0; j < H; ++j) state[j * C + c] = hist[j];
}

template <int K>
__global__ void conv_long_kernel(const float* __restrict__ x, int64_t T, int64_t C, const float* __restrict__ w,
                                 const float* __restrict__ bias, const float* __restrict__ state, float* y) {
  constexpr int H = K - 1;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTimeTile;
  const int64_t t1 = t0 + kTimeTile < T ? t0 + kTimeTile : T;
  float wk[K];
#pragma unroll
  for (int j = 0; j < K; ++j) wk[j] = w[c * K + j];
  const float b0 = bias ? bias[c] : 0.0f;
  // Window for output t0: hist rows t0 .. t0+H-1.
  float hist[H > 0 ? H : 1];
#pragma unroll
  for (int j = 0; j < H; ++j) {
    const int64_t r = t0 + j;
    hist[j] = r < H ? state[r * C + c] : x[(r - H) * C + c];
  }
#pragma unroll 4
  for (int64_t t = t0; t < t1; ++t) {
    const float cur = x[t * C + c];
    float acc = b0;
#pragma unroll
    for (int j = 0; j < H; ++j) acc = fmaf(wk[j], hist[j], acc);
    acc = fmaf(wk[K - 1], cur, acc);
    y[t * C + c] = silu_f(acc);
#pragma unroll
    for (int j = 0; j + 1 < H; ++j) hist[j] = hist[j + 1];
    if constexpr (H > 0) hist[H - 1] = cur;
  }
}

// New state = hist rows T .. T+H-1. One thread per channel walks the rows in order: row r reads
// hist row T+r > r, so in-place reads never see a row this thread already overwrote.
__global__ void conv_state_kernel(const float* __restrict__ x, int64_t T, int64_t C, int64_t H, float* state) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int64_t r = 0; r < H; ++r) {
    const int64_t src = T + r;
    state[r * C + c] = src < H ? state[src * C + c] : x[(src - H) * C + c];
  }
}

template <template <int> class Launcher, typename... Args>
void dispatch_k(int64_t K, Args&&... args) {
  switch (K) {
    case 1: Launcher<1>::run(args...); break;
    case 2: Launcher<2>::run(args...); break;
    case 3: Launcher<3>::run(args...); break;
    case 4: Launcher<4>::run(args...); break;
    case 5: Launcher<5>::run(args...); break;
    case 6: Launcher<6>::run(args...); break;
    case 7: Launcher<7>::run(args...); break;
    case 8: Launcher<8>::run(args...); break;
    default: break;
  }
}

template <int K>
struct ShortLauncher {
  static void run(cudaStream_t s, const float* x, int64_t batch, int64_t T, int64_t C, const float* w,
                  const float* bias, float* state_pool, const int32_t* slots, float* y) {
    dim3 grid(static_cast<unsigned>(ceil_div(C, kChannels)), static_cast<unsigned>(batch));
    conv_short_kernel<K><<<grid, kChannels, 0, s>>>(x, batch, T, C, w, bias, state_pool, slots, y);
  }
};

template <int K>
struct LongLauncher {
  static void run(cudaStream_t s, const float* x, int64_t T, int64_t C, const float* w, const float* bias,
                  float* state, float* y) {
    dim3 grid(static_cast<unsigned>(ceil_div(C, kChannels)), static_cast<unsigned>(ceil_div(T, kTimeTile)));
    conv_long_kernel<K><<<grid, kChannels, 0, s>>>(x, T, C, w, bias, state, y);
  }
};

}  // namespace

void causal_conv1d_silu(Context& ctx, const float* x, int64_t T, int64_t C, const float* w, int64_t K,
                        const float* bias, float* state, float* y) {
  require(T >= 0 && C > 0 && K >= 1 && K <= kMaxK, "causal_conv1d_silu", "bad shape T=", T, " C=", C, " K=", K,
          " (K must be 1..", kMaxK, ")");
  require(ceil_div(T, kTimeTile) < 65536 && ceil_div(C, kChannels) < (int64_t{1} << 31), "causal_conv1d_silu",
          "too many rows T=", T);
  if (T == 0) return;
  auto& d = ctx.impl();
  if (T <= kShortT) {
    dispatch_k<ShortLauncher>(K, d.stream, x, int64_t{1}, T, C, w, bias, state, static_cast<const int32_t*>(nullptr), y);
  } else {
    dispatch_k<LongLauncher>(K, d.stream, x, T, C, w, bias, static_cast<float*>(state), y);
    JAMBA_LAUNCH_CHECK("causal_conv1d_silu");
    conv_state_kernel<<<static_cast<unsigned>(ceil_div(C, kChannels)), kChannels, 0, d.stream>>>(x, T, C, K - 1, state);
  }
  JAMBA_LAUNCH_CHECK("causal_conv1d_silu");
}

void causal_conv1d_silu_update(Context& ctx, const float* x, int64_t batch, int64_t C, const float* w, int64_t K,
                               const float* bias, float* state_pool, const int32_t* slots, float* y) {
  require(batch >= 0 && batch < 65536 && C > 0 && K >= 1 && K <= kMaxK, "causal_conv1d_silu_update",
          "bad shape batch=", batch, " C=", C, " K=", K);
  if (batch == 0) return;
  auto& d = ctx.impl();
  dispatch_k<ShortLauncher>(K, d.stream, x, batch, int64_t{1}, C, w, bias, state_pool, slots, y);
  JAMBA_LAUNCH_CHECK("causal_conv1d_silu_update");
}

}  // namespace jamba::cuda
