// MoE routing and grouping.
//
// moe_route: one warp per row; each lane holds ⌈E/32⌉ logits. Softmax over all E, then top_k
// rounds of a warp arg-max on the logits (softmax is monotonic, so ranking logits ranks the
// probabilities, and equal logits are the only ties: the lower id wins).
// moe_group: a histogram (atomics) then one block per expert that walks the assignments in order
// with ballots, so each expert's rows come out in row order (stable, deterministic).
#include <algorithm>
#include <vector>

#include "ops/cuda/common.cuh"

namespace jamba::cuda {
namespace {

constexpr int kMaxExperts = 256;
constexpr int kMaxTopK = 8;

template <int EPL>
__global__ void moe_route_kernel(const float* __restrict__ logits, int64_t rows, int64_t E, int64_t top_k,
                                 int32_t* __restrict__ ids, float* __restrict__ weights) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // whole warp leaves together
  const float* lr = logits + row * E;
  float v[EPL];
  bool taken[EPL];
  float mx = -INFINITY;
#pragma unroll
  for (int i = 0; i < EPL; ++i) {
    const int64_t e = lane + 32 * i;
    v[i] = e < E ? lr[e] : -INFINITY;
    taken[i] = e >= E;
    mx = fmaxf(mx, v[i]);
  }
  mx = warp_max(mx);
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < EPL; ++i)
    if (!taken[i]) total += expf(v[i] - mx);
  total = warp_sum(total);

  for (int64_t j = 0; j < top_k; ++j) {
    // This lane's best untaken entry (ids grow with i, so '>' keeps the lower id on ties).
    float best = -INFINITY;
    int best_id = 0x7fffffff;  // none yet
#pragma unroll
    for (int i = 0; i < EPL; ++i)
      if (!taken[i] && (best_id == 0x7fffffff || v[i] > best)) best = v[i], best_id = lane + 32 * i;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ob = __shfl_xor_sync(0xffffffffu, best, o);
      const int oid = __shfl_xor_sync(0xffffffffu, best_id, o);
      if (oid != 0x7fffffff && (best_id == 0x7fffffff || ob > best || (ob == best && oid < best_id)))
        best = ob, best_id = oid;
    }
#pragma unroll
    for (int i = 0; i < EPL; ++i)
      if (lane + 32 * i == best_id) taken[i] = true;
    if (lane == 0) {
      ids[row * top_k + j] = best_id;
      weights[row * top_k + j] = expf(best - mx) / total;
    }
  }
}

__global__ void moe_count_kernel(const int32_t* __restrict__ ids, int64_t A, int64_t E, int32_t* counts) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t a = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; a < A; a += stride) {
    const int32_t e = ids[a];
    if (e >= 0 && e < E) atomicAdd(counts + e, 1);
  }
}

constexpr int kGroupThreads = 256;

// Block e: offsets[e] = Σ counts[<e]; then the assignments of expert e in order.
__global__ void __launch_bounds__(kGroupThreads) moe_scatter_kernel(const int32_t* __restrict__ ids, int64_t A,
                                                                    int64_t E, const int32_t* __restrict__ counts,
                                                                    int32_t* offsets, int32_t* perm,
                                                                    int32_t* position_of) {
  __shared__ int warp_totals[kGroupThreads / 32];
  __shared__ int base_sh;
  const int e = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (threadIdx.x == 0) {
    int base = 0;
    for (int i = 0; i < e; ++i) base += counts[i];
    base_sh = base;
    offsets[e] = base;
    if (e == E - 1) offsets[E] = base + counts[e];
  }
  __syncthreads();
  int running = base_sh;
  for (int64_t a0 = 0; a0 < A; a0 += kGroupThreads) {
    const int64_t a = a0 + threadIdx.x;
    const bool mine = a < A && ids[a] == e;
    const unsigned ballot = __ballot_sync(0xffffffffu, mine);
    const int before_in_warp = __popc(ballot & ((1u << lane) - 1u));
    if (lane == 0) warp_totals[warp] = __popc(ballot);
    __syncthreads();
    int before_warps = 0, tile_total = 0;
    for (int w = 0; w < kGroupThreads / 32; ++w) {
      if (w < warp) before_warps += warp_totals[w];
      tile_total += warp_totals[w];
    }
    if (mine) {
      const int pos = running + before_warps + before_in_warp;
      perm[pos] = static_cast<int32_t>(a);
      position_of[a] = pos;
    }
    running += tile_total;
    __syncthreads();  // warp_totals reused
  }
}

__global__ void moe_gather_kernel(const float* __restrict__ x, int64_t H, const int32_t* __restrict__ perm,
                                  int64_t top_k, float* __restrict__ xg) {
  const int64_t i = blockIdx.x;
  const int64_t src = perm[i] / top_k;
  const float* xr = x + src * H;
  float* dst = xg + i * H;
  for (int64_t h = threadIdx.x; h < H; h += blockDim.x) dst[h] = xr[h];
}

__global__ void moe_combine_kernel(const float* __restrict__ yg, int64_t H, const int32_t* __restrict__ position_of,
                                   const int32_t* __restrict__ ids, const float* __restrict__ weights, int64_t top_k,
                                   float* __restrict__ out) {
  __shared__ int64_t pos_sh[kMaxTopK];
  __shared__ float w_sh[kMaxTopK];
  const int64_t r = blockIdx.x;
  if (threadIdx.x == 0) {
    // Order the k picks by expert id (insertion sort, k ≤ 8): the reference adds experts in
    // increasing id order.
    int32_t e_sorted[kMaxTopK];
    for (int64_t j = 0; j < top_k; ++j) {
      const int32_t e = ids[r * top_k + j];
      int64_t p = j;
      while (p > 0 && e_sorted[p - 1] > e) {
        e_sorted[p] = e_sorted[p - 1];
        pos_sh[p] = pos_sh[p - 1];
        w_sh[p] = w_sh[p - 1];
        --p;
      }
      e_sorted[p] = e;
      pos_sh[p] = position_of[r * top_k + j];
      w_sh[p] = weights[r * top_k + j];
    }
  }
  __syncthreads();
  for (int64_t h = threadIdx.x; h < H; h += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < top_k; ++j) acc = __fadd_rn(acc, __fmul_rn(w_sh[j], yg[pos_sh[j] * H + h]));
    out[r * H + h] = acc;
  }
}

}  // namespace

void moe_route(Context& ctx, const float* logits, int64_t rows, int64_t E, int64_t top_k, int32_t* expert_ids,
               float* weights) {
  require(rows >= 0 && E > 0 && E <= kMaxExperts && top_k > 0 && top_k <= E, "moe_route", "bad shape rows=", rows,
          " E=", E, " top_k=", top_k, " (E ≤ ", kMaxExperts, ")");
  if (rows == 0) return;
  auto& d = ctx.impl();
  const int warps = 4;
  const unsigned blocks = static_cast<unsigned>(ceil_div(rows, warps));
  if (E <= 32)
    moe_route_kernel<1><<<blocks, warps * 32, 0, d.stream>>>(logits, rows, E, top_k, expert_ids, weights);
  else if (E <= 64)
    moe_route_kernel<2><<<blocks, warps * 32, 0, d.stream>>>(logits, rows, E, top_k, expert_ids, weights);
  else if (E <= 128)
    moe_route_kernel<4><<<blocks, warps * 32, 0, d.stream>>>(logits, rows, E, top_k, expert_ids, weights);
  else
    moe_route_kernel<8><<<blocks, warps * 32, 0, d.stream>>>(logits, rows, E, top_k, expert_ids, weights);
  JAMBA_LAUNCH_CHECK("moe_route");
}

void moe_group(Context& ctx, const int32_t* expert_ids, int64_t rows, int64_t top_k, int64_t E, int32_t* counts,
               int32_t* offsets, int32_t* perm, int32_t* position_of) {
  const int64_t A = rows * top_k;
  require(rows >= 0 && top_k > 0 && E > 0 && E < 65536 && A < (int64_t{1} << 31), "moe_group", "bad shape rows=",
          rows, " top_k=", top_k, " E=", E);
  auto& d = ctx.impl();
  JAMBA_CUDA_CHECK(cudaMemsetAsync(counts, 0, static_cast<size_t>(E) * sizeof(int32_t), d.stream));
  if (A > 0) {
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div(A, 256), d.sm_count * 8));
    moe_count_kernel<<<blocks, 256, 0, d.stream>>>(expert_ids, A, E, counts);
    JAMBA_LAUNCH_CHECK("moe_group");
  }
  moe_scatter_kernel<<<static_cast<unsigned>(E), kGroupThreads, 0, d.stream>>>(expert_ids, A, E, counts, offsets, perm,
                                                                              position_of);
  JAMBA_LAUNCH_CHECK("moe_group");
}

void moe_gather(Context& ctx, const float* x, int64_t H, const int32_t* perm, int64_t A, int64_t top_k, float* xg) {
  require(H > 0 && A >= 0 && A < (int64_t{1} << 31) && top_k > 0, "moe_gather", "bad shape H=", H, " A=", A);
  if (A == 0) return;
  auto& d = ctx.impl();
  moe_gather_kernel<<<static_cast<unsigned>(A), H >= 256 ? 256 : 128, 0, d.stream>>>(x, H, perm, top_k, xg);
  JAMBA_LAUNCH_CHECK("moe_gather");
}

void moe_combine(Context& ctx, const float* yg, int64_t H, const int32_t* position_of, const int32_t* expert_ids,
                 const float* weights, int64_t rows, int64_t top_k, float* out) {
  require(H > 0 && rows >= 0 && rows < (int64_t{1} << 31) && top_k > 0 && top_k <= kMaxTopK, "moe_combine",
          "bad shape H=", H, " rows=", rows, " top_k=", top_k, " (top_k ≤ ", kMaxTopK, ")");
  if (rows == 0) return;
  auto& d = ctx.impl();
  moe_combine_kernel<<<static_cast<unsigned>(rows), H >= 256 ? 256 : 128, 0, d.stream>>>(yg, H, position_of,
                                                                                        expert_ids, weights, top_k, out);
  JAMBA_LAUNCH_CHECK("moe_combine");
}

void moe_ffn(Context& ctx, const float* x, int64_t rows, int64_t H, int64_t I, const float* router_logits, int64_t E,
             int64_t top_k, const ExpertWeights* experts, MatmulPrecision precision, float* out) {
  require(rows >= 0 && H > 0 && I > 0 && E > 0 && top_k > 0 && top_k <= std::min<int64_t>(E, kMaxTopK) && experts,
          "moe_ffn", "bad shape rows=", rows, " H=", H, " I=", I, " E=", E, " top_k=", top_k);
  if (rows == 0) return;
  auto& d = ctx.impl();
  const int64_t A = rows * top_k;
  auto bytes = [](int64_t count, size_t size) { return align_up(static_cast<size_t>(count) * size, 256); };
  const size_t own = bytes(A, 4) * 4 + bytes(E, 4) + bytes(E + 1, 4) + bytes(A * H, 4) * 2 + bytes(A * I, 4) * 2;
  const size_t nested = std::max(matmul_scratch_bytes(A, I, H), matmul_scratch_bytes(A, H, I));
  d.reserve(d.scratch_top + own + nested);
  ScratchFrame frame(d);
  int32_t* ids = frame.push<int32_t>(A);
  float* weights = frame.push<float>(A);
  int32_t* perm = frame.push<int32_t>(A);
  int32_t* position_of = frame.push<int32_t>(A);
  int32_t* counts = frame.push<int32_t>(E);
  int32_t* offsets = frame.push<int32_t>(E + 1);
  float* xg = frame.push<float>(A * H);
  float* yg = frame.push<float>(A * H);
  float* g = frame.push<float>(A * I);
  float* u = frame.push<float>(A * I);

  moe_route(ctx, router_logits, rows, E, top_k, ids, weights);
  moe_group(ctx, ids, rows, top_k, E, counts, offsets, perm, position_of);
  moe_gather(ctx, x, H, perm, A, top_k, xg);
  std::vector<int32_t> host_counts(static_cast<size_t>(E));
  JAMBA_CUDA_CHECK(cudaMemcpyAsync(host_counts.data(), counts, static_cast<size_t>(E) * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, d.stream));
  JAMBA_CUDA_CHECK(cudaStreamSynchronize(d.stream));
  int64_t offset = 0;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t count = host_counts[e];
    if (count > 0) {
      const ExpertWeights& w = experts[e];
      matmul(ctx, xg + offset * H, count, w.gate_proj, nullptr, g + offset * I, precision);
      matmul(ctx, xg + offset * H, count, w.up_proj, nullptr, u + offset * I, precision);
      silu_mul(ctx, g + offset * I, u + offset * I, count * I, g + offset * I);
      matmul(ctx, g + offset * I, count, w.down_proj, nullptr, yg + offset * H, precision);
    }
    offset += count;
  }
  moe_combine(ctx, yg, H, position_of, ids, weights, rows, top_k, out);
}

}  // namespace jamba::cuda
