// Mamba-1 selective scan:  s = exp(δ·A)·s + δ·B·u,  y = (C·s + D·u)·silu(z),  fp32 state.
//
// exp(δ·A) is computed as exp2(δ·(A·log2 e)) — one MUFU.EX2 per (token, channel, state), the
// mamba kernel's trick; its relative error (≈ 2 ulp + the rounding of the product) is far below
// the test tolerance.
//
// Step kernel (decode and short T): one thread per (sequence, channel, 4 consecutive states), the
// N/4 threads of a channel adjacent in a warp; the state stays in registers over the T steps and
// y is a shuffle reduction over those lanes. At batch 1 Jamba's 8192×16 states give 32K threads.
//
// Chunked kernels (prefill): T is cut into chunks; one thread per (channel, chunk) holds all N
// states in registers (coalesced δ/u/z/y across channels; B/C rows staged in shared memory and
// read as broadcasts). Pass 1 scans each chunk from zero, keeping (Π exp(δA), end state);
// pass 2 (one thread per (channel, state)) chains the chunks from the true initial state and
// writes each chunk's true start state and the final state; pass 3 rescans every chunk from its
// start state and writes y. Both scans cost one exp per (t, c, n); passes 1–2 are skipped when
// one chunk suffices.
#include "ops/cuda/common.cuh"

namespace jamba::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kStepThreads = 128;
constexpr int kChunkThreads = 128;  // channels per block in the chunked kernels
constexpr int kTile = 32;           // timesteps of B/C staged in shared memory at once
constexpr int64_t kStepMaxT = 32;
constexpr int64_t kMinChunk = 32;
constexpr int kMaxStepN = 256;
constexpr int kMaxChunkN = 64;

__device__ __forceinline__ float load_delta(const float* delta, int64_t i, const float* delta_bias, int64_t c,
                                            bool softplus) {
  float d = delta[i];
  if (delta_bias) d += delta_bias[c];
  return softplus ? softplus_f(d) : d;
}

// ---------------------------------------------------------------------------------------------
// Step kernel. Template: L lanes per channel (power of two ≤ 32), NC chunks of 4 states per lane,
// VEC4 whether N % 4 == 0 (16-byte state/B/C accesses).
template <int L, int NC, bool VEC4>
__global__ void __launch_bounds__(kStepThreads) scan_step_kernel(
    int64_t batch, int64_t T, const float* __restrict__ u, const float* __restrict__ delta,
    const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ C,
    const float* __restrict__ D, const float* __restrict__ z, const float* __restrict__ delta_bias,
    bool delta_softplus, int64_t Di, int64_t N, float* state_pool, const int32_t* __restrict__ slots,
    float* y) {
  const int64_t gthread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int q = static_cast<int>(gthread % L);  // lane within the channel's group
  const int64_t group = gthread / L;
  const int64_t b = group / Di;
  const int64_t c = group % Di;
  bool active = b < batch;
  int64_t slot = 0;
  if (active) {
    slot = slots ? static_cast<int64_t>(slots[b]) : b;
    active = slot >= 0;
  }
  float* s_ptr = active ? state_pool + slot * Di * N + c * N : nullptr;

  float h[NC][4], a2[NC][4];
#pragma unroll
  for (int k = 0; k < NC; ++k) {
    const int64_t n0 = (static_cast<int64_t>(k) * L + q) * 4;
    if (VEC4) {
      if (active && n0 < N) {
        const float4 sv = *reinterpret_cast<const float4*>(s_ptr + n0);
        const float4 av = *reinterpret_cast<const float4*>(A + c * N + n0);
        h[k][0] = sv.x, h[k][1] = sv.y, h[k][2] = sv.z, h[k][3] = sv.w;
        a2[k][0] = av.x * kLog2e, a2[k][1] = av.y * kLog2e, a2[k][2] = av.z * kLog2e, a2[k][3] = av.w * kLog2e;
      } else {
#pragma unroll
        for (int v = 0; v < 4; ++v) h[k][v] = 0.0f, a2[k][v] = 0.0f;
      }
    } else {
#pragma unroll
      for (int v = 0; v < 4; ++v) {
        const bool ok = active && n0 + v < N;
        h[k][v] = ok ? s_ptr[n0 + v] : 0.0f;
        a2[k][v] = ok ? A[c * N + n0 + v] * kLog2e : 0.0f;
      }
    }
  }
  const float Dc = active ? D[c] : 0.0f;

  for (int64_t t = 0; t < T; ++t) {
    const int64_t row = b * T + t;  // row of u/delta/z/B/C/y
    float dt = 0.0f, ut = 0.0f;
    if (active) {
      dt = load_delta(delta, row * Di + c, delta_bias, c, delta_softplus);
      ut = u[row * Di + c];
    }
    const float du = dt * ut;
    float partial = 0.0f;
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int64_t n0 = (static_cast<int64_t>(k) * L + q) * 4;
      float bv[4], cv[4];
      if (VEC4) {
        if (active && n0 < N) {
          const float4 b4 = *reinterpret_cast<const float4*>(B + row * N + n0);
          const float4 c4 = *reinterpret_cast<const float4*>(C + row * N + n0);
          bv[0] = b4.x, bv[1] = b4.y, bv[2] = b4.z, bv[3] = b4.w;
          cv[0] = c4.x, cv[1] = c4.y, cv[2] = c4.z, cv[3] = c4.w;
        } else {
#pragma unroll
          for (int v = 0; v < 4; ++v) bv[v] = 0.0f, cv[v] = 0.0f;
        }
      } else {
#pragma unroll
        for (int v = 0; v < 4; ++v) {
          const bool ok = active && n0 + v < N;
          bv[v] = ok ? B[row * N + n0 + v] : 0.0f;
          cv[v] = ok ? C[row * N + n0 + v] : 0.0f;
        }
      }
#pragma unroll
      for (int v = 0; v < 4; ++v) {
        const float a = exp2f(dt * a2[k][v]);
        h[k][v] = fmaf(a, h[k][v], du * bv[v]);
        partial = fmaf(h[k][v], cv[v], partial);
      }
    }
#pragma unroll
    for (int o = L / 2; o > 0; o >>= 1) partial += __shfl_xor_sync(0xffffffffu, partial, o);
    if (active && q == 0) {
      const float zt = z[row * Di + c];
      y[row * Di + c] = (partial + Dc * ut) * silu_f(zt);
    }
  }

  if (!active) return;
#pragma unroll
  for (int k = 0; k < NC; ++k) {
    const int64_t n0 = (static_cast<int64_t>(k) * L + q) * 4;
    if (VEC4) {
      if (n0 < N) *reinterpret_cast<float4*>(s_ptr + n0) = make_float4(h[k][0], h[k][1], h[k][2], h[k][3]);
    } else {
#pragma unroll
      for (int v = 0; v < 4; ++v)
        if (n0 + v < N) s_ptr[n0 + v] = h[k][v];
    }
  }
}

struct StepArgs {
  int64_t batch, T;
  const float *u, *delta, *A, *B, *C, *D, *z, *delta_bias;
  bool delta_softplus;
  int64_t Di, N;
  float* state_pool;
  const int32_t* slots;
  float* y;
};

template <int L, int NC, bool VEC4>
void launch_step(const StepArgs& a, cudaStream_t s) {
  const int64_t threads = a.batch * a.Di * L;
  const int64_t blocks = ceil_div(threads, kStepThreads);
  require(blocks < (int64_t{1} << 31), "selective_scan", "too many channels");
  scan_step_kernel<L, NC, VEC4><<<static_cast<unsigned>(blocks), kStepThreads, 0, s>>>(
      a.batch, a.T, a.u, a.delta, a.A, a.B, a.C, a.D, a.z, a.delta_bias, a.delta_softplus, a.Di, a.N,
      a.state_pool, a.slots, a.y);
}

template <bool VEC4>
void dispatch_step_vec(const StepArgs& a, cudaStream_t s) {
  const int64_t quads = ceil_div(a.N, 4);
  if (quads <= 1) return launch_step<1, 1, VEC4>(a, s);
  if (quads <= 2) return launch_step<2, 1, VEC4>(a, s);
  if (quads <= 4) return launch_step<4, 1, VEC4>(a, s);
  if (quads <= 8) return launch_step<8, 1, VEC4>(a, s);
  if (quads <= 16) return launch_step<16, 1, VEC4>(a, s);
  if (quads <= 32) return launch_step<32, 1, VEC4>(a, s);
  return launch_step<32, 2, VEC4>(a, s);
}

void run_step(const StepArgs& a, cudaStream_t s) {
  const bool vec4 = a.N % 4 == 0 && aligned16(a.state_pool) && aligned16(a.A) && aligned16(a.B) && aligned16(a.C);
  if (vec4)
    dispatch_step_vec<true>(a, s);
  else
    dispatch_step_vec<false>(a, s);
}

// ---------------------------------------------------------------------------------------------
// Chunked kernels. NMAX: the state count rounded up to a compiled size (masked above N).
// OUTPUT=false: pass 1 (zero start, write chunk (aprod, end state)). OUTPUT=true: pass 3 (start
// from h_in, write y; with state_out also write the end state).
template <int NMAX, bool OUTPUT>
__global__ void __launch_bounds__(kChunkThreads) scan_chunk_kernel(
    int64_t T, int64_t chunk_len, const float* __restrict__ u, const float* __restrict__ delta,
    const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ C,
    const float* __restrict__ D, const float* __restrict__ z, const float* __restrict__ delta_bias,
    bool delta_softplus, int64_t Di, int64_t N,
    const float* h_in,      // OUTPUT: [nchunks, Di, N] start states (or the state itself)
    float* h_end,           // !OUTPUT: [nchunks, Di, N] local end states
    float* a_prod,          // !OUTPUT: [nchunks, Di, N] Π exp(δA) over the chunk
    float* state_out,       // OUTPUT && single chunk: [Di, N]
    float* y) {
  __shared__ float Bs[kTile][NMAX];
  __shared__ float Cs[OUTPUT ? kTile : 1][NMAX];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t j = blockIdx.y;
  const int64_t t0 = j * chunk_len;
  const int64_t t1 = t0 + chunk_len < T ? t0 + chunk_len : T;
  const bool active = c < Di;

  float h[NMAX], a2[NMAX], ap[NMAX];
  const float* hin = OUTPUT ? h_in + (j * Di + c) * N : nullptr;
#pragma unroll
  for (int n = 0; n < NMAX; ++n) {
    const bool ok = active && n < N;
    a2[n] = ok ? A[c * N + n] * kLog2e : 0.0f;
    h[n] = (OUTPUT && ok) ? hin[n] : 0.0f;
    ap[n] = 1.0f;
  }
  const float Dc = (OUTPUT && active) ? D[c] : 0.0f;

  for (int64_t tt = t0; tt < t1; tt += kTile) {
    const int rows = static_cast<int>(t1 - tt < kTile ? t1 - tt : kTile);
    __syncthreads();  // the previous tile's readers are done
    for (int i = threadIdx.x; i < kTile * NMAX; i += blockDim.x) {
      const int r = i / NMAX, n = i % NMAX;
      const bool ok = r < rows && n < N;
      Bs[r][n] = ok ? B[(tt + r) * N + n] : 0.0f;
      if (OUTPUT) Cs[r][n] = ok ? C[(tt + r) * N + n] : 0.0f;
    }
    __syncthreads();
    if (!active) continue;
#pragma unroll 2
    for (int r = 0; r < rows; ++r) {
      const int64_t t = tt + r;
      const float dt = load_delta(delta, t * Di + c, delta_bias, c, delta_softplus);
      const float ut = u[t * Di + c];
      const float du = dt * ut;
      float acc = 0.0f;
#pragma unroll
      for (int n = 0; n < NMAX; ++n) {
        const float a = exp2f(dt * a2[n]);
        h[n] = fmaf(a, h[n], du * Bs[r][n]);
        if (OUTPUT)
          acc = fmaf(h[n], Cs[r][n], acc);
        else
          ap[n] *= a;
      }
      if (OUTPUT) y[t * Di + c] = (acc + Dc * ut) * silu_f(z[t * Di + c]);
    }
  }
  if (!active) return;
  if (OUTPUT) {
    if (state_out) {
#pragma unroll
      for (int n = 0; n < NMAX; ++n)
        if (n < N) state_out[c * N + n] = h[n];
    }
  } else {
    float* he = h_end + (j * Di + c) * N;
    float* apo = a_prod + (j * Di + c) * N;
#pragma unroll
    for (int n = 0; n < NMAX; ++n)
      if (n < N) he[n] = h[n], apo[n] = ap[n];
  }
}

// Pass 2: chain the chunks per (channel, state). h_buf holds local end states on entry and the
// true start state of each chunk on exit; state is the initial state on entry, final on exit.
__global__ void scan_carry_kernel(int64_t nchunks, int64_t DiN, float* h_buf, const float* __restrict__ a_prod,
                                  float* state) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= DiN) return;
  float h = state[i];
  for (int64_t j = 0; j < nchunks; ++j) {
    const float local = h_buf[j * DiN + i];
    h_buf[j * DiN + i] = h;
    h = fmaf(a_prod[j * DiN + i], h, local);
  }
  state[i] = h;
}

struct ChunkArgs {
  int64_t T, chunk_len, nchunks;
  const float *u, *delta, *A, *B, *C, *D, *z, *delta_bias;
  bool delta_softplus;
  int64_t Di, N;
  float* state;
  float* y;
  float* h_buf;   // nchunks·Di·N (only when nchunks > 1)
  float* a_buf;
};

template <int NMAX>
void run_chunked_n(const ChunkArgs& a, cudaStream_t s) {
  dim3 grid(static_cast<unsigned>(ceil_div(a.Di, kChunkThreads)), static_cast<unsigned>(a.nchunks));
  if (a.nchunks == 1) {
    scan_chunk_kernel<NMAX, true><<<grid, kChunkThreads, 0, s>>>(a.T, a.chunk_len, a.u, a.delta, a.A, a.B, a.C, a.D,
                                                                  a.z, a.delta_bias, a.delta_softplus, a.Di, a.N,
                                                                  a.state, nullptr, nullptr, a.state, a.y);
    JAMBA_LAUNCH_CHECK("selective_scan");
    return;
  }
  scan_chunk_kernel<NMAX, false><<<grid, kChunkThreads, 0, s>>>(a.T, a.chunk_len, a.u, a.delta, a.A, a.B, a.C, a.D,
                                                                 a.z, a.delta_bias, a.delta_softplus, a.Di, a.N,
                                                                 nullptr, a.h_buf, a.a_buf, nullptr, nullptr);
  JAMBA_LAUNCH_CHECK("selective_scan");
  const int64_t DiN = a.Di * a.N;
  scan_carry_kernel<<<static_cast<unsigned>(ceil_div(DiN, 256)), 256, 0, s>>>(a.nchunks, DiN, a.h_buf, a.a_buf,
                                                                               a.state);
  JAMBA_LAUNCH_CHECK("selective_scan");
  scan_chunk_kernel<NMAX, true><<<grid, kChunkThreads, 0, s>>>(a.T, a.chunk_len, a.u, a.delta, a.A, a.B, a.C, a.D,
                                                                a.z, a.delta_bias, a.delta_softplus, a.Di, a.N,
                                                                a.h_buf, nullptr, nullptr, nullptr, a.y);
  JAMBA_LAUNCH_CHECK("selective_scan");
}

void run_chunked(const ChunkArgs& a, cudaStream_t s) {
  if (a.N <= 4) return run_chunked_n<4>(a, s);
  if (a.N <= 8) return run_chunked_n<8>(a, s);
  if (a.N <= 16) return run_chunked_n<16>(a, s);
  if (a.N <= 32) return run_chunked_n<32>(a, s);
  return run_chunked_n<64>(a, s);
}

}  // namespace

void selective_scan(Context& ctx, const float* u, const float* delta, const float* A, const float* B,
                    const float* C, const float* D, const float* z, int64_t T, int64_t Di, int64_t N,
                    float* state, float* y, const ScanOptions& options) {
  require(T >= 0 && Di > 0 && N > 0 && N <= kMaxStepN, "selective_scan", "bad shape T=", T, " Di=", Di, " N=", N,
          " (N ≤ ", kMaxStepN, ")");
  if (T == 0) return;
  auto& d = ctx.impl();
  using Algo = ScanOptions::Algo;
  Algo algo = options.algo;
  if (algo == Algo::kAuto) algo = T <= kStepMaxT ? Algo::kStep : Algo::kChunked;
  if (N > kMaxChunkN) algo = Algo::kStep;  // chunked keeps all N states per thread in registers

  if (algo == Algo::kStep) {
    StepArgs a{1, T, u, delta, A, B, C, D, z, options.delta_bias, options.delta_softplus, Di, N, state, nullptr, y};
    run_step(a, d.stream);
    JAMBA_LAUNCH_CHECK("selective_scan");
    return;
  }

  int64_t chunk_len = options.chunk_len;
  if (chunk_len <= 0) {
    // Enough (channel block, chunk) pairs for ~8 blocks of 128 threads per SM.
    const int64_t blocks_x = ceil_div(Di, kChunkThreads);
    const int64_t want_chunks = ceil_div(int64_t{8} * d.sm_count, blocks_x);
    int64_t nchunks = want_chunks < ceil_div(T, kMinChunk) ? want_chunks : ceil_div(T, kMinChunk);
    if (nchunks < 1) nchunks = 1;
    chunk_len = ceil_div(T, nchunks);
  }
  const int64_t nchunks = ceil_div(T, chunk_len);
  require(nchunks < 65536, "selective_scan", "too many chunks (", nchunks, "); raise chunk_len");
  ChunkArgs a{T, chunk_len, nchunks, u, delta, A, B, C, D, z, options.delta_bias, options.delta_softplus, Di, N,
              state, y, nullptr, nullptr};
  if (nchunks > 1) {
    const size_t buf = static_cast<size_t>(nchunks * Di * N);
    d.reserve(d.scratch_top + 2 * align_up(buf * sizeof(float), 256));
    ScratchFrame frame(d);
    a.h_buf = frame.push<float>(buf);
    a.a_buf = frame.push<float>(buf);
    run_chunked(a, d.stream);
    return;
  }
  run_chunked(a, d.stream);
}

void selective_scan_step(Context& ctx, int64_t batch, const float* u, const float* delta, const float* A,
                         const float* B, const float* C, const float* D, const float* z, int64_t Di, int64_t N,
                         float* state_pool, const int32_t* slots, float* y, const ScanOptions& options) {
  require(batch >= 0 && Di > 0 && N > 0 && N <= kMaxStepN, "selective_scan_step", "bad shape batch=", batch,
          " Di=", Di, " N=", N);
  if (batch == 0) return;
  StepArgs a{batch, 1, u, delta, A, B, C, D, z, options.delta_bias, options.delta_softplus, Di, N, state_pool, slots, y};
  run_step(a, ctx.impl().stream);
  JAMBA_LAUNCH_CHECK("selective_scan_step");
}

}  // namespace jamba::cuda
