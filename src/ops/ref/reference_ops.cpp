// Scalar reference ops (fp32 values, fp64 sums where a sum is long). Written for clarity and
// for being right; OpenMP only over independent outputs so tests finish in seconds.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "base/error.h"
#include "ops/ops.h"

namespace jamba::ops {
namespace {

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

void ref_matmul(const float* x, int64_t m, const TensorView& w, const float* bias, float* y) {
  const int64_t n = w.rows();
  const int64_t k = w.row_size();
  // Checked here: an exception thrown inside the parallel region would terminate the process.
  if (!is_weight_dtype(w.dtype) && !is_quantized_dtype(w.dtype))
    fail("matmul: weight dtype ", dtype_name(w.dtype), " is not a weight dtype");
  if (is_quantized_dtype(w.dtype) && k > 0) load_element(w, 0);  // validates scales and group
  // Quantized rows are dequantized by load_row: fp32 q * scale, as the fast backends do.
  // Enough work per thread to pay for the fork.
  const bool parallel = n * m * k > (1 << 15);
#pragma omp parallel if (parallel)
  {
    std::vector<float> row(w.dtype == DType::F32 ? 0 : static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t j = 0; j < n; ++j) {
      const float* wj;
      if (w.dtype == DType::F32) {
        wj = static_cast<const float*>(w.data) + j * k;
      } else {
        load_row(w, j, row.data());
        wj = row.data();
      }
      const double b = bias ? bias[j] : 0.0;
      for (int64_t i = 0; i < m; ++i) {
        const float* xi = x + i * k;
        double acc = 0.0;
        for (int64_t t = 0; t < k; ++t) acc += static_cast<double>(xi[t]) * wj[t];
        y[i * n + j] = static_cast<float>(acc + b);
      }
    }
  }
}

void ref_rmsnorm(const float* x, int64_t rows, int64_t n, const float* weight, float eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i) yr[i] = weight[i] * (xr[i] * inv);
  }
}

void ref_silu_mul(const float* gate, const float* up, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu(gate[i]) * up[i];
}

void ref_causal_conv1d_silu(const float* x, int64_t T, int64_t C, const float* w, int64_t K,
                            const float* bias, float* state, float* y) {
  const int64_t H = K - 1;  // history rows kept in the state
  // The history row at index r (0..H+T-1): the state first, then x.
  auto hist = [&](int64_t r) { return r < H ? state + r * C : x + (r - H) * C; };
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t c = 0; c < C; ++c) {
      double acc = bias ? bias[c] : 0.0;
      for (int64_t j = 0; j < K; ++j) acc += static_cast<double>(w[c * K + j]) * hist(t + j)[c];
      y[t * C + c] = silu(static_cast<float>(acc));
    }
  }
  // New state = last H rows of the history (rows T..T+H-1). Copy through a buffer: when T < H
  // the source overlaps the state itself.
  std::vector<float> next(static_cast<size_t>(H * C));
  for (int64_t r = 0; r < H; ++r) std::memcpy(next.data() + r * C, hist(T + r), C * sizeof(float));
  std::copy(next.begin(), next.end(), state);
}

void ref_softplus(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 20.0f ? x[i] : std::log1p(std::exp(x[i]));
}

void ref_selective_scan(const float* u, const float* delta, const float* A, const float* B,
                        const float* C, const float* D, const float* z, int64_t T, int64_t Di,
                        int64_t N, float* state, float* y) {
#pragma omp parallel for schedule(static) if (T * Di * N > (1 << 14))
  for (int64_t c = 0; c < Di; ++c) {
    float* s = state + c * N;
    const float* a = A + c * N;
    for (int64_t t = 0; t < T; ++t) {
      const float d = delta[t * Di + c];
      const float ut = u[t * Di + c];
      const float* bt = B + t * N;
      const float* ct = C + t * N;
      double out = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        s[n] = std::exp(d * a[n]) * s[n] + d * bt[n] * ut;
        out += static_cast<double>(s[n]) * ct[n];
      }
      const float yt = static_cast<float>(out) + D[c] * ut;
      y[t * Di + c] = yt * silu(z[t * Di + c]);
    }
  }
}

void ref_attention(const float* q, const float* k, const float* v, int64_t T, int64_t P, int64_t nh,
                   int64_t nkv, int64_t hd, float scale, float* out) {
  const int64_t group = nh / nkv;
  const int64_t kv_stride = nkv * hd;
#pragma omp parallel if (T * (P + T) * nh * hd > (1 << 15))
  {
    std::vector<double> scores(static_cast<size_t>(P + T));
    std::vector<double> acc(static_cast<size_t>(hd));
#pragma omp for collapse(2) schedule(static)
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < nh; ++h) {
        const float* qh = q + (t * nh + h) * hd;
        const int64_t kvh = h / group;
        const int64_t visible = P + t + 1;
        double max_score = -INFINITY;
        for (int64_t j = 0; j < visible; ++j) {
          const float* kj = k + j * kv_stride + kvh * hd;
          double dot = 0.0;
          for (int64_t i = 0; i < hd; ++i) dot += static_cast<double>(qh[i]) * kj[i];
          scores[j] = dot * scale;
          max_score = std::max(max_score, scores[j]);
        }
        double total = 0.0;
        for (int64_t j = 0; j < visible; ++j) {
          scores[j] = std::exp(scores[j] - max_score);
          total += scores[j];
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < visible; ++j) {
          const float* vj = v + j * kv_stride + kvh * hd;
          const double p = scores[j] / total;
          for (int64_t i = 0; i < hd; ++i) acc[i] += p * vj[i];
        }
        float* oh = out + (t * nh + h) * hd;
        for (int64_t i = 0; i < hd; ++i) oh[i] = static_cast<float>(acc[i]);
      }
    }
  }
}

void ref_moe_route(const float* logits, int64_t rows, int64_t E, int64_t top_k, int32_t* expert_ids,
                   float* weights) {
  std::vector<double> probs(static_cast<size_t>(E));
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t r = 0; r < rows; ++r) {
    const float* lr = logits + r * E;
    const double max_logit = *std::max_element(lr, lr + E);
    double total = 0.0;
    for (int64_t e = 0; e < E; ++e) total += probs[e] = std::exp(static_cast<double>(lr[e]) - max_logit);
    for (int64_t e = 0; e < E; ++e) probs[e] /= total;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
    for (int64_t j = 0; j < top_k; ++j) {
      expert_ids[r * top_k + j] = order[j];
      weights[r * top_k + j] = static_cast<float>(probs[order[j]]);
    }
  }
}

}  // namespace

const Backend& reference_backend() {
  static const Backend backend = {
      "ref",          ref_matmul,         ref_rmsnorm,    ref_silu_mul, ref_causal_conv1d_silu,
      ref_softplus,   ref_selective_scan, ref_attention,  ref_moe_route,
  };
  return backend;
}

}  // namespace jamba::ops
