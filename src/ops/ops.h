// The op signatures every backend implements, and the backend table. The model calls ops only
// through a Backend, so a fast CPU or CUDA backend is a different table of the same functions;
// tests/unit/test_ops.cpp runs every op of every registered backend against the reference.
//
// Conventions: activations are fp32, row-major, contiguous; "rows" index tokens. Weights are
// TensorViews in their storage dtype (F32/F16/BF16) and are read as [out, in] like PyTorch's
// Linear. Every op accumulates in fp32 at least; the SSM state is fp32 always.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace jamba::ops {

struct Backend {
  const char* name;

  // y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n] when bias != nullptr). w is [n, k].
  void (*matmul)(const float* x, int64_t m, const TensorView& w, const float* bias, float* y);

  // Per row of n: y = weight * (x / sqrt(mean(x^2) + eps)). x and y may alias.
  void (*rmsnorm)(const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y);

  // y = silu(gate) * up, elementwise over n values (y may alias gate).
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* y);

  // Causal depthwise conv over T new rows of C channels, then SiLU:
  //   y[t, c] = silu(bias[c] + sum_j w[c, j] * hist[t - (K-1) + j, c])
  // where hist is the K-1 rows of `state` followed by x. w is [C, K] (tap K-1 multiplies the
  // current row). bias may be nullptr. On return `state` holds the last K-1 rows of hist.
  void (*causal_conv1d_silu)(const float* x, int64_t T, int64_t C, const float* w, int64_t K,
                             const float* bias, float* state, float* y);

  // delta = softplus(x) elementwise (torch's threshold: x > 20 returns x). In place allowed.
  void (*softplus)(const float* x, int64_t n, float* y);

  // Mamba-1 selective scan over T steps for Di channels and N states, continuing from `state`
  // [Di, N] (updated in place):
  //   s = exp(delta[t, c] * A[c, n]) * s + delta[t, c] * B[t, n] * u[t, c]
  //   y[t, c] = (sum_n s[c, n] * C[t, n] + D[c] * u[t, c]) * silu(z[t, c])
  void (*selective_scan)(const float* u, const float* delta, const float* A, const float* B,
                         const float* C, const float* D, const float* z, int64_t T, int64_t Di,
                         int64_t N, float* state, float* y);

  // Causal attention for T new queries of one sequence whose keys/values hold P cached rows
  // followed by the T new ones: q is [T, nh, hd], k and v are [P + T, nkv, hd]; query t sees
  // keys 0..P+t. Query head h reads kv head h / (nh / nkv). out is [T, nh, hd].
  void (*attention)(const float* q, const float* k, const float* v, int64_t T, int64_t P,
                    int64_t nh, int64_t nkv, int64_t hd, float scale, float* out);

  // MoE routing: softmax over E router logits per row, keep the top_k (largest first; ties go
  // to the lower expert id) WITHOUT renormalising. expert_ids/weights are [rows, top_k].
  void (*moe_route)(const float* logits, int64_t rows, int64_t E, int64_t top_k, int32_t* expert_ids,
                    float* weights);
};

// The scalar fp32 reference: the truth every other backend is tested against.
const Backend& reference_backend();

// Every backend compiled in (reference first), for the generic op test and for --backend.
std::vector<const Backend*> all_backends();
const Backend& backend_by_name(const std::string& name);  // throws Error listing the known ones

}  // namespace jamba::ops
