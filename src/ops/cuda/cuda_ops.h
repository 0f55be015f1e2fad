// CUDA versions of the ops of ops/ops.h, on device pointers. Plain C++: host code includes this
// without nvcc (cudaStream_t is `CUstream_st*`, declared here). Every op has the semantics that
// ops.h documents and ops/ref implements; tests/cuda/test_cuda_ops.cu checks each against the
// reference on random inputs of odd sizes. Ops beyond the table (decode steps over a batch of
// state slots, the fused delta bias + softplus, MoE grouping) are described where declared.
//
// Conventions: activations fp32, row-major, contiguous, on the device; weights are TensorViews
// whose data is a device pointer (device = Device::CUDA is not required, the pointer is what
// counts), dtype F32/F16/BF16, read as [out, in]. The SSM state is fp32 always. All index math
// is int64. Every op is asynchronous on the Context's stream; errors (bad arguments, a CUDA or
// cuBLASLt failure) throw jamba::Error with a one-line message naming the op.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tensor/tensor.h"

struct CUstream_st;

namespace jamba::cuda {

using Stream = CUstream_st*;  // the same type as cudaStream_t

// True when a CUDA device is usable; otherwise false and `why` (if given) says why.
bool device_available(std::string* why = nullptr);

// One line describing device 0 (name, SMs, memory, compute capability, driver/runtime).
std::string device_summary();

// The per-stream state of the ops: the cuBLASLt handle and workspace, cached GEMM plans, the
// device's properties and a scratch arena (grown on demand; call reserve_scratch before
// capturing a CUDA graph, because growing allocates and that is refused while capturing).
// Not thread-safe: one Context per host thread / stream.
class Context {
 public:
  explicit Context(Stream stream = nullptr);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Stream stream() const;
  void set_stream(Stream stream);
  int sm_count() const;
  void synchronize() const;  // waits for the stream; throws if a kernel failed
  void reserve_scratch(size_t bytes);
  size_t scratch_capacity() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Small device-memory helpers so that host code needs no CUDA headers.
void* device_alloc(size_t bytes);
void device_free(void* p);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void device_memset_zero(void* p, size_t bytes);
int64_t device_free_bytes();    // free memory of the current device
int64_t device_memory_used();  // total minus free: this process's allocations and the driver's

// The machine's limits, measured (benchmarks read their results against these): read
// bandwidth in bytes/s (a read-only kernel over `bytes`, best of `reps`), and the bf16 GEMM rate
// in FLOP/s (cuBLASLt, n×n×n, fp32 accumulation, best of `reps`).
double measure_read_bandwidth(Context& ctx, int64_t bytes = int64_t{2} << 30, int reps = 10);
double measure_bf16_gemm_flops(Context& ctx, int64_t n = 8192, int reps = 10);

// ---------------------------------------------------------------------------------------------
// matmul: y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias[n]). The precision is chosen per call:
//
//  Q8 weights (int8 [n, k] + fp32 scales [n], device pointers) take the same paths: GEMV and
//  SIMT apply the scale to each dot product; kFast dequantizes to bf16 for the tensor cores.
//  kExact  fp32 products of x with the stored weights, accumulated in fp32: agrees with
//          ops/ref to fp32 accumulation error (|Δ| ≲ 1e-6 · Σ_t |x_t w_t|). m ≤ 8 (decode):
//          our GEMV kernel (weights read once, 16-byte loads, any dtype). m > 8: F32 weights →
//          cuBLASLt CUBLAS_COMPUTE_32F; BF16 → x split exactly into three bf16 terms
//          (x = hi + mid + lo, 24 bits) stacked as 3m rows of one cuBLASLt bf16 GEMM (weights
//          read once, tensor cores, fp32 accumulation) and summed; F16 → a tiled fp32 SIMT
//          kernel (f16 cannot hold an fp32 split: its exponent range is too small).
//  kFast   m ≤ 2: the exact GEMV (it is bandwidth-bound, so exactness is free; from 3 rows on,
//          re-reading x for every output makes it slower than the tensor cores). m > 2: x is
//          rounded to the weight dtype (round-to-nearest-even) and one cuBLASLt GEMM runs on
//          tensor cores with fp32 accumulation: |Δ| ≤ u · Σ_t |x_t w_t| + accumulation error,
//          u = 2^-9 for BF16, 2^-11 for F16 (x must fit f16: |x| < 65504). F32 weights → TF32
//          (x and w each lose up to 2^-10 relative: |Δ| ≤ 2^-9 · Σ|x_t w_t|).
enum class MatmulPrecision { kExact, kFast };
const char* precision_name(MatmulPrecision p);

void matmul(Context& ctx, const float* x, int64_t m, const TensorView& w, const float* bias, float* y,
            MatmulPrecision precision);

// ---------------------------------------------------------------------------------------------
// Elementwise and row ops (same contracts as ops.h; in-place where ops.h allows).
void rmsnorm(Context& ctx, const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y);
void silu_mul(Context& ctx, const float* gate, const float* up, int64_t n, float* y);
void softplus(Context& ctx, const float* x, int64_t n, float* y);
// y[r, c] = softplus(x[r, c] + bias[c]) over rows × n (the dt_proj bias fused with softplus).
void softplus_bias(Context& ctx, const float* x, int64_t rows, int64_t n, const float* bias, float* y);

// Fusions for the forward's glue (fewer launches per decode step):
//  add_rmsnorm: h[r] += delta[r], then y[r] = rmsnorm(h[r]) (the residual add and the next norm).
//  split_rmsnorm3: x [rows, n0 + n1 + n2] split into y0 [rows, n0], y1, y2, each row normalised
//    with weight k (Mamba's dt / B / C norms over x_proj's output).
//  silu_mul_halves: gu [rows, 2I] = [gate | up] per row → y [rows, I] = silu(gate) · up.
void add_rmsnorm(Context& ctx, float* h, const float* delta, int64_t rows, int64_t n, const float* weight, float eps,
                 float* y);
void split_rmsnorm3(Context& ctx, const float* x, int64_t rows, const int64_t n[3], const float* const weight[3],
                    float eps, float* const y[3]);
void silu_mul_halves(Context& ctx, const float* gu, int64_t rows, int64_t I, float* y);
// acc[i] += x[i] (the residual stream).
void add_into(Context& ctx, float* acc, const float* x, int64_t n);
// out[r, :] = table[ids[r], :] as fp32 (table [V, H] F32/F16/BF16; ids device int32, assumed
// in range: the caller validates token ids on the host).
void embed_rows(Context& ctx, const TensorView& table, const int32_t* ids, int64_t rows, float* out);
// dst[r, :] = src[r, first_col : first_col + cols] (src rows of src_cols floats), one 2-D copy.
void copy_columns(Context& ctx, const float* src, int64_t rows, int64_t src_cols, int64_t first_col, int64_t cols,
                  float* dst);

// ---------------------------------------------------------------------------------------------
// Causal depthwise conv + SiLU over T new rows continuing from `state` [K-1, C] (ops.h
// semantics; K ≤ 8). T ≤ 16 runs one fused kernel (one thread per channel); longer T runs a
// time-tiled kernel over (channel, time chunk) and then a state-update kernel.
void causal_conv1d_silu(Context& ctx, const float* x, int64_t T, int64_t C, const float* w, int64_t K,
                        const float* bias, float* state, float* y);

// One-token decode update for `batch` sequences at once: row b of x [batch, C] continues the
// conv state at state_pool + slot_b · (K-1) · C where slot_b = slots ? slots[b] : b (device
// int32 array; slot_b < 0 skips row b, leaving y's row untouched) — the slot indirection lets a
// CUDA graph replay with the states living in a fixed pool.
void causal_conv1d_silu_update(Context& ctx, const float* x, int64_t batch, int64_t C, const float* w, int64_t K,
                               const float* bias, float* state_pool, const int32_t* slots, float* y);

// ---------------------------------------------------------------------------------------------
// Mamba-1 selective scan (ops.h semantics), continuing from `state` [Di, N] (fp32, updated).
//  options.delta_bias / delta_softplus: the kernel uses softplus(delta + bias) when asked (the
//    mamba kernel's fusion: dt_proj can then run without its bias and no softplus pass runs).
//  Algorithms: kStep (auto for T ≤ 32; always for N > 64): one thread per (channel, 4 states),
//    warp-shuffle reduction over N, state in registers across the T steps — fills the GPU at
//    batch 1. kChunked: T split into chunks; pass 1 scans each chunk from a zero state (one
//    thread per channel, all N states in registers) and keeps (Π exp(δA), local end state) per
//    chunk; pass 2 carries the true state across chunks (one thread per (channel, state));
//    pass 3 rescans each chunk from its true start state and writes y. A single chunk skips
//    passes 1–2. Chunked scratch: 2 · chunks · Di · N floats.
struct ScanOptions {
  const float* delta_bias = nullptr;  // [Di] or nullptr
  bool delta_softplus = false;
  enum class Algo { kAuto, kStep, kChunked } algo = Algo::kAuto;
  int64_t chunk_len = 0;  // kChunked: timesteps per chunk; 0 picks one that fills the GPU
};
void selective_scan(Context& ctx, const float* u, const float* delta, const float* A, const float* B,
                    const float* C, const float* D, const float* z, int64_t T, int64_t Di, int64_t N,
                    float* state, float* y, const ScanOptions& options = {});

// Decode step for `batch` sequences, one token each: rows b of u, delta, z [batch, Di] and of
// B, C [batch, N]; the state of row b is state_pool + slot_b · Di · N (slots as for the conv
// update; slot < 0 skips the row). options.algo and chunk_len are ignored.
void selective_scan_step(Context& ctx, int64_t batch, const float* u, const float* delta, const float* A,
                         const float* B, const float* C, const float* D, const float* z, int64_t Di, int64_t N,
                         float* state_pool, const int32_t* slots, float* y, const ScanOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Causal attention (ops.h semantics: q [T, nh, hd], k/v [P+T, nkv, hd], query t sees keys
// 0..P+t, GQA head h → kv head h / (nh/nkv)). Dispatch: (T == 1 or T·(nh/nkv) ≤ 16), hd % 4 == 0
// and 16-byte aligned k/v → attention_decode, else attention_prefill. hd ≤ 256. K/V are fp32
// (the cache layout of ops.h); a bf16 KV cache halves the decode traffic (integration work).
void attention(Context& ctx, const float* q, const float* k, const float* v, int64_t T, int64_t P, int64_t nh,
               int64_t nkv, int64_t hd, float scale, float* out);

// Flash-decoding: the keys are split over blocks (splits = 0 picks a count that fills the GPU),
// each block serving one kv head and up to 8 packed (query row, head of the group) rows, so the
// heads of a group share every K/V load; per-split (max, sum, unnormalised output) are combined
// by a second kernel. Any T (rows get their own causal limit), fp32 online softmax.
void attention_decode(Context& ctx, const float* q, const float* k, const float* v, int64_t T, int64_t P,
                      int64_t nh, int64_t nkv, int64_t hd, float scale, float* out, int64_t splits = 0);

// Prefill: FlashAttention-2 style tiles in fp32 (32 packed (query, head-of-group) rows × 32
// keys per step through shared memory, online softmax), one block per (row tile, kv head).
void attention_prefill(Context& ctx, const float* q, const float* k, const float* v, int64_t T, int64_t P,
                       int64_t nh, int64_t nkv, int64_t hd, float scale, float* out);

// ---------------------------------------------------------------------------------------------
// MoE. moe_route: ops.h semantics (softmax over E ≤ 256, top_k largest first, ties to the lower
// id, not renormalised); one warp per row.
void moe_route(Context& ctx, const float* logits, int64_t rows, int64_t E, int64_t top_k, int32_t* expert_ids,
               float* weights);

// Groups the rows·top_k assignments by expert, stably (row order kept inside a group):
//   counts[E], offsets[E+1] (offsets[e] = Σ counts[<e]), perm[A] = the assignment index
//   (row·top_k + j) at each sorted position, position_of[A] = its inverse.
// All device int32 arrays (A = rows·top_k < 2^31). No host synchronisation.
void moe_group(Context& ctx, const int32_t* expert_ids, int64_t rows, int64_t top_k, int64_t E, int32_t* counts,
               int32_t* offsets, int32_t* perm, int32_t* position_of);
// xg[i, :] = x[perm[i] / top_k, :] for i < A: the rows in expert order, each group contiguous.
void moe_gather(Context& ctx, const float* x, int64_t H, const int32_t* perm, int64_t A, int64_t top_k, float* xg);
// out[r, :] = Σ_j weights[r, j] · yg[position_of[r·top_k + j], :], summed in increasing expert
// id (the order of the reference's loop over experts), no atomics.
void moe_combine(Context& ctx, const float* yg, int64_t H, const int32_t* position_of, const int32_t* expert_ids,
                 const float* weights, int64_t rows, int64_t top_k, float* out);

// A whole MoE FFN: route → group → gather → per expert (count > 0) gate/up matmuls, silu_mul,
// down matmul on its contiguous group → combine. Copies the E counts to the host once (one
// stream synchronisation) to size the per-expert GEMMs; the loop is over experts, never over
// tokens. gate/up are [I, H] and down [H, I] per expert. out [rows, H].
struct ExpertWeights {
  TensorView gate_proj, up_proj, down_proj;
};
void moe_ffn(Context& ctx, const float* x, int64_t rows, int64_t H, int64_t I, const float* router_logits,
             int64_t E, int64_t top_k, const ExpertWeights* experts, MatmulPrecision precision, float* out);

}  // namespace jamba::cuda
