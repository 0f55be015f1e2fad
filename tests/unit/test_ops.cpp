// Every op of every backend (ref, cpu, and each lower instruction set the CPU backend can run
// here) against plain double-precision formulas written out here, on random inputs with odd
// sizes (vector tails, tile tails, several threads); plus the cache-carry property of the
// sequence ops (running in chunks with the state carried equals one run, bit for bit).
//
// Tolerances. Every backend computes in fp32 from weights converted exactly (bf16/f16 -> fp32 is
// exact), so the error is fp32 rounding of sums: 1e-5 relative, measured against max(|want|, 1)
// for the small ops and, for matmul, against max(|want|, ||x_i * w_j||_2): a dot product of k
// terms whose sum cancels to near 0 still carries rounding of the order of its terms' size
// (fp32 summation error grows like sqrt(k) * 6e-8 * that norm, ~2e-6 at k = 1000). The fast
// exp (< 3e-7 relative, FastExp below) and log enter the conv, scan, softplus and attention well
// inside 1e-5. A NaN or inf never passes: every check asserts finiteness first.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/error.h"
#include "base/half.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/cpu/kernels.h"
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
  // Every combination of these (vector and k-block tails, the few-rows (decode) and many-rows
  // (12-row tiles) paths and their tails, one thread and several), plus a few shapes spanning
  // several 256 x 256 panels.
  std::vector<std::tuple<int, int, int>> shapes;
  for (int m : {1, 2, 7, 8, 64})
    for (int n : {1, 5, 33, 130})
      for (int k : {1, 3, 17, 257, 1000}) shapes.emplace_back(m, n, k);
  shapes.insert(shapes.end(), {{13, 300, 300}, {25, 520, 600}, {3, 600, 520}});
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    // cpu-bf16 multiplies bf16 weights by the activations rounded to bf16: exact products, fp32
    // sums. So it must match the formula on rounded x to fp32 rounding (1e-5), and the formula
    // on x itself to the rounding of x: bf16 keeps 8 significant bits, so each term is off by at
    // most 2^-8 of itself, the sum by at most 2^-8 * sum |x w| (typically ~2^-8/sqrt(3) = 2.3e-3
    // of ||x * w||: printed below).
    const bool rounds_x = std::string(be.name) == "cpu-bf16" && dtype == DType::BF16;
    double worst = 0, worst_vs_exact = 0;
    for (auto [m, n, k] : shapes) {
      StoredWeight w = make_weight(dtype, n, k, 7 + m + n + k);
      const auto x = random_floats(m * k, 11 + n + k);
      const auto bias = random_floats(n, 13);
      const bool with_bias = (m + n + k) % 2 == 0;
      std::vector<float> y(m * n, NAN);
      be.matmul(x.data(), m, w.view, with_bias ? bias.data() : nullptr, y.data());
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double acc = with_bias ? bias[j] : 0.0, acc_rounded = acc, norm_sq = 0, abs_sum = 0;
          for (int t = 0; t < k; ++t) {
            const double term = double(x[i * k + t]) * w.exact[j * k + t];
            acc += term;
            acc_rounded += double(bf16_to_f32(f32_to_bf16(x[i * k + t]))) * w.exact[j * k + t];
            norm_sq += term * term;
            abs_sum += std::fabs(term);
          }
          const double want = rounds_x ? acc_rounded : acc;
          const double got = y[i * n + j], scale = std::max(std::fabs(want), std::sqrt(norm_sq));
          ASSERT_TRUE(std::isfinite(got)) << dtype_name(dtype) << " m " << m << " n " << n << " k " << k;
          ASSERT_NEAR(got, want, 1e-5 * scale)
              << dtype_name(dtype) << " m " << m << " n " << n << " k " << k << " at " << i << "," << j;
          worst = std::max(worst, std::fabs(got - want) / scale);
          if (rounds_x) {
            ASSERT_NEAR(got, acc, std::ldexp(abs_sum, -8) + 1e-5 * scale) << "vs exact x: m " << m << " n " << n;
            worst_vs_exact = std::max(worst_vs_exact, std::fabs(got - acc) / scale);
          }
        }
    }
    std::printf("[ %s ] matmul %s: worst error %.2g of max(|y|, ||x*w||)", be.name, dtype_name(dtype), worst);
    if (rounds_x) std::printf(" (vs bf16-rounded x; %.2g vs x itself)", worst_vs_exact);
    std::printf("\n");
  }
}

// Weight-only quantized matrices (Q8 per row, Q4 in groups of 32 / 64): every backend must
// compute with exactly the dequantized values float(q) * scale, so the tolerance is the float
// formats' one (1e-5 of max(|y|, ||x * w||)), measured against a double-precision dot product
// of those values. Random q over the whole range, scales of several magnitudes.
struct QuantWeight {
  std::vector<int8_t> q8;
  std::vector<uint8_t> q4;
  std::vector<float> scales, exact;
  TensorView view;
};

QuantWeight make_quant_weight(DType dtype, int64_t n, int64_t k, int64_t group, uint32_t seed) {
  QuantWeight w;
  const auto r = random_floats(n * k, seed);
  const auto s = random_floats(n * (group ? k / group : 1) + 1, seed + 1);
  w.scales.resize(n * (group ? k / group : 1));
  for (size_t i = 0; i < w.scales.size(); ++i) w.scales[i] = (0.001f + std::fabs(s[i])) * (i % 3 == 0 ? 0.01f : 1.0f);
  w.exact.resize(n * k);
  if (dtype == DType::Q8) {
    w.q8.resize(n * k);
    for (int64_t i = 0; i < n * k; ++i) {
      w.q8[i] = static_cast<int8_t>(std::clamp<long>(std::lround(r[i] * 127.0f), -127, 127));
      w.exact[i] = static_cast<float>(w.q8[i]) * w.scales[i / k];
    }
    w.view = {DType::Q8, {n, k}, w.q8.data(), Device::CPU, w.scales.data(), 0};
  } else {
    w.q4.assign(n * k / 2, 0);
    for (int64_t i = 0; i < n * k; ++i) {
      const int q = static_cast<int>(std::clamp<long>(std::lround(r[i] * 8.0f), -8, 7));
      w.q4[i / 2] |= static_cast<uint8_t>((q + 8) << (i % 2 ? 4 : 0));
      const int64_t row = i / k, col = i % k;
      w.exact[i] = static_cast<float>(q) * w.scales[row * (k / group) + col / group];
    }
    w.view = {DType::Q4, {n, k}, w.q4.data(), Device::CPU, w.scales.data(), group};
  }
  return w;
}

TEST_P(Ops, MatmulQuantizedWeightsOddSizes) {
  const ops::Backend& be = *GetParam();
  struct Case {
    DType dtype;
    int64_t group;
  };
  for (Case c : {Case{DType::Q8, 0}, Case{DType::Q4, 32}, Case{DType::Q4, 64}}) {
    std::vector<std::tuple<int, int, int>> shapes;
    for (int m : {1, 3, 7, 13})
      for (int n : {1, 5, 33, 130})
        for (int k : c.dtype == DType::Q8 ? std::vector<int>{1, 3, 17, 257, 1000} : std::vector<int>{64, 192, 576})
          shapes.emplace_back(m, n, k);
    shapes.insert(shapes.end(), {{25, 520, 640}, {3, 600, 512}});
    double worst = 0;
    for (auto [m, n, k] : shapes) {
      QuantWeight w = make_quant_weight(c.dtype, n, k, c.group, 5 + m + n + k);
      const auto x = random_floats(m * k, 17 + n + k);
      const auto bias = random_floats(n, 19);
      const bool with_bias = (m + n) % 2 == 0;
      std::vector<float> y(m * n, NAN);
      be.matmul(x.data(), m, w.view, with_bias ? bias.data() : nullptr, y.data());
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double acc = with_bias ? bias[j] : 0.0, norm_sq = 0;
          for (int t = 0; t < k; ++t) {
            const double term = double(x[i * k + t]) * w.exact[j * k + t];
            acc += term;
            norm_sq += term * term;
          }
          const double got = y[i * n + j], scale = std::max({std::fabs(acc), std::sqrt(norm_sq), 1e-30});
          ASSERT_TRUE(std::isfinite(got)) << dtype_name(c.dtype) << " m " << m << " n " << n << " k " << k;
          ASSERT_NEAR(got, acc, 1e-5 * scale) << dtype_name(c.dtype) << " g" << c.group << " m " << m << " n " << n
                                              << " k " << k << " at " << i << "," << j;
          worst = std::max(worst, std::fabs(got - acc) / scale);
        }
    }
    std::printf("[ %s ] matmul %s group %lld: worst error %.2g of max(|y|, ||x*w||)\n", be.name, dtype_name(c.dtype),
                static_cast<long long>(c.group), worst);
  }
}

TEST_P(Ops, MatmulRejectsBrokenQuantizedViews) {
  const ops::Backend& be = *GetParam();
  const std::vector<uint8_t> bytes(64, 0x88);
  const std::vector<float> scales(4, 1.0f), x(64, 1.0f);
  std::vector<float> y(2);
  const TensorView no_scales{DType::Q8, {2, 32}, bytes.data()};
  EXPECT_THROW(be.matmul(x.data(), 1, no_scales, nullptr, y.data()), Error);
  const TensorView bad_group{DType::Q4, {2, 64}, bytes.data(), Device::CPU, scales.data(), 48};
  EXPECT_THROW(be.matmul(x.data(), 1, bad_group, nullptr, y.data()), Error);
}

// The thread count and the way a matmul's rows are cut into calls do not change results within
// each kernel of a backend: the cpu backend has one for decode (m <= 4 rows: dot products along
// k) and one for prefill (m > 4: vectorised across outputs), whose orders of summation differ by
// fp32 rounding. So chunked prefill in chunks of > 4 rows and one-shot prefill give the same
// bits, decode steps the same bits whatever the threads, and the two agree to fp32 rounding
// (tests/parity checks the model-level consequence to 1e-5).
TEST_P(Ops, MatmulRowsAndThreadsDoNotChangeResults) {
  const ops::Backend& be = *GetParam();
  const int m = 64, n = 300;
  const int default_threads = omp_get_max_threads();
  // Every weight format, each decoded by its own row reader on both kernels; k = 704 for the
  // quantized ones (a multiple of int4's group of 64), 700 (a partial last vector) for the others.
  for (DType dtype : {DType::F32, DType::BF16, DType::F16, DType::Q8, DType::Q4}) {
    const bool quantized = dtype == DType::Q8 || dtype == DType::Q4;
    const int k = quantized ? 704 : 700;
    StoredWeight sw;
    QuantWeight qw;
    if (quantized)
      qw = make_quant_weight(dtype, n, k, dtype == DType::Q4 ? 64 : 0, 3);
    else
      sw = make_weight(dtype, n, k, 3);
    const TensorView view = quantized ? qw.view : sw.view;
    const auto x = random_floats(m * k, 4), bias = random_floats(n, 5);
    std::vector<float> all(m * n), pieces(m * n), one_thread(m * n), decode(m * n), decode_rows(4 * n);
    be.matmul(x.data(), m, view, bias.data(), all.data());
    for (int i = 0; i < m;) {  // prefill in chunks of 5 to 7 rows
      const int rows = std::min(m - i, 5 + i % 3);
      if (rows <= 4) break;  // the last few rows: covered by `all`
      be.matmul(x.data() + i * k, rows, view, bias.data(), pieces.data() + i * n);
      i += rows;
      if (i >= m - 4) {
        std::copy(all.begin() + i * n, all.end(), pieces.begin() + i * n);
        break;
      }
    }
    EXPECT_EQ(pieces, all) << dtype_name(dtype);
    for (int i = 0; i < m; ++i) be.matmul(x.data() + i * k, 1, view, bias.data(), decode.data() + i * n);
    be.matmul(x.data(), 4, view, bias.data(), decode_rows.data());  // 4 rows at once, as 4 single ones
    EXPECT_TRUE(std::equal(decode_rows.begin(), decode_rows.end(), decode.begin())) << dtype_name(dtype);
    for (int threads : {1, 3}) {
      omp_set_num_threads(threads);
      be.matmul(x.data(), m, view, bias.data(), one_thread.data());
      EXPECT_EQ(one_thread, all) << dtype_name(dtype) << " threads " << threads;
      be.matmul(x.data(), 1, view, bias.data(), one_thread.data());
      EXPECT_TRUE(std::equal(decode.begin(), decode.begin() + n, one_thread.begin()))
          << dtype_name(dtype) << " one row, threads " << threads;
    }
    omp_set_num_threads(default_threads);
    // The two kernels agree to fp32 rounding: the matmul tolerance, 1e-5 of ||x_i * w_j||.
    const std::vector<float>& exact = quantized ? qw.exact : sw.exact;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double norm_sq = 0;
        for (int t = 0; t < k; ++t) norm_sq += std::pow(double(x[i * k + t]) * exact[j * k + t], 2);
        ASSERT_NEAR(decode[i * n + j], all[i * n + j], 1e-5 * std::sqrt(norm_sq)) << dtype_name(dtype) << " " << i;
      }
  }
}

TEST_P(Ops, MatmulRejectsWeightsItCannotRead) {
  const ops::Backend& be = *GetParam();
  const std::vector<int32_t> ints(6, 1);
  const TensorView w{DType::I32, {2, 3}, ints.data()};
  const std::vector<float> x(3, 1.0f);
  std::vector<float> y(2);
  EXPECT_THROW(be.matmul(x.data(), 1, w, nullptr, y.data()), Error);
}

TEST_P(Ops, RmsnormAndSiluMul) {
  const ops::Backend& be = *GetParam();
  for (auto [rows, n] : {std::pair{5, 37}, {1, 1}, {3, 16}, {2, 1000}, {70, 1024}}) {
    const auto x = random_floats(rows * n, 1 + n, 3.0f), w = random_floats(n, 2), up = random_floats(rows * n, 3);
    std::vector<float> y(rows * n, NAN);
    be.rmsnorm(x.data(), rows, n, w.data(), 1e-5f, y.data());
    std::vector<double> want(rows * n);
    for (int r = 0; r < rows; ++r) {
      double ss = 0;
      for (int i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
      for (int i = 0; i < n; ++i) want[r * n + i] = w[i] * x[r * n + i] / std::sqrt(ss / n + 1e-5);
    }
    expect_near_all(y, want, 1e-5, "rmsnorm");
    std::vector<float> in_place = x;  // x and y may alias
    be.rmsnorm(in_place.data(), rows, n, w.data(), 1e-5f, in_place.data());
    EXPECT_EQ(in_place, y);
  }
  for (int n : {1, 7, 37, 100000}) {
    auto gate = random_floats(n, 4, 4.0f);
    const auto up = random_floats(n, 5);
    if (n > 2) gate[0] = -100.0f, gate[1] = 100.0f;  // e^100 overflows inside the sigmoid
    std::vector<float> y(n, NAN);
    be.silu_mul(gate.data(), up.data(), n, y.data());
    std::vector<double> want(n);
    for (int i = 0; i < n; ++i) want[i] = silu(gate[i]) * up[i];
    expect_near_all(y, want, 1e-5, "silu_mul");
  }
}

TEST_P(Ops, SoftplusFollowsTorchThreshold) {
  const ops::Backend& be = *GetParam();
  std::vector<float> x = {-120.0f, -30.0f, -1.0f, 0.0f, 1e-6f, -1e-6f, 0.5f, 19.9f, 20.0f, 20.5f, 80.0f};
  for (int i = 0; i <= 40000; ++i) x.push_back(-40.0f + i * 0.0015f);  // threaded, every tail
  std::vector<float> y(x.size(), NAN);
  be.softplus(x.data(), x.size(), y.data());
  std::vector<double> want;
  for (float v : x) want.push_back(v > 20.0f ? v : std::log1p(std::exp(double(v))));
  expect_near_all(y, want, 1e-6, "softplus");
  // Relative accuracy where softplus is tiny but normal (delta ~ e^x for very negative x).
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] < -5 && x[i] > -80) {
      ASSERT_NEAR(y[i], want[i], 1e-5 * want[i]) << x[i];
    }
}

TEST_P(Ops, CausalConvMatchesFormulaAndCarriesState) {
  const ops::Backend& be = *GetParam();
  for (auto [K, C] : {std::pair{2, 9}, {3, 9}, {4, 9}, {5, 9}, {1, 5}, {4, 1}, {4, 17}, {4, 100}, {4, 4099}}) {
    const int T = 11;
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
      EXPECT_EQ(parts, one) << "K " << K << " C " << C << " chunk " << chunk;
    }
  }
}

TEST_P(Ops, SelectiveScanMatchesFormulaAndCarriesState) {
  const ops::Backend& be = *GetParam();
  for (auto [T, Di, N] : {std::tuple{13, 7, 5}, {13, 33, 16}, {9, 16, 8}, {1, 100, 16}, {40, 130, 16}, {5, 3, 1},
                          {6, 20, 3}, {7, 1100, 16}}) {
    const auto u = random_floats(T * Di, 1), B = random_floats(T * N, 2), C = random_floats(T * N, 3);
    const auto D = random_floats(Di, 4), z = random_floats(T * Di, 5), s0 = random_floats(Di * N, 6);
    auto delta = random_floats(T * Di, 7);
    for (float& d : delta) d = std::log1p(std::exp(d));  // positive step sizes
    auto A = random_floats(Di * N, 8);
    for (float& a : A) a = -std::exp(a);
    std::vector<float> state = s0, y(T * Di, NAN);
    be.selective_scan(u.data(), delta.data(), A.data(), B.data(), C.data(), D.data(), z.data(), T, Di, N,
                      state.data(), y.data());
    std::vector<double> s(s0.begin(), s0.end()), want(T * Di);
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < Di; ++c) {
        double out = 0;
        for (int n = 0; n < N; ++n) {
          double& sv = s[c * N + n];
          sv = std::exp(double(delta[t * Di + c]) * A[c * N + n]) * sv +
               double(delta[t * Di + c]) * B[t * N + n] * u[t * Di + c];
          out += sv * C[t * N + n];
        }
        want[t * Di + c] = (out + double(D[c]) * u[t * Di + c]) * silu(z[t * Di + c]);
      }
    SCOPED_TRACE(testing::Message() << "T " << T << " Di " << Di << " N " << N);
    expect_near_all(y, want, 1e-5, "scan");
    expect_near_all(state, s, 1e-5, "final state");
    for (int chunk : {1, 4}) {
      std::vector<float> st = s0, parts(T * Di);
      for (int t = 0; t < T; t += chunk) {
        const int n = std::min(chunk, T - t);
        be.selective_scan(u.data() + t * Di, delta.data() + t * Di, A.data(), B.data() + t * N, C.data() + t * N,
                          D.data(), z.data() + t * Di, n, Di, N, st.data(), parts.data() + t * Di);
      }
      EXPECT_EQ(parts, y) << "chunk " << chunk;
      EXPECT_EQ(st, state) << "chunk " << chunk;
    }
  }
}

TEST_P(Ops, CausalAttentionGqaWithCachedPrefix) {
  const ops::Backend& be = *GetParam();
  struct Shape {
    int nh, nkv, hd, P, T;
  };
  // GQA / MQA / MHA; head sizes with vector tails; prefill blocks; decode over a long cache
  // (split into key chunks and merged).
  for (Shape sh : {Shape{6, 2, 5, 4, 3}, {3, 1, 5, 4, 3}, {4, 4, 5, 4, 3}, {8, 2, 64, 0, 37}, {4, 1, 130, 9, 20},
                   {8, 2, 16, 1500, 1}, {2, 1, 33, 1100, 3}, {32, 8, 128, 700, 1}, {1, 1, 1, 0, 1}}) {
    const int nh = sh.nh, nkv = sh.nkv, hd = sh.hd, P = sh.P, T = sh.T, L = P + T;
    const auto q = random_floats(T * nh * hd, nh), k = random_floats(L * nkv * hd, 2 * nh), v = random_floats(L * nkv * hd, 3 * nh);
    const float scale = 1.0f / std::sqrt(float(hd));
    std::vector<float> out(T * nh * hd, NAN);
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
    SCOPED_TRACE(testing::Message() << "nh " << nh << " nkv " << nkv << " hd " << hd << " P " << P << " T " << T);
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
      if (j > 0) {
        EXPECT_GE(w[r * k + j - 1], w[r * k + j]);
      }
      kept += w[r * k + j];
    }
    if (r < 3) {
      EXPECT_LT(kept, 0.9999);  // not renormalised to 1
    }
  }
  EXPECT_EQ(ids[3 * k + 0], 1);
  EXPECT_EQ(ids[3 * k + 1], 4);
  // Many rows (threaded) pick exactly the reference's experts.
  const int many = 5000, E16 = 16, k2 = 2;
  const auto big = random_floats(many * E16, 10, 2.0f);
  std::vector<int32_t> got_ids(many * k2), ref_ids(many * k2);
  std::vector<float> got_w(many * k2), ref_w(many * k2);
  be.moe_route(big.data(), many, E16, k2, got_ids.data(), got_w.data());
  ops::reference_backend().moe_route(big.data(), many, E16, k2, ref_ids.data(), ref_w.data());
  EXPECT_EQ(got_ids, ref_ids);
  for (int i = 0; i < many * k2; ++i) ASSERT_NEAR(got_w[i], ref_w[i], 1e-6);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, Ops, ::testing::ValuesIn(ops::all_backends()), [](const auto& info) {
  std::string name = info.param->name;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
});

TEST(CpuBackend, IsRegisteredWithEveryInstructionSetThisCpuHas) {
  EXPECT_STREQ(ops::backend_by_name("cpu").name, "cpu");
  EXPECT_STREQ(ops::backend_by_name("ref").name, "ref");
  for (ops::CpuIsa isa : ops::kAllCpuIsas) {
    const std::string name = std::string("cpu-") + ops::cpu_isa_name(isa);
    if (ops::cpu_isa_supported(isa))
      EXPECT_EQ(ops::backend_by_name(name).name, name);
    else
      EXPECT_THROW(ops::backend_by_name(name), Error);
  }
  EXPECT_TRUE(ops::cpu_isa_supported(ops::CpuIsa::Generic));
  EXPECT_THROW(ops::backend_by_name("gpu"), Error);
}

// The kernels' exp against fp64 over the whole fp32 range, in every build this CPU can run.
TEST(CpuBackend, FastExp) {
  std::vector<float> x;
  for (double v = -87.0; v < 88.7; v += 1.7e-4) x.push_back(float(v));
  for (float v : {-1e-30f, 0.0f, 1e-30f, 1.0f, -1.0f}) x.push_back(v);
  const std::vector<float> special = {-INFINITY, -1000.0f, -104.0f, 89.0f, 100.0f, INFINITY, NAN};
  for (ops::CpuIsa isa : ops::kAllCpuIsas) {
    if (!ops::cpu_isa_supported(isa)) continue;
    const ops::cpu::Kernels& kt = *(isa == ops::CpuIsa::Avx512 ? ops::cpu::avx512_kernels()
                                    : isa == ops::CpuIsa::Avx2 ? ops::cpu::avx2_kernels()
                                                               : ops::cpu::generic_kernels());
    std::vector<float> y(x.size());
    kt.exp(x.data(), x.size(), y.data());
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(double(x[i]));
      if (want < 1.2e-38) continue;  // below the normal range the AVX2 build flushes to 0
      worst = std::max(worst, std::fabs(y[i] - want) / want);
    }
    std::printf("[ %s ] fast exp: worst relative error %.3g over %zu points\n", kt.isa, worst, x.size());
    EXPECT_LT(worst, 3e-7) << kt.isa;
    std::vector<float> ys(special.size());
    kt.exp(special.data(), special.size(), ys.data());
    EXPECT_EQ(ys[0], 0.0f);
    EXPECT_EQ(ys[1], 0.0f);
    EXPECT_LT(ys[2], 1e-44f);
    EXPECT_EQ(ys[3], INFINITY);
    EXPECT_EQ(ys[4], INFINITY);
    EXPECT_EQ(ys[5], INFINITY);
    EXPECT_TRUE(std::isnan(ys[6]));
  }
}

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
