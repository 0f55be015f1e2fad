// Every CUDA op against the scalar reference (src/ops/ref) on random inputs of odd sizes, plus
// the ops beyond the table (decode steps with state slots, fused softplus, MoE grouping and the
// whole MoE FFN). One line per case, a summary, exit 0 only if every case passed (77 when there
// is no GPU). Flags: --quick (small cases only, for compute-sanitizer), --filter TEXT (cases whose
// name contains TEXT), --verbose (print the worst elements of passing cases too).
//
// Tolerances (a case fails if any element misses, or any value is NaN/inf):
//  matmul, bound per output y_ij with S_ij = Σ_t |x_it·w_jt| + |b_j|:
//    exact (GEMV, fp32 cuBLASLt, bf16x3, SIMT)  |Δ| ≤ 2^-20·S            (fp32 accumulation)
//    fast BF16 (x rounded to bf16)              |Δ| ≤ (2^-8 + 2^-20)·S    (|x - bf16(x)| ≤ 2^-8|x|)
//    fast F16                                   |Δ| ≤ (2^-11 + 2^-20)·S + k·2^-25·max|w|
//    fast F32 = TF32 (x and w lose ≤ 2^-11 each) |Δ| ≤ (2^-9 + 2^-20)·S
//  other ops: |Δ| ≤ atol + rtol·|ref| with rtol = 1e-5 (fp32 paths: a few ulp per step against the
//  reference's fp64 sums) and atol per op (stated in each case's line).
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/ops.h"

using namespace jamba;
using jamba::cuda::MatmulPrecision;

namespace {

const ops::Backend& ref() { return ops::reference_backend(); }

bool g_quick = false, g_verbose = false;
std::string g_filter;
int g_pass = 0, g_fail = 0, g_skip = 0;
std::vector<std::string> g_failed;

#define CK(expr)                                                                                       \
  do {                                                                                                 \
    cudaError_t e_ = (expr);                                                                           \
    if (e_ != cudaSuccess) fail("CUDA ", cudaGetErrorName(e_), ": ", cudaGetErrorString(e_), " in ", #expr); \
  } while (0)

// ---------------------------------------------------------------------------------------------
struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  std::vector<float> vec(int64_t n, float lo, float hi) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
};

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  Dev() = default;
  // Fresh buffers hold all-ones bytes (NaN for floats, -1 for ints), so an element an op forgets
  // to write fails the comparison.
  explicit Dev(size_t count) : n(count) {
    CK(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)));
    CK(cudaMemset(p, 0xff, std::max<size_t>(count, 1) * sizeof(T)));
  }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { upload(h); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() {
    if (p) cudaFree(p);
  }
  void upload(const std::vector<T>& h) { CK(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> download() const {
    std::vector<T> h(n);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

// ---------------------------------------------------------------------------------------------
// Comparison.
struct Stats {
  bool ok = true;
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0, max_abs = 0, max_rel = 0;
  std::string first_bad;
};

// Bound per element: bound(i). ratio = |got - want| / bound (NaN/inf fails).
Stats compare(const std::vector<float>& got, const std::vector<double>& want,
              const std::function<double(size_t)>& bound) {
  Stats s;
  if (got.size() != want.size()) {
    s.ok = false;
    s.first_bad = cat("size ", got.size(), " != ", want.size());
    return s;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const double err = std::fabs(g - w);
    const double b = bound(i);
    // err == 0 passes even a zero bound (exact checks); a non-finite value never passes.
    const double ratio = !std::isfinite(g) ? INFINITY : (err == 0 ? 0.0 : err / b);
    if (std::isfinite(err)) {
      s.max_abs = std::max(s.max_abs, err);
      s.max_rel = std::max(s.max_rel, err / std::max(std::fabs(w), 1e-30));
    }
    if (!(ratio <= 1.0)) {  // NaN compares false: never passes
      if (s.bad == 0) s.first_bad = cat("index ", i, ": got ", g, " want ", w, " |err| ", err, " bound ", b);
      ++s.bad;
      s.ok = false;
    }
    if (!(ratio <= s.worst_ratio)) s.worst_ratio = ratio, s.worst = static_cast<int64_t>(i);
  }
  return s;
}

Stats compare_tol(const std::vector<float>& got, const std::vector<double>& want, double atol, double rtol) {
  return compare(got, want, [&](size_t i) { return atol + rtol * std::fabs(want[i]); });
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

struct Case {
  std::string name;
  std::vector<std::pair<std::string, Stats>> checks;
  std::string note;
};

void report(const Case& c) {
  bool ok = true;
  for (auto& [what, s] : c.checks) ok = ok && s.ok;
  std::string line = cat(ok ? "PASS " : "FAIL ", c.name);
  for (auto& [what, s] : c.checks) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " | %s: max_abs %.3g max_rel %.3g worst/bound %.3g", what.c_str(), s.max_abs,
                  s.max_rel, s.worst_ratio);
    line += buf;
  }
  if (!c.note.empty()) line += " | " + c.note;
  std::printf("%s\n", line.c_str());
  for (auto& [what, s] : c.checks)
    if (!s.ok || g_verbose) std::printf("      %s: %lld bad, first %s\n", what.c_str(), static_cast<long long>(s.bad),
                                        s.first_bad.empty() ? "-" : s.first_bad.c_str());
  if (ok)
    ++g_pass;
  else
    ++g_fail, g_failed.push_back(c.name);
  std::fflush(stdout);
}

// Runs one case: filters, catches errors (a thrown error is a failure with its message), and
// checks that the device is still healthy afterwards.
void run_case(const std::string& name, bool heavy, const std::function<void(Case&)>& body) {
  if (!g_filter.empty() && name.find(g_filter) == std::string::npos) return;
  if (g_quick && heavy) {
    ++g_skip;
    return;
  }
  Case c;
  c.name = name;
  try {
    body(c);
    CK(cudaDeviceSynchronize());
  } catch (const std::exception& e) {
    std::printf("FAIL %s | threw: %s\n", name.c_str(), e.what());
    ++g_fail;
    g_failed.push_back(name);
    cudaError_t sticky = cudaDeviceSynchronize();
    if (sticky != cudaSuccess) {
      std::printf("FATAL: the device is in error state (%s); stopping.\n", cudaGetErrorString(sticky));
      std::printf("SUMMARY: %d passed, %d failed, %d skipped — FAILED\n", g_pass, g_fail, g_skip);
      std::exit(1);
    }
    return;
  }
  report(c);
}

// ---------------------------------------------------------------------------------------------
// matmul.
struct HostWeight {
  std::vector<float> f32;        // stored values (F32), the fp32 values the halves round to, or q·scale (Q8)
  std::vector<uint16_t> half;    // F16/BF16 bits
  std::vector<int8_t> q;         // Q8 integers
  std::vector<float> scales;     // Q8 per-row scales
  TensorView host_view() const {
    TensorView v;
    v.dtype = dtype;
    v.shape = {n, k};
    v.data = dtype == DType::F32 ? static_cast<const void*>(f32.data())
             : dtype == DType::Q8 ? static_cast<const void*>(q.data())
                                  : half.data();
    if (dtype == DType::Q8) v.scales = scales.data();
    return v;
  }
  DType dtype;
  int64_t n, k;
};

HostWeight make_weight(Rng& rng, DType dtype, int64_t n, int64_t k, float scale = 1.0f) {
  HostWeight w;
  w.dtype = dtype, w.n = n, w.k = k;
  w.f32 = rng.vec(n * k, -scale, scale);
  if (dtype == DType::Q8) {  // integers over the whole int8 range, a different scale per row
    w.q.resize(w.f32.size());
    w.scales = rng.vec(n, 0.25f * scale / 127, scale / 127);
    for (size_t i = 0; i < w.f32.size(); ++i) {
      w.q[i] = static_cast<int8_t>(std::lround(rng.uniform(-127.4f, 127.4f)));
      w.f32[i] = static_cast<float>(w.q[i]) * w.scales[i / static_cast<size_t>(k)];
    }
  } else if (dtype != DType::F32) {
    w.half.resize(w.f32.size());
    for (size_t i = 0; i < w.f32.size(); ++i) {
      w.half[i] = dtype == DType::BF16 ? f32_to_bf16(w.f32[i]) : f32_to_f16(w.f32[i]);
      w.f32[i] = dtype == DType::BF16 ? bf16_to_f32(w.half[i]) : f16_to_f32(w.half[i]);
    }
  }
  return w;
}

// The weight on the device (raw storage bits), and its view.
struct DevWeight {
  Dev<float> f32;
  Dev<uint16_t> half;
  Dev<int8_t> q;
  Dev<float> scales;
  TensorView view;
  explicit DevWeight(const HostWeight& h)
      : f32(h.dtype == DType::F32 ? h.f32.size() : 0), half(h.half.size()), q(h.q.size()), scales(h.scales.size()) {
    if (h.dtype == DType::F32) f32.upload(h.f32);
    if (!h.half.empty()) half.upload(h.half);
    if (!h.q.empty()) q.upload(h.q), scales.upload(h.scales);
    view.dtype = h.dtype;
    view.shape = {h.n, h.k};
    view.data = h.dtype == DType::F32 ? static_cast<const void*>(f32.p)
                : h.dtype == DType::Q8 ? static_cast<const void*>(q.p)
                                       : half.p;
    if (h.dtype == DType::Q8) view.scales = scales.p;
    view.device = Device::CUDA;
  }
};

const char* matmul_path(DType dt, MatmulPrecision p, int64_t m) {
  if (m <= (p == MatmulPrecision::kExact ? 8 : 2)) return "gemv";
  if (dt == DType::F32) return p == MatmulPrecision::kExact ? "cublasLt-fp32" : "cublasLt-tf32";
  if (p == MatmulPrecision::kExact) return dt == DType::BF16 ? "cublasLt-bf16x3" : "simt-fp32";
  if (dt == DType::Q8) return "dequant-bf16 + cublasLt-bf16";
  return dt == DType::BF16 ? "cublasLt-bf16" : "cublasLt-f16";
}

void test_matmul(cuda::Context& ctx, DType dt, MatmulPrecision prec, int64_t m, int64_t n, int64_t k, bool with_bias,
                 uint64_t seed) {
  const std::string name = cat("matmul ", dtype_name(dt), " ", cuda::precision_name(prec), " m=", m, " n=", n,
                               " k=", k, with_bias ? " +bias" : "", " [", matmul_path(dt, prec, m), "]");
  const bool heavy = m * n * k > (int64_t{1} << 22);
  run_case(name, heavy, [&](Case& c) {
    Rng rng(seed);
    const HostWeight w = make_weight(rng, dt, n, k);
    const auto x = rng.vec(m * k, -1, 1);
    const auto bias = rng.vec(n, -1, 1);
    std::vector<float> want(static_cast<size_t>(m * n));
    ref().matmul(x.data(), m, w.host_view(), with_bias ? bias.data() : nullptr, want.data());
    // S_ij = Σ|x w| + |b|.
    std::vector<double> S(static_cast<size_t>(m * n));
    double max_w = 0;
    for (float v : w.f32) max_w = std::max(max_w, double(std::fabs(v)));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = with_bias ? std::fabs(bias[j]) : 0.0;
        for (int64_t t = 0; t < k; ++t) s += std::fabs(double(x[i * k + t]) * w.f32[j * k + t]);
        S[i * n + j] = s;
      }
    double c_rel = std::ldexp(1.0, -20), c_abs = 0;
    if (prec == MatmulPrecision::kFast && m > 2) {
      // bf16 keeps 8 significant bits: rounding x moves it by at most 2^-8 of its value.
      if (dt == DType::BF16) c_rel += std::ldexp(1.0, -8);
      // Q8 fast: x and the dequantized weight q·s are each rounded to bf16.
      if (dt == DType::Q8) c_rel += 2 * std::ldexp(1.0, -8) + std::ldexp(1.0, -16);
      if (dt == DType::F32) c_rel += std::ldexp(1.0, -9);  // TF32: x and w each lose <= 2^-11
      if (dt == DType::F16) c_rel += std::ldexp(1.0, -11), c_abs = k * std::ldexp(1.0, -25) * max_w;
    }
    DevWeight dw(w);
    Dev<float> dx(x), db(bias), dy(static_cast<size_t>(m * n));
    cuda::matmul(ctx, dx.p, m, dw.view, with_bias ? db.p : nullptr, dy.p, prec);
    const auto got = dy.download();
    c.checks.push_back({"y", compare(got, widen(want), [&](size_t i) { return c_rel * S[i] + c_abs + 1e-30; })});
    c.note = cat("bound ", c_rel, "·S", c_abs > 0 ? cat(" + ", c_abs) : "");
  });
}

// ---------------------------------------------------------------------------------------------
// The forward's glue: the residual add, the embedding gather, the column split. Exact copies
// and one fp32 add each, so they must equal the host computation bit for bit.
void test_glue(cuda::Context& ctx, DType dt, int64_t rows, int64_t V, int64_t H, uint64_t seed) {
  run_case(cat("embed_rows/add_into/copy_columns ", dtype_name(dt), " rows=", rows, " V=", V, " H=", H), false,
           [&](Case& c) {
             Rng rng(seed);
             const HostWeight table = make_weight(rng, dt, V, H);
             std::vector<int32_t> ids(static_cast<size_t>(rows));
             for (auto& id : ids) id = static_cast<int32_t>(rng.gen() % static_cast<uint64_t>(V));
             std::vector<float> want(static_cast<size_t>(rows * H));
             for (int64_t r = 0; r < rows; ++r) load_row(table.host_view(), ids[r], want.data() + r * H);
             DevWeight dtable(table);
             Dev<int32_t> did(ids);
             Dev<float> emb(static_cast<size_t>(rows * H));
             cuda::embed_rows(ctx, dtable.view, did.p, rows, emb.p);
             c.checks.push_back({"embed", compare(emb.download(), widen(want), [](size_t) { return 0.0; })});

             const auto acc = rng.vec(rows * H, -1, 1), x = rng.vec(rows * H, -1, 1);
             std::vector<float> sum(acc.size());
             for (size_t i = 0; i < sum.size(); ++i) sum[i] = acc[i] + x[i];
             Dev<float> dacc(acc), dx(x);
             cuda::add_into(ctx, dacc.p, dx.p, rows * H);
             c.checks.push_back({"add", compare(dacc.download(), widen(sum), [](size_t) { return 0.0; })});

             const int64_t first = H / 3, cols = H - first - H / 5;
             std::vector<float> part(static_cast<size_t>(rows * cols));
             for (int64_t r = 0; r < rows; ++r)
               for (int64_t j = 0; j < cols; ++j) part[r * cols + j] = x[r * H + first + j];
             Dev<float> dpart(part.size());
             cuda::copy_columns(ctx, dx.p, rows, H, first, cols, dpart.p);
             c.checks.push_back({"columns", compare(dpart.download(), widen(part), [](size_t) { return 0.0; })});
           });
}

// The fused glue against the unfused reference ops: add + rmsnorm, the three-way split norm of
// x_proj's output, silu(gate)·up over stacked halves. fp32 sums in another order than the
// reference's: rtol 1e-5 as the plain ops.
void test_fusions(cuda::Context& ctx, int64_t rows, int64_t H, int64_t R, int64_t N, int64_t I, uint64_t seed) {
  run_case(cat("add_rmsnorm/split_rmsnorm3/silu_mul_halves rows=", rows, " H=", H, " R=", R, " N=", N, " I=", I),
           false, [&](Case& c) {
             Rng rng(seed);
             const auto h = rng.vec(rows * H, -2, 2), delta = rng.vec(rows * H, -2, 2), w = rng.vec(H, 0.5f, 1.5f);
             std::vector<float> sum(h.size()), want(h.size());
             for (size_t i = 0; i < sum.size(); ++i) sum[i] = h[i] + delta[i];
             ref().rmsnorm(sum.data(), rows, H, w.data(), 1e-6f, want.data());
             Dev<float> dh(h), dd(delta), dw(w), dy(h.size());
             cuda::add_rmsnorm(ctx, dh.p, dd.p, rows, H, dw.p, 1e-6f, dy.p);
             c.checks.push_back({"h", compare_tol(dh.download(), widen(sum), 0, 0)});
             c.checks.push_back({"y", compare_tol(dy.download(), widen(want), 1e-6, 1e-5)});

             const int64_t cols = R + 2 * N;
             const auto x = rng.vec(rows * cols, -3, 3);
             const int64_t widths[3] = {R, N, N};
             std::vector<std::vector<float>> weights, wants;
             std::vector<std::unique_ptr<Dev<float>>> dws, dys;
             int64_t first = 0;
             for (int p = 0; p < 3; ++p) {
               weights.push_back(rng.vec(widths[p], 0.5f, 1.5f));
               std::vector<float> part(static_cast<size_t>(rows * widths[p])), normed(part.size());
               for (int64_t r = 0; r < rows; ++r)
                 for (int64_t j = 0; j < widths[p]; ++j) part[r * widths[p] + j] = x[r * cols + first + j];
               ref().rmsnorm(part.data(), rows, widths[p], weights[p].data(), 1e-6f, normed.data());
               wants.push_back(normed);
               dws.push_back(std::make_unique<Dev<float>>(weights[p]));
               dys.push_back(std::make_unique<Dev<float>>(normed.size()));
               first += widths[p];
             }
             Dev<float> dx(x);
             const float* const norms[3] = {dws[0]->p, dws[1]->p, dws[2]->p};
             float* const outs[3] = {dys[0]->p, dys[1]->p, dys[2]->p};
             cuda::split_rmsnorm3(ctx, dx.p, rows, widths, norms, 1e-6f, outs);
             for (int p = 0; p < 3; ++p)
               c.checks.push_back({cat("part", p), compare_tol(dys[p]->download(), widen(wants[p]), 1e-6, 1e-5)});

             const auto gu = rng.vec(rows * 2 * I, -4, 4);
             std::vector<float> gate(static_cast<size_t>(rows * I)), up(gate.size()), act(gate.size());
             for (int64_t r = 0; r < rows; ++r)
               for (int64_t i = 0; i < I; ++i) gate[r * I + i] = gu[r * 2 * I + i], up[r * I + i] = gu[r * 2 * I + I + i];
             ref().silu_mul(gate.data(), up.data(), rows * I, act.data());
             Dev<float> dgu(gu), dact(act.size());
             cuda::silu_mul_halves(ctx, dgu.p, rows, I, dact.p);
             c.checks.push_back({"silu", compare_tol(dact.download(), widen(act), 1e-6, 1e-5)});
           });
}

// ---------------------------------------------------------------------------------------------
void test_rmsnorm(cuda::Context& ctx, int64_t rows, int64_t n, float eps, bool in_place, uint64_t seed) {
  run_case(cat("rmsnorm rows=", rows, " n=", n, " eps=", eps, in_place ? " in-place" : ""), rows * n > (1 << 20),
           [&](Case& c) {
             Rng rng(seed);
             const auto x = rng.vec(rows * n, -3, 3), w = rng.vec(n, 0.5, 1.5);
             std::vector<float> want(x.size());
             ref().rmsnorm(x.data(), rows, n, w.data(), eps, want.data());
             Dev<float> dx(x), dw(w), dy(x.size());
             cuda::rmsnorm(ctx, dx.p, rows, n, dw.p, eps, in_place ? dx.p : dy.p);
             const auto got = in_place ? dx.download() : dy.download();
             c.checks.push_back({"y", compare_tol(got, widen(want), 1e-6, 1e-5)});
             c.note = "atol 1e-6 rtol 1e-5";
           });
}

void test_silu_mul(cuda::Context& ctx, int64_t n, bool in_place, int64_t offset, uint64_t seed) {
  run_case(cat("silu_mul n=", n, in_place ? " in-place" : "", offset ? " misaligned" : ""), n > (1 << 20),
           [&](Case& c) {
             Rng rng(seed);
             const auto g = rng.vec(n + offset, -12, 12), u = rng.vec(n + offset, -2, 2);
             std::vector<float> want(static_cast<size_t>(n));
             ref().silu_mul(g.data() + offset, u.data() + offset, n, want.data());
             Dev<float> dg(g), du(u), dy(static_cast<size_t>(n + offset));
             float* out = in_place ? dg.p + offset : dy.p + offset;
             cuda::silu_mul(ctx, dg.p + offset, du.p + offset, n, out);
             auto all = in_place ? dg.download() : dy.download();
             std::vector<float> got(all.begin() + offset, all.end());
             c.checks.push_back({"y", compare_tol(got, widen(want), 1e-6, 1e-5)});
             c.note = "atol 1e-6 rtol 1e-5";
           });
}

void test_softplus(cuda::Context& ctx, int64_t rows, int64_t n, bool with_bias, uint64_t seed) {
  run_case(cat(with_bias ? "softplus_bias rows=" : "softplus rows=", rows, " n=", n), rows * n > (1 << 20),
           [&](Case& c) {
             Rng rng(seed);
             auto x = rng.vec(rows * n, -30, 30);
             const auto bias = rng.vec(n, -3, 3);
             // Values at the threshold too.
             if (x.size() > 3) x[0] = 20.0f, x[1] = 20.000002f, x[2] = 19.999998f;
             std::vector<float> pre = x;
             if (with_bias)
               for (int64_t r = 0; r < rows; ++r)
                 for (int64_t i = 0; i < n; ++i) pre[r * n + i] = x[r * n + i] + bias[i];
             std::vector<float> want(x.size());
             ref().softplus(pre.data(), rows * n, want.data());
             Dev<float> dx(x), db(bias), dy(x.size());
             if (with_bias)
               cuda::softplus_bias(ctx, dx.p, rows, n, db.p, dy.p);
             else
               cuda::softplus(ctx, dx.p, rows * n, dy.p);
             c.checks.push_back({"y", compare_tol(dy.download(), widen(want), 1e-7, 1e-5)});
             c.note = "atol 1e-7 rtol 1e-5";
           });
}

// ---------------------------------------------------------------------------------------------
// conv1d: a sequence of calls (chunks) with the state carried, on both sides.
void test_conv(cuda::Context& ctx, int64_t C, int64_t K, const std::vector<int64_t>& chunks, bool with_bias,
               uint64_t seed) {
  int64_t T = 0;
  std::string chunk_str;
  for (int64_t t : chunks) T += t, chunk_str += (chunk_str.empty() ? "" : "+") + std::to_string(t);
  run_case(cat("causal_conv1d_silu C=", C, " K=", K, " T=", chunk_str, with_bias ? " +bias" : ""),
           T * C > (1 << 18), [&](Case& c) {
             Rng rng(seed);
             const auto x = rng.vec(T * C, -1, 1), w = rng.vec(C * K, -0.6f, 0.6f), bias = rng.vec(C, -0.5, 0.5);
             auto state_ref = rng.vec((K - 1) * C, -1, 1);
             Dev<float> dx(x), dw(w), db(bias), dstate(state_ref), dy(static_cast<size_t>(T * C));
             std::vector<float> want(static_cast<size_t>(T * C));
             int64_t t0 = 0;
             for (int64_t len : chunks) {
               ref().causal_conv1d_silu(x.data() + t0 * C, len, C, w.data(), K, with_bias ? bias.data() : nullptr,
                                        state_ref.data(), want.data() + t0 * C);
               cuda::causal_conv1d_silu(ctx, dx.p + t0 * C, len, C, dw.p, K, with_bias ? db.p : nullptr, dstate.p,
                                        dy.p + t0 * C);
               t0 += len;
             }
             c.checks.push_back({"y", compare_tol(dy.download(), widen(want), 1e-6, 1e-5)});
             c.checks.push_back({"state", compare_tol(dstate.download(), widen(state_ref), 0, 0)});
             c.note = "atol 1e-6 rtol 1e-5, state exact";
           });
}

void test_conv_update(cuda::Context& ctx, int64_t C, int64_t K, const std::vector<int32_t>& slots, int64_t pool_slots,
                      uint64_t seed) {
  const int64_t batch = static_cast<int64_t>(slots.size());
  std::string s;
  for (int32_t v : slots) s += (s.empty() ? "" : ",") + std::to_string(v);
  run_case(cat("causal_conv1d_silu_update C=", C, " K=", K, " batch=", batch, " slots=", s), false, [&](Case& c) {
    Rng rng(seed);
    const int64_t H = K - 1;
    const auto x = rng.vec(batch * C, -1, 1), w = rng.vec(C * K, -0.6f, 0.6f), bias = rng.vec(C, -0.5, 0.5);
    auto pool = rng.vec(pool_slots * H * C, -1, 1);
    const float sentinel = 12345.0f;
    std::vector<float> want(static_cast<size_t>(batch * C), sentinel);
    Dev<float> dx(x), dw(w), db(bias), dpool(pool), dy(want);
    Dev<int32_t> dslots(slots);
    for (int64_t b = 0; b < batch; ++b) {
      if (slots[b] < 0) continue;
      ref().causal_conv1d_silu(x.data() + b * C, 1, C, w.data(), K, bias.data(), pool.data() + slots[b] * H * C,
                               want.data() + b * C);
    }
    cuda::causal_conv1d_silu_update(ctx, dx.p, batch, C, dw.p, K, db.p, dpool.p, dslots.p, dy.p);
    c.checks.push_back({"y", compare_tol(dy.download(), widen(want), 1e-6, 1e-5)});
    c.checks.push_back({"pool", compare_tol(dpool.download(), widen(pool), 0, 0)});
    c.note = "skipped rows untouched";
  });
}

// ---------------------------------------------------------------------------------------------
// selective scan.
struct ScanData {
  std::vector<float> u, dt_raw, dt_bias, delta, A, B, C, D, z;
};

ScanData make_scan(Rng& rng, int64_t T, int64_t Di, int64_t N) {
  ScanData s;
  s.u = rng.vec(T * Di, -1, 1);
  s.dt_raw = rng.vec(T * Di, -4, 1);
  s.dt_bias = rng.vec(Di, -1, 0.5);
  s.delta.resize(s.dt_raw.size());
  ref().softplus(s.dt_raw.data(), T * Di, s.delta.data());
  s.A.resize(static_cast<size_t>(Di * N));
  for (int64_t c = 0; c < Di; ++c)
    for (int64_t n = 0; n < N; ++n) s.A[c * N + n] = -std::exp(std::log(float(n + 1)) + rng.uniform(-0.5, 0.5));
  s.B = rng.vec(T * N, -1, 1);
  s.C = rng.vec(T * N, -1, 1);
  s.D = rng.vec(Di, -1, 1);
  s.z = rng.vec(T * Di, -3, 3);
  return s;
}

const char* algo_name(cuda::ScanOptions::Algo a) {
  switch (a) {
    case cuda::ScanOptions::Algo::kStep: return "step";
    case cuda::ScanOptions::Algo::kChunked: return "chunked";
    default: return "auto";
  }
}

// chunks: the calls (state carried); fused: pass raw dt + bias with softplus in the kernel.
void test_scan(cuda::Context& ctx, int64_t Di, int64_t N, const std::vector<int64_t>& chunks,
               cuda::ScanOptions::Algo algo, int64_t chunk_len, bool fused, uint64_t seed) {
  int64_t T = 0;
  std::string chunk_str;
  for (int64_t t : chunks) T += t, chunk_str += (chunk_str.empty() ? "" : "+") + std::to_string(t);
  const std::string name = cat("selective_scan Di=", Di, " N=", N, " T=", chunk_str, " algo=", algo_name(algo),
                               chunk_len ? cat(" chunk=", chunk_len) : "", fused ? " fused-softplus" : "");
  run_case(name, T * Di * N > (1 << 22), [&](Case& c) {
    Rng rng(seed);
    ScanData s = make_scan(rng, T, Di, N);
    std::vector<float> delta_in = s.delta;
    if (fused) {  // the reference sees softplus(dt_raw + bias); the kernel gets dt_raw and bias
      std::vector<float> pre(s.dt_raw.size());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t ch = 0; ch < Di; ++ch) pre[t * Di + ch] = s.dt_raw[t * Di + ch] + s.dt_bias[ch];
      ref().softplus(pre.data(), T * Di, s.delta.data());
      delta_in = s.dt_raw;
    }
    auto state_ref = rng.vec(Di * N, -1, 1);
    Dev<float> du(s.u), ddelta(delta_in), dbias(s.dt_bias), dA(s.A), dB(s.B), dC(s.C), dD(s.D), dz(s.z),
        dstate(state_ref), dy(static_cast<size_t>(T * Di));
    std::vector<float> want(static_cast<size_t>(T * Di));
    cuda::ScanOptions opt;
    opt.algo = algo;
    opt.chunk_len = chunk_len;
    if (fused) opt.delta_bias = dbias.p, opt.delta_softplus = true;
    int64_t t0 = 0;
    for (int64_t len : chunks) {
      ref().selective_scan(s.u.data() + t0 * Di, s.delta.data() + t0 * Di, s.A.data(), s.B.data() + t0 * N,
                           s.C.data() + t0 * N, s.D.data(), s.z.data() + t0 * Di, len, Di, N, state_ref.data(),
                           want.data() + t0 * Di);
      cuda::selective_scan(ctx, du.p + t0 * Di, ddelta.p + t0 * Di, dA.p, dB.p + t0 * N, dC.p + t0 * N, dD.p,
                           dz.p + t0 * Di, len, Di, N, dstate.p, dy.p + t0 * Di, opt);
      t0 += len;
    }
    c.checks.push_back({"y", compare_tol(dy.download(), widen(want), 2e-5, 1e-5)});
    c.checks.push_back({"state", compare_tol(dstate.download(), widen(state_ref), 2e-5, 1e-5)});
    c.note = "atol 2e-5 rtol 1e-5";
  });
}

void test_scan_step(cuda::Context& ctx, int64_t Di, int64_t N, const std::vector<int32_t>& slots, int64_t pool_slots,
                    bool fused, uint64_t seed) {
  const int64_t batch = static_cast<int64_t>(slots.size());
  std::string sl;
  for (int32_t v : slots) sl += (sl.empty() ? "" : ",") + std::to_string(v);
  run_case(cat("selective_scan_step Di=", Di, " N=", N, " batch=", batch, " slots=", sl, fused ? " fused-softplus" : ""),
           false, [&](Case& c) {
             Rng rng(seed);
             ScanData s = make_scan(rng, batch, Di, N);  // rows = batch
             std::vector<float> delta_in = s.delta;
             if (fused) {
               std::vector<float> pre(s.dt_raw.size());
               for (int64_t b = 0; b < batch; ++b)
                 for (int64_t ch = 0; ch < Di; ++ch) pre[b * Di + ch] = s.dt_raw[b * Di + ch] + s.dt_bias[ch];
               ref().softplus(pre.data(), batch * Di, s.delta.data());
               delta_in = s.dt_raw;
             }
             auto pool = rng.vec(pool_slots * Di * N, -1, 1);
             const float sentinel = 12345.0f;
             std::vector<float> want(static_cast<size_t>(batch * Di), sentinel);
             Dev<float> du(s.u), ddelta(delta_in), dbias(s.dt_bias), dA(s.A), dB(s.B), dC(s.C), dD(s.D), dz(s.z),
                 dpool(pool), dy(want);
             Dev<int32_t> dslots(slots);
             for (int64_t b = 0; b < batch; ++b) {
               if (slots[b] < 0) continue;
               ref().selective_scan(s.u.data() + b * Di, s.delta.data() + b * Di, s.A.data(), s.B.data() + b * N,
                                    s.C.data() + b * N, s.D.data(), s.z.data() + b * Di, 1, Di, N,
                                    pool.data() + slots[b] * Di * N, want.data() + b * Di);
             }
             cuda::ScanOptions opt;
             if (fused) opt.delta_bias = dbias.p, opt.delta_softplus = true;
             cuda::selective_scan_step(ctx, batch, du.p, ddelta.p, dA.p, dB.p, dC.p, dD.p, dz.p, Di, N, dpool.p,
                                       dslots.p, dy.p, opt);
             c.checks.push_back({"y", compare_tol(dy.download(), widen(want), 2e-5, 1e-5)});
             c.checks.push_back({"pool", compare_tol(dpool.download(), widen(pool), 2e-5, 1e-5)});
             c.note = "atol 2e-5 rtol 1e-5; skipped rows untouched";
           });
}

// ---------------------------------------------------------------------------------------------
// attention. kind: 0 = attention() (dispatch), 1 = attention_decode, 2 = attention_prefill.
void test_attention(cuda::Context& ctx, int64_t T, int64_t P, int64_t nh, int64_t nkv, int64_t hd, int kind,
                    int64_t splits, float scale_mul, uint64_t seed) {
  const char* kinds[] = {"attention", "attention_decode", "attention_prefill"};
  const std::string name = cat(kinds[kind], " T=", T, " P=", P, " heads=", nh, "q/", nkv, "kv hd=", hd,
                               splits ? cat(" splits=", splits) : "", scale_mul != 1.0f ? cat(" scale×", scale_mul) : "");
  const bool heavy = T * (P + T) * nh * hd > (int64_t{1} << 24);
  run_case(name, heavy, [&](Case& c) {
    Rng rng(seed);
    const int64_t L = P + T;
    const auto q = rng.vec(T * nh * hd, -2, 2), k = rng.vec(L * nkv * hd, -2, 2), v = rng.vec(L * nkv * hd, -1, 1);
    const float scale = scale_mul / std::sqrt(static_cast<float>(hd));
    std::vector<float> want(static_cast<size_t>(T * nh * hd));
    ref().attention(q.data(), k.data(), v.data(), T, P, nh, nkv, hd, scale, want.data());
    Dev<float> dq(q), dk(k), dv(v), dout(want.size());
    if (kind == 0) cuda::attention(ctx, dq.p, dk.p, dv.p, T, P, nh, nkv, hd, scale, dout.p);
    if (kind == 1) cuda::attention_decode(ctx, dq.p, dk.p, dv.p, T, P, nh, nkv, hd, scale, dout.p, splits);
    if (kind == 2) cuda::attention_prefill(ctx, dq.p, dk.p, dv.p, T, P, nh, nkv, hd, scale, dout.p);
    c.checks.push_back({"out", compare_tol(dout.download(), widen(want), 1e-5, 1e-5)});
    c.note = "atol 1e-5 rtol 1e-5";
  });
}

// ---------------------------------------------------------------------------------------------
// MoE.
void test_moe_route(cuda::Context& ctx, int64_t rows, int64_t E, int64_t top_k, bool ties, uint64_t seed) {
  run_case(cat("moe_route rows=", rows, " E=", E, " top_k=", top_k, ties ? " with-ties" : ""), false, [&](Case& c) {
    Rng rng(seed);
    auto logits = rng.vec(rows * E, -4, 4);
    if (ties)  // few distinct values: many exact ties, which must go to the lower id
      for (auto& l : logits) l = std::round(l);
    std::vector<int32_t> want_ids(static_cast<size_t>(rows * top_k));
    std::vector<float> want_w(want_ids.size());
    ref().moe_route(logits.data(), rows, E, top_k, want_ids.data(), want_w.data());
    Dev<float> dl(logits), dw(want_w.size());
    Dev<int32_t> dids(want_ids.size());
    cuda::moe_route(ctx, dl.p, rows, E, top_k, dids.p, dw.p);
    const auto got_ids = dids.download();
    Stats ids;
    for (size_t i = 0; i < got_ids.size(); ++i)
      if (got_ids[i] != want_ids[i]) {
        if (ids.bad == 0) ids.first_bad = cat("index ", i, ": id ", got_ids[i], " want ", want_ids[i]);
        ++ids.bad, ids.ok = false;
      }
    c.checks.push_back({"ids", ids});
    c.checks.push_back({"weights", compare_tol(dw.download(), widen(want_w), 1e-7, 1e-5)});
    c.note = "ids exact; weights atol 1e-7 rtol 1e-5";
  });
}

void test_moe_group(cuda::Context& ctx, int64_t rows, int64_t E, int64_t top_k, uint64_t seed) {
  run_case(cat("moe_group rows=", rows, " E=", E, " top_k=", top_k), false, [&](Case& c) {
    Rng rng(seed);
    const int64_t A = rows * top_k;
    // Distinct experts per row, skewed toward low ids so some experts get nothing.
    std::vector<int32_t> ids(static_cast<size_t>(A));
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int32_t> pool(static_cast<size_t>(E));
      std::iota(pool.begin(), pool.end(), 0);
      for (int64_t j = 0; j < top_k; ++j) {
        const int64_t span = std::max<int64_t>(1, std::min<int64_t>(E - j, 1 + (E - j) / 2));
        const int64_t pick = j + static_cast<int64_t>(rng.uniform(0, 1) * span) % span;
        std::swap(pool[j], pool[pick]);
        ids[r * top_k + j] = pool[j];
      }
    }
    // Expected: stable sort of assignment indices by expert.
    std::vector<int32_t> perm(static_cast<size_t>(A)), pos(static_cast<size_t>(A)), counts(static_cast<size_t>(E), 0),
        offsets(static_cast<size_t>(E + 1), 0);
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return ids[a] < ids[b]; });
    for (int64_t i = 0; i < A; ++i) pos[perm[i]] = static_cast<int32_t>(i);
    for (int32_t e : ids) ++counts[e];
    for (int64_t e = 0; e < E; ++e) offsets[e + 1] = offsets[e] + counts[e];
    Dev<int32_t> dids(ids), dcounts(counts.size()), doffsets(offsets.size()), dperm(perm.size()), dpos(pos.size());
    cuda::moe_group(ctx, dids.p, rows, top_k, E, dcounts.p, doffsets.p, dperm.p, dpos.p);
    auto exact = [](const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
      Stats s;
      for (size_t i = 0; i < want.size(); ++i)
        if (got[i] != want[i]) {
          if (s.bad == 0) s.first_bad = cat("index ", i, ": ", got[i], " want ", want[i]);
          ++s.bad, s.ok = false;
        }
      return s;
    };
    c.checks.push_back({"counts", exact(dcounts.download(), counts)});
    c.checks.push_back({"offsets", exact(doffsets.download(), offsets)});
    c.checks.push_back({"perm", exact(dperm.download(), perm)});
    c.checks.push_back({"position_of", exact(dpos.download(), pos)});
    // gather + combine on top of the grouping.
    const int64_t H = 37;
    const auto x = rng.vec(rows * H, -1, 1), wts = rng.vec(A, 0, 1);
    Dev<float> dx(x), dxg(static_cast<size_t>(A * H)), dout(static_cast<size_t>(rows * H)), dwts(wts);
    cuda::moe_gather(ctx, dx.p, H, dperm.p, A, top_k, dxg.p);
    const auto xg = dxg.download();
    std::vector<double> want_xg(static_cast<size_t>(A * H));
    for (int64_t i = 0; i < A; ++i)
      for (int64_t h = 0; h < H; ++h) want_xg[i * H + h] = x[(perm[i] / top_k) * H + h];
    c.checks.push_back({"gather", compare_tol(xg, want_xg, 0, 0)});
    // combine with yg = xg: out[r] = Σ_j w_rj x[r] summed in expert order.
    cuda::moe_combine(ctx, dxg.p, H, dpos.p, dids.p, dwts.p, rows, top_k, dout.p);
    std::vector<double> want_out(static_cast<size_t>(rows * H));
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int64_t> order(static_cast<size_t>(top_k));
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ids[r * top_k + a] < ids[r * top_k + b]; });
      for (int64_t h = 0; h < H; ++h) {
        float acc = 0.0f;
        for (int64_t j : order) acc += wts[r * top_k + j] * x[r * H + h];
        want_out[r * H + h] = acc;
      }
    }
    c.checks.push_back({"combine", compare_tol(dout.download(), want_out, 0, 0)});
    c.note = "all exact";
  });
}

// The whole MoE FFN against the reference composition (forward.cpp's moe_ffn written with ref ops).
void test_moe_ffn(cuda::Context& ctx, int64_t rows, int64_t H, int64_t I, int64_t E, int64_t top_k, DType dt,
                  uint64_t seed) {
  run_case(cat("moe_ffn rows=", rows, " H=", H, " I=", I, " E=", E, " top_k=", top_k, " ", dtype_name(dt), " exact"),
           rows > 64, [&](Case& c) {
             Rng rng(seed);
             std::vector<HostWeight> hw;
             for (int64_t e = 0; e < E; ++e) {
               hw.push_back(make_weight(rng, dt, I, H, 0.3f));
               hw.push_back(make_weight(rng, dt, I, H, 0.3f));
               hw.push_back(make_weight(rng, dt, H, I, 0.3f));
             }
             const auto x = rng.vec(rows * H, -1, 1), logits = rng.vec(rows * E, -2, 2);
             // Reference.
             std::vector<int32_t> ids(static_cast<size_t>(rows * top_k));
             std::vector<float> wts(ids.size()), want(static_cast<size_t>(rows * H), 0.0f);
             ref().moe_route(logits.data(), rows, E, top_k, ids.data(), wts.data());
             for (int64_t e = 0; e < E; ++e) {
               std::vector<int64_t> picked;
               std::vector<float> pw;
               for (int64_t r = 0; r < rows; ++r)
                 for (int64_t j = 0; j < top_k; ++j)
                   if (ids[r * top_k + j] == e) picked.push_back(r), pw.push_back(wts[r * top_k + j]);
               if (picked.empty()) continue;
               const int64_t n = static_cast<int64_t>(picked.size());
               std::vector<float> xin(static_cast<size_t>(n * H)), g(static_cast<size_t>(n * I)),
                   u(static_cast<size_t>(n * I)), yout(static_cast<size_t>(n * H));
               for (int64_t i = 0; i < n; ++i) std::copy_n(x.data() + picked[i] * H, H, xin.data() + i * H);
               ref().matmul(xin.data(), n, hw[3 * e].host_view(), nullptr, g.data());
               ref().matmul(xin.data(), n, hw[3 * e + 1].host_view(), nullptr, u.data());
               ref().silu_mul(g.data(), u.data(), n * I, g.data());
               ref().matmul(g.data(), n, hw[3 * e + 2].host_view(), nullptr, yout.data());
               for (int64_t i = 0; i < n; ++i)
                 for (int64_t h = 0; h < H; ++h) want[picked[i] * H + h] += pw[i] * yout[i * H + h];
             }
             // Device.
             std::vector<std::unique_ptr<DevWeight>> dws;
             std::vector<cuda::ExpertWeights> experts(static_cast<size_t>(E));
             for (int64_t e = 0; e < E; ++e) {
               for (int i = 0; i < 3; ++i) dws.push_back(std::make_unique<DevWeight>(hw[3 * e + i]));
               experts[e] = {dws[3 * e]->view, dws[3 * e + 1]->view, dws[3 * e + 2]->view};
             }
             Dev<float> dx(x), dl(logits), dout(want.size());
             cuda::moe_ffn(ctx, dx.p, rows, H, I, dl.p, E, top_k, experts.data(), MatmulPrecision::kExact, dout.p);
             double scale = 0;
             for (float v : want) scale = std::max(scale, double(std::fabs(v)));
             c.checks.push_back({"out", compare_tol(dout.download(), widen(want), 1e-5 * scale, 1e-4)});
             c.note = cat("atol 1e-5·max|ref| (", 1e-5 * scale, ") rtol 1e-4");
           });
}

// Bad arguments throw one-line jamba::Error messages naming the op (never a crash).
void test_errors(cuda::Context& ctx) {
  run_case("errors: bad shapes throw jamba::Error", false, [&](Case& c) {
    struct Expect {
      const char* what;
      std::function<void()> call;
    };
    Dev<float> buf(64);
    TensorView w;
    w.dtype = DType::I32;
    w.shape = {2, 2};
    w.data = buf.p;
    const std::vector<Expect> expects = {
        {"attention nh % nkv", [&] { cuda::attention(ctx, buf.p, buf.p, buf.p, 1, 0, 3, 2, 4, 1.0f, buf.p); }},
        {"attention hd > 256", [&] { cuda::attention(ctx, buf.p, buf.p, buf.p, 1, 0, 1, 1, 512, 1.0f, buf.p); }},
        {"conv K > 8", [&] { cuda::causal_conv1d_silu(ctx, buf.p, 1, 1, buf.p, 9, nullptr, buf.p, buf.p); }},
        {"matmul dtype", [&] { cuda::matmul(ctx, buf.p, 1, w, nullptr, buf.p, MatmulPrecision::kExact); }},
        {"moe_route E > 256", [&] { cuda::moe_route(ctx, buf.p, 1, 300, 2, nullptr, nullptr); }},
        {"scan N > 256", [&] {
           cuda::selective_scan(ctx, buf.p, buf.p, buf.p, buf.p, buf.p, buf.p, buf.p, 1, 1, 300, buf.p, buf.p);
         }},
    };
    Stats s;
    for (const auto& e : expects) {
      bool threw = false;
      try {
        e.call();
      } catch (const Error& err) {
        threw = std::string(err.what()).find("cuda::") != std::string::npos &&
                std::string(err.what()).find('\n') == std::string::npos;
        if (g_verbose) std::printf("      %s -> %s\n", e.what, err.what());
      }
      if (!threw) {
        if (s.bad == 0) s.first_bad = cat(e.what, " did not throw a one-line cuda:: Error");
        ++s.bad, s.ok = false;
      }
    }
    c.checks.push_back({"throws", s});
  });
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") g_quick = true;
    else if (a == "--verbose") g_verbose = true;
    else if (a == "--filter" && i + 1 < argc) g_filter = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--verbose] [--filter TEXT]\n", argv[0]);
      return 2;
    }
  }
  std::string why;
  if (!cuda::device_available(&why)) {
    std::printf("SKIP: no usable CUDA device (%s)\n", why.c_str());
    return 77;
  }
  const auto start = std::chrono::steady_clock::now();
  std::printf("device: %s\n", cuda::device_summary().c_str());
  std::printf("mode: %s%s\n", g_quick ? "quick" : "full", g_filter.empty() ? "" : cat(", filter '", g_filter, "'").c_str());
  std::fflush(stdout);

  cuda::Context ctx;
  uint64_t seed = 1000;

  // matmul: every dtype × precision over GEMV sizes (m ≤ 8) and GEMM sizes, odd and aligned k.
  const std::vector<std::array<int64_t, 3>> mm_shapes = {
      {1, 1, 1},      {1, 33, 5},     {1, 1001, 4096}, {3, 7, 5},       {3, 257, 1000}, {8, 300, 1024},
      {9, 65, 257},   {64, 129, 1000}, {64, 512, 4096}, {257, 1001, 257}, {257, 64, 1000}, {130, 33, 8}};
  for (DType dt : {DType::F32, DType::BF16, DType::F16, DType::Q8})
    for (MatmulPrecision p : {MatmulPrecision::kExact, MatmulPrecision::kFast})
      for (size_t i = 0; i < mm_shapes.size(); ++i) {
        const auto [m, n, k] = mm_shapes[i];
        if (p == MatmulPrecision::kFast && m <= 2 && i % 2 == 1) continue;  // same GEMV path as exact
        test_matmul(ctx, dt, p, m, n, k, i % 2 == 0, ++seed);
      }

  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (auto [rows, V, H] : std::vector<std::array<int64_t, 3>>{{1, 5, 7}, {37, 1000, 257}, {3, 65, 4096}})
      test_glue(ctx, dt, rows, V, H, ++seed);
  test_fusions(ctx, 1, 2560, 160, 16, 6144, ++seed);
  test_fusions(ctx, 7, 33, 3, 5, 17, ++seed);
  test_fusions(ctx, 130, 4096, 1100, 16, 257, ++seed);

  for (auto [rows, n] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 16}, {130, 256}, {3, 1000}, {2, 8192},
                                                                 {257, 4097}, {1, 1025}})
    test_rmsnorm(ctx, rows, n, 1e-5f, false, ++seed);
  test_rmsnorm(ctx, 33, 16, 1e-6f, true, ++seed);
  test_rmsnorm(ctx, 5, 4096, 1e-6f, true, ++seed);

  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{1} << 20 | 3}) test_silu_mul(ctx, n, false, 0, ++seed);
  test_silu_mul(ctx, 4096, true, 0, ++seed);
  test_silu_mul(ctx, 4096, false, 1, ++seed);

  test_softplus(ctx, 1, 1, false, ++seed);
  test_softplus(ctx, 1, 1000, false, ++seed);
  test_softplus(ctx, 1, (1 << 20) + 1, false, ++seed);
  test_softplus(ctx, 130, 33, true, ++seed);
  test_softplus(ctx, 7, 8192, true, ++seed);

  // conv: C × K × chunking (T=1, 7, 130 and chains across the short/long kernels).
  for (int64_t C : {int64_t{1}, int64_t{33}, int64_t{1000}})
    for (int64_t K : {int64_t{4}, int64_t{3}}) {
      test_conv(ctx, C, K, {1}, true, ++seed);
      test_conv(ctx, C, K, {7}, K == 4, ++seed);
      test_conv(ctx, C, K, {130}, true, ++seed);
      test_conv(ctx, C, K, {1, 2, 7, 130, 1, 65}, K == 3, ++seed);
    }
  test_conv(ctx, 64, 2, {300}, true, ++seed);
  test_conv(ctx, 17, 1, {5, 40}, true, ++seed);
  test_conv(ctx, 8192, 4, {1000}, true, ++seed);
  test_conv_update(ctx, 33, 4, {2, 0, -1, 1}, 4, ++seed);
  test_conv_update(ctx, 1000, 3, {0}, 1, ++seed);
  test_conv_update(ctx, 4096, 4, {5, 3, 1, 7, 0, 2, 6, 4}, 8, ++seed);

  // scan: Di × N × T, each algorithm, chained calls, fused softplus.
  using Algo = cuda::ScanOptions::Algo;
  for (int64_t Di : {int64_t{1}, int64_t{33}, int64_t{1000}})
    for (int64_t N : {int64_t{16}, int64_t{8}}) {
      test_scan(ctx, Di, N, {1}, Algo::kAuto, 0, false, ++seed);
      test_scan(ctx, Di, N, {7}, Algo::kAuto, 0, N == 8, ++seed);
      test_scan(ctx, Di, N, {130}, Algo::kAuto, 0, N == 16, ++seed);
      test_scan(ctx, Di, N, {130}, Algo::kStep, 0, false, ++seed);
      test_scan(ctx, Di, N, {130}, Algo::kChunked, 130, false, ++seed);  // one chunk: passes 1–2 skipped
      test_scan(ctx, Di, N, {130}, Algo::kChunked, 17, true, ++seed);
      test_scan(ctx, Di, N, {1, 7, 130, 40}, Algo::kAuto, 0, false, ++seed);
    }
  test_scan(ctx, 8, 5, {50}, Algo::kChunked, 9, false, ++seed);    // N not a multiple of 4
  test_scan(ctx, 8, 5, {9}, Algo::kStep, 0, true, ++seed);
  test_scan(ctx, 16, 64, {70}, Algo::kAuto, 0, false, ++seed);     // N = 64 (chunked max)
  test_scan(ctx, 16, 128, {20, 40}, Algo::kAuto, 0, false, ++seed); // N = 128 → step kernel
  test_scan(ctx, 4096, 16, {2000}, Algo::kAuto, 0, true, ++seed);  // many chunks, Jamba-like
  test_scan_step(ctx, 33, 16, {2, 0, -1, 1}, 4, false, ++seed);
  test_scan_step(ctx, 1000, 8, {0}, 1, true, ++seed);
  test_scan_step(ctx, 8192, 16, {3, 1, 0, 2}, 4, true, ++seed);
  test_scan_step(ctx, 7, 5, {1, -1, 0}, 2, false, ++seed);

  // attention: heads 8q/2kv and 7q/7kv, hd 64 and 128, T × P grid, both kernels directly.
  for (auto [nh, nkv] : std::vector<std::pair<int64_t, int64_t>>{{8, 2}, {7, 7}})
    for (int64_t hd : {int64_t{64}, int64_t{128}})
      for (int64_t T : {int64_t{1}, int64_t{7}, int64_t{130}})
        for (int64_t P : {int64_t{0}, int64_t{5}, int64_t{1000}}) test_attention(ctx, T, P, nh, nkv, hd, 0, 0, 1.0f, ++seed);
  test_attention(ctx, 1, 1000, 8, 2, 128, 2, 0, 1.0f, ++seed);    // prefill kernel at T=1
  test_attention(ctx, 3, 1000, 8, 2, 128, 1, 0, 1.0f, ++seed);    // decode kernel with T>1 (causal rows)
  test_attention(ctx, 7, 5, 8, 2, 64, 1, 1, 1.0f, ++seed);        // one split: direct output
  test_attention(ctx, 1, 5000, 8, 2, 128, 1, 7, 1.0f, ++seed);    // forced odd split count
  test_attention(ctx, 1, 40000, 8, 2, 128, 0, 0, 1.0f, ++seed);   // long context, auto splits
  test_attention(ctx, 1, 3000, 32, 8, 128, 0, 0, 1.0f, ++seed);   // Jamba's 32q/8kv
  test_attention(ctx, 1, 3000, 32, 1, 64, 0, 0, 1.0f, ++seed);    // MQA: 32 rows → 4 row blocks
  test_attention(ctx, 2, 300, 6, 2, 40, 0, 0, 1.0f, ++seed);      // hd 40: masked lanes
  test_attention(ctx, 5, 20, 3, 1, 30, 0, 0, 1.0f, ++seed);       // hd % 4 != 0 → prefill kernel
  test_attention(ctx, 40, 100, 4, 2, 256, 0, 0, 1.0f, ++seed);    // hd 256 (large shared memory)
  test_attention(ctx, 1, 700, 4, 2, 256, 0, 0, 1.0f, ++seed);
  test_attention(ctx, 130, 0, 8, 2, 64, 0, 0, 8.0f, ++seed);      // peaky softmax
  test_attention(ctx, 1, 2000, 8, 2, 64, 0, 0, 8.0f, ++seed);

  // MoE.
  test_moe_route(ctx, 1, 16, 2, false, ++seed);
  test_moe_route(ctx, 7, 16, 2, false, ++seed);
  test_moe_route(ctx, 130, 8, 3, false, ++seed);
  test_moe_route(ctx, 1000, 64, 2, false, ++seed);
  test_moe_route(ctx, 33, 3, 3, false, ++seed);
  test_moe_route(ctx, 5, 256, 8, false, ++seed);
  test_moe_route(ctx, 200, 16, 4, true, ++seed);
  test_moe_route(ctx, 50, 100, 5, true, ++seed);
  test_moe_group(ctx, 1, 16, 2, ++seed);
  test_moe_group(ctx, 7, 16, 2, ++seed);
  test_moe_group(ctx, 1000, 16, 2, ++seed);
  test_moe_group(ctx, 333, 64, 3, ++seed);
  test_moe_group(ctx, 20, 200, 8, ++seed);
  test_moe_ffn(ctx, 1, 64, 40, 8, 2, DType::BF16, ++seed);
  test_moe_ffn(ctx, 7, 64, 40, 8, 2, DType::F32, ++seed);
  test_moe_ffn(ctx, 130, 64, 48, 8, 2, DType::BF16, ++seed);
  test_moe_ffn(ctx, 300, 33, 17, 4, 3, DType::F16, ++seed);

  test_errors(ctx);

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("SUMMARY: %d passed, %d failed, %d skipped (%.1f s) — %s\n", g_pass, g_fail, g_skip, secs,
              g_fail == 0 ? "OK" : "FAILED");
  for (const auto& n : g_failed) std::printf("  failed: %s\n", n.c_str());
  return g_fail == 0 ? 0 : 1;
}
