// Every op of every backend against plain double-precision formulas written out here, on random
// inputs with odd sizes; plus the cache-carry property of the sequence ops (running in chunks
// with the state carried equals one run).
#include <gtest/gtest.h>

#include <cmath>

#include "base/half.h"
#include "ops/ops.h"
#include "support/test_support.h"

namespace jamba {
namespace {

using test::random_floats;

double silu(double x) { return x / (1.0 + std::exp(-x)); }

void expect_near_all(const std::vector<float>& got, const std::vector<double>& want, double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " index " << i;
    ASSERT_NEAR(got[i], want[i], rel * std::max(1.0, std::fabs(want[i]))) << what << " index " << i;
  }
}

// Weights stored in each dtype, with the fp32 values they round to.
struct StoredWeight {
  std::vector<uint16_t> half;
  std::vector<float> f32, exact;
  TensorView view;
};

StoredWeight make_weight(DType dtype, int64_t n, int64_t k, uint32_t seed) {
  StoredWeight w;
  w.f32 = random_floats(n * k, seed);
  w.exact = w.f32;
  if (dtype != DType::F32) {
    w.half.resize(w.f32.size());
    for (size_t i = 0; i < w.f32.size(); ++i) {
      w.half[i] = dtype == DType::BF16 ? f32_to_bf16(w.f32[i]) : f32_to_f16(w.f32[i]);
      w.exact[i] = dtype == DType::BF16 ? bf16_to_f32(w.half[i]) : f16_to_f32(w.half[i]);
    }
  }
  w.view = {dtype, {n, k}, dtype == DType::F32 ? static_cast<const void*>(w.f32.data()) : w.half.data()};
  return w;
}

class Ops : public ::testing::TestWithParam<const ops::Backend*> {};

TEST_P(Ops, MatmulAllWeightDtypesOddSizes) {
  const ops::Backend& be = *GetParam();
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    for (auto [m, n, k] : {std::tuple{1, 1, 1}, {3, 7, 5}, {17, 33, 65}, {2, 130, 257}}) {
      StoredWeight w = make_weight(dtype, n, k, 7 + m);
      const auto x = random_floats(m * k, 11 + n);
      const auto bias = random_floats(n, 13);
      std::vector<float> y(m * n);
      be.matmul(x.data(), m, w.view, bias.data(), y.data());
      std::vector<double> want(m * n);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double acc = bias[j];
          for (int t = 0; t < k; ++t) acc += double(x[i * k + t]) * w.exact[j * k + t];
          want[i * n + j] = acc;
        }
      expect_near_all(y, want, 1e-5, dtype_name(dtype));
    }
  }
}

TEST_P(Ops, RmsnormAndSiluMul) {
  const ops::Backend& be = *GetParam();
  const int rows = 5, n = 37;
  const auto x = random_floats(rows * n, 1, 3.0f), w = random_floats(n, 2), up = random_floats(rows * n, 3);
  std::vector<float> y(rows * n);
  be.rmsnorm(x.data(), rows, n, w.data(), 1e-5f, y.data());
  std::vector<double> want(rows * n);
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    for (int i = 0; i < n; ++i) want[r * n + i] = w[i] * x[r * n + i] / std::sqrt(ss / n + 1e-5);
  }
  expect_near_all(y, want, 1e-5, "rmsnorm");
  be.silu_mul(x.data(), up.data(), rows * n, y.data());
  for (int i = 0; i < rows * n; ++i) want[i] = silu(x[i]) * up[i];
  expect_near_all(y, want, 1e-5, "silu_mul");
}

TEST_P(Ops, SoftplusFollowsTorchThreshold) {
  const ops::Backend& be = *GetParam();
  const std::vector<float> x = {-30.0f, -1.0f, 0.0f, 0.5f, 19.9f, 20.0f, 20.5f, 80.0f};
  std::vector<float> y(x.size());
  be.softplus(x.data(), x.size(), y.data());
  std::vector<double> want;
  for (float v : x) want.push_back(v > 20.0f ? v : std::log1p(std::exp(double(v))));
  expect_near_all(y, want, 1e-6, "softplus");
}

TEST_P(Ops, CausalConvMatchesFormulaAndCarriesState) {
  const ops::Backend& be = *GetParam();
  for (int K : {2, 3, 4, 5}) {
    const int T = 11, C = 9;
    const auto x = random_floats(T * C, K), w = random_floats(C * K, 10 + K), bias = random_floats(C, 20 + K);
    std::vector<float> state((K - 1) * C, 0.0f), y(T * C);
    be.causal_conv1d_silu(x.data(), T, C, w.data(), K, bias.data(), state.data(), y.data());
    std::vector<double> want(T * C);
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < C; ++c) {
        double acc = bias[c];
        for (int j = 0; j < K; ++j) {
          const int src = t - (K - 1) + j;  // zero history before the first token
          if (src >= 0) acc += double(w[c * K + j]) * x[src * C + c];
        }
        want[t * C + c] = silu(acc);
      }
    expect_near_all(y, want, 1e-5, "conv one shot");
    // The state now holds the last K-1 inputs.
    for (int r = 0; r < K - 1; ++r)
      for (int c = 0; c < C; ++c) EXPECT_EQ(state[r * C + c], x[(T - (K - 1) + r) * C + c]);
    // Chunks of 1, 2 and 5 with the state carried give the same outputs (no bias this time).
    std::vector<float> one(T * C), zero_state((K - 1) * C, 0.0f);
    be.causal_conv1d_silu(x.data(), T, C, w.data(), K, nullptr, zero_state.data(), one.data());
    for (int chunk : {1, 2, 5}) {
      std::vector<float> s((K - 1) * C, 0.0f), parts(T * C);
      for (int t = 0; t < T; t += chunk) {
        const int n = std::min(chunk, T - t);
        be.causal_conv1d_silu(x.data() + t * C, n, C, w.data(), K, nullptr, s.data(), parts.data() + t * C);
      }
      EXPECT_EQ(parts, one) << "K " << K << " chunk " << chunk;
    }
  }
}

TEST_P(Ops, SelectiveScanMatchesFormulaAndCarriesState) {
  const ops::Backend& be = *GetParam();
  const int T = 13, Di = 7, N = 5;
  const auto u = random_floats(T * Di, 1), B = random_floats(T * N, 2), C = random_floats(T * N, 3);
  const auto D = random_floats(Di, 4), z = random_floats(T * Di, 5), s0 = random_floats(Di * N, 6);
  auto delta = random_floats(T * Di, 7);
  for (float& d : delta) d = std::log1p(std::exp(d));  // positive step sizes
  auto A = random_floats(Di * N, 8);
  for (float& a : A) a = -std::exp(a);
  std::vector<float> state = s0, y(T * Di);
  be.selective_scan(u.data(), delta.data(), A.data(), B.data(), C.data(), D.data(), z.data(), T, Di, N, state.data(), y.data());
  std::vector<double> s(s0.begin(), s0.end()), want(T * Di);
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < Di; ++c) {
      double out = 0;
      for (int n = 0; n < N; ++n) {
        double& sv = s[c * N + n];
        sv = std::exp(double(delta[t * Di + c]) * A[c * N + n]) * sv + double(delta[t * Di + c]) * B[t * N + n] * u[t * Di + c];
        out += sv * C[t * N + n];
      }
      want[t * Di + c] = (out + double(D[c]) * u[t * Di + c]) * silu(z[t * Di + c]);
    }
  expect_near_all(y, want, 1e-5, "scan");
  expect_near_all(state, s, 1e-5, "final state");
  for (int chunk : {1, 4}) {
    std::vector<float> st = s0, parts(T * Di);
    for (int t = 0; t < T; t += chunk) {
      const int n = std::min(chunk, T - t);
      be.selective_scan(u.data() + t * Di, delta.data() + t * Di, A.data(), B.data() + t * N, C.data() + t * N, D.data(),
                        z.data() + t * Di, n, Di, N, st.data(), parts.data() + t * Di);
    }
    EXPECT_EQ(parts, y) << "chunk " << chunk;
  }
}

TEST_P(Ops, CausalAttentionGqaWithCachedPrefix) {
  const ops::Backend& be = *GetParam();
  for (auto [nh, nkv] : {std::pair{6, 2}, {3, 1}, {4, 4}}) {
    const int hd = 5, P = 4, T = 3, L = P + T;
    const auto q = random_floats(T * nh * hd, nh), k = random_floats(L * nkv * hd, 2 * nh), v = random_floats(L * nkv * hd, 3 * nh);
    const float scale = 1.0f / std::sqrt(float(hd));
    std::vector<float> out(T * nh * hd);
    be.attention(q.data(), k.data(), v.data(), T, P, nh, nkv, hd, scale, out.data());
    std::vector<double> want(T * nh * hd);
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < nh; ++h) {
        const int g = h / (nh / nkv);
        std::vector<double> p(P + t + 1);
        double mx = -1e300, tot = 0;
        for (int j = 0; j <= P + t; ++j) {
          double dot = 0;
          for (int i = 0; i < hd; ++i) dot += double(q[(t * nh + h) * hd + i]) * k[(j * nkv + g) * hd + i];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        for (double& e : p) tot += (e = std::exp(e - mx));
        for (int i = 0; i < hd; ++i) {
          double acc = 0;
          for (int j = 0; j <= P + t; ++j) acc += p[j] / tot * v[(j * nkv + g) * hd + i];
          want[(t * nh + h) * hd + i] = acc;
        }
      }
    expect_near_all(out, want, 1e-5, "attention");
  }
}

TEST_P(Ops, MoeRouteKeepsFullSoftmaxWeights) {
  const ops::Backend& be = *GetParam();
  const int rows = 4, E = 6, k = 3;
  auto logits = random_floats(rows * E, 9, 2.0f);
  logits[3 * E + 1] = logits[3 * E + 4] = 50.0f;  // a tie: the lower id comes first
  std::vector<int32_t> ids(rows * k);
  std::vector<float> w(rows * k);
  be.moe_route(logits.data(), rows, E, k, ids.data(), w.data());
  for (int r = 0; r < rows; ++r) {
    double tot = 0, mx = *std::max_element(&logits[r * E], &logits[r * E] + E);
    for (int e = 0; e < E; ++e) tot += std::exp(double(logits[r * E + e]) - mx);
    double kept = 0;
    for (int j = 0; j < k; ++j) {
      const int e = ids[r * k + j];
      EXPECT_NEAR(w[r * k + j], std::exp(double(logits[r * E + e]) - mx) / tot, 1e-6);
      if (j > 0) EXPECT_GE(w[r * k + j - 1], w[r * k + j]);
      kept += w[r * k + j];
    }
    if (r < 3) EXPECT_LT(kept, 0.9999);  // not renormalised to 1
  }
  EXPECT_EQ(ids[3 * k + 0], 1);
  EXPECT_EQ(ids[3 * k + 1], 4);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, Ops, ::testing::ValuesIn(ops::all_backends()),
                         [](const auto& info) { return std::string(info.param->name); });

TEST(Half, RoundTripsAndRounding) {
  for (float v : {0.0f, 1.0f, -2.5f, 3.14159f, 65504.0f, 6.1e-5f, 1e-7f}) {
    EXPECT_NEAR(f16_to_f32(f32_to_f16(v)), v, std::fabs(v) * 1e-3 + 6e-8) << v;
    EXPECT_NEAR(bf16_to_f32(f32_to_bf16(v)), v, std::fabs(v) * 8e-3) << v;
  }
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);           // overflow to inf
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // ties to even
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
}

}  // namespace
}  // namespace jamba
