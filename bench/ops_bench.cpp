// jamba_ops_bench: the ops at model-sized shapes, reference backend vs the CPU backend (and its
// lower instruction sets with --all-isas; cpu-bf16 for bf16 matmuls where the CPU has it), next
// to this machine's read bandwidth so the decode matmul (bandwidth-bound) can be read as a
// fraction of what memory can give.
//
//   jamba_ops_bench [--json] [--quick] [--all-isas] [--matmul]
//
// --matmul: only the matmuls (every weight format: f32, bf16, f16, int8, int4), fast backends only.
//
// Weights are rotated among copies totalling 512 MiB, so a matmul never finds its weights in
// the last-level cache. Each time is the best of several runs after a warm-up (see time_best);
// the reference backend is timed once on the big shapes (it is slow). Results:
// docs/benchmarks.md.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/ops.h"

namespace {

using jamba::DType;
using jamba::TensorView;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Best (shortest) seconds of fn over at least min_runs runs, more while within `budget` seconds,
// after one warm-up. The best, not the median: on a machine shared with other work the slow runs
// measure the neighbours.
double time_best(const std::function<void()>& fn, int min_runs, double budget) {
  fn();
  double best = 1e30;
  const auto begin = Clock::now();
  for (int runs = 0; runs < min_runs || (seconds_since(begin) < budget && runs < 500); ++runs) {
    const auto start = Clock::now();
    fn();
    best = std::min(best, seconds_since(start));
  }
  return best;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Read bandwidth: a sum over a 1 GiB buffer, all threads (and one), best of five. 32 partial
// sums per thread so the adds never wait on each other: memory is the only limit.
double read_bandwidth(int threads, const std::vector<float>& buffer) {
  double best = 0;
  volatile float sink = 0;
  constexpr int64_t kLanes = 32;
  const int64_t blocks = static_cast<int64_t>(buffer.size()) / kLanes;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = Clock::now();
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      float acc[kLanes] = {};
#pragma omp for schedule(static)
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t j = 0; j < kLanes; ++j) acc[j] += buffer[b * kLanes + j];
      for (float a : acc) total += a;
    }
    const double s = seconds_since(start);
    sink = sink + total;
    best = std::max(best, blocks * kLanes * sizeof(float) / s / 1e9);
  }
  return best;
}

double fork_join_microseconds() {
  const int reps = 20000;
  volatile int sink = 0;
  const auto start = Clock::now();
  for (int i = 0; i < reps; ++i) {
#pragma omp parallel
    {
      if (omp_get_thread_num() == 0) sink = sink + 1;
    }
  }
  return seconds_since(start) / reps * 1e6;
}

struct Row {
  std::string op, shape, backend;
  double ms = 0, gflops = 0, gbytes = 0;  // gflops / gbytes: per second, 0 when not meaningful
};

// Weights of one shape and dtype, in copies totalling >= 512 MiB, handed out in turn. Q8 / Q4
// (weight-only int8 per row, int4 in groups of 32) carry random scales; their bytes count too.
class RotatingWeights {
 public:
  RotatingWeights(DType dtype, int64_t n, int64_t k) : n_(n), k_(k), dtype_(dtype) {
    const bool quantized = dtype == DType::Q8 || dtype == DType::Q4;
    const size_t bytes = static_cast<size_t>(dtype == DType::Q4 ? n * k / 2 : n * k * jamba::dtype_size(dtype));
    scale_count_ = dtype == DType::Q8 ? n : dtype == DType::Q4 ? n * k / kQ4Group : 0;
    const size_t copies = std::max<size_t>(2, (size_t(512) << 20) / bytes + 1);
    const auto values = random_floats(static_cast<size_t>(n * k), 1, 0.05f);
    std::mt19937 rng(3);
    for (size_t c = 0; c < copies; ++c) {
      auto& buf = buffers_.emplace_back(bytes);
      if (quantized) {
        for (auto& b : buf) b = static_cast<unsigned char>(rng());
        auto& sc = scales_.emplace_back(scale_count_);
        for (size_t i = 0; i < sc.size(); ++i) sc[i] = 0.001f * (1 + i % 7);
      } else if (dtype == DType::F32) {
        std::memcpy(buf.data(), values.data(), bytes);
      } else {
        auto* h = reinterpret_cast<uint16_t*>(buf.data());
        for (size_t i = 0; i < values.size(); ++i)
          h[i] = dtype == DType::BF16 ? jamba::f32_to_bf16(values[i]) : jamba::f32_to_f16(values[i]);
      }
    }
  }
  TensorView next() {
    const size_t i = turn_++ % buffers_.size();
    if (scales_.empty()) return TensorView{dtype_, {n_, k_}, buffers_[i].data()};
    return TensorView{dtype_, {n_, k_}, buffers_[i].data(), jamba::Device::CPU, scales_[i].data(),
                      dtype_ == DType::Q4 ? kQ4Group : 0};
  }
  double bytes() const {
    return double(buffers_[0].size()) + double(scale_count_) * sizeof(float);
  }

 private:
  static constexpr int64_t kQ4Group = 32;
  int64_t n_, k_;
  DType dtype_;
  int64_t scale_count_ = 0;
  std::vector<std::vector<unsigned char>> buffers_;
  std::vector<std::vector<float>> scales_;
  size_t turn_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  bool json = false, quick = false, all_isas = false, matmul_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") json = true;
    else if (arg == "--quick") quick = true;
    else if (arg == "--all-isas") all_isas = true;
    else if (arg == "--matmul") matmul_only = true;
    else {
      std::fprintf(stderr, "usage: jamba_ops_bench [--json] [--quick] [--all-isas] [--matmul]\n");
      return 2;
    }
  }
  const double budget = quick ? 0.3 : 1.5;
  const int threads = omp_get_max_threads();

  std::vector<const jamba::ops::Backend*> fast = {&jamba::ops::cpu_backend()};
  if (all_isas)
    for (jamba::ops::CpuIsa isa : jamba::ops::kAllCpuIsas)
      if (isa < jamba::ops::best_cpu_isa() && jamba::ops::cpu_isa_supported(isa))
        fast.push_back(&jamba::ops::cpu_backend(isa));
  const jamba::ops::Backend& ref = jamba::ops::reference_backend();

  std::vector<float> big(size_t(1) << 28, 1.0f);  // 1 GiB, written once so every page is mapped
  const double bw_all = read_bandwidth(threads, big), bw_one = read_bandwidth(1, big);
  big = {};
  const double fork_us = fork_join_microseconds();

  std::vector<Row> rows;
  auto add = [&](const std::string& op, const std::string& shape, const jamba::ops::Backend& be, double seconds,
                 double flops, double bytes) {
    rows.push_back({op, shape, be.name, seconds * 1e3, flops / seconds / 1e9, bytes / seconds / 1e9});
    if (!json) std::fprintf(stderr, "  %-14s %-28s %-12s %10.3f ms\n", op.c_str(), shape.c_str(), be.name, seconds * 1e3);
  };

  // Matmul: a Mamba-in_proj-like shape (n = 5120, k = 2560) at decode and prefill sizes.
  const int64_t n = 5120, k = 2560;
  std::vector<DType> dtypes = {DType::BF16, DType::F32};
  if (matmul_only) dtypes = {DType::Q8, DType::Q4, DType::BF16, DType::F16, DType::F32};
  for (DType dtype : dtypes) {
    RotatingWeights weights(dtype, n, k);
    for (int64_t m : {int64_t{1}, int64_t{4}, int64_t{512}}) {
      const auto x = random_floats(m * k, 2);
      std::vector<float> y(m * n);
      const std::string shape = "m=" + std::to_string(m) + " n=5120 k=2560 " + jamba::dtype_name(dtype);
      const double flops = 2.0 * m * n * k;
      std::vector<const jamba::ops::Backend*> backends = fast;
      if (dtype == DType::BF16 && jamba::ops::cpu_bf16_backend()) backends.push_back(jamba::ops::cpu_bf16_backend());
      for (const auto* be : backends)
        add("matmul", shape, *be,
            time_best([&] { be->matmul(x.data(), m, weights.next(), nullptr, y.data()); }, 5, budget), flops,
            weights.bytes());
      if (!(quick && m == 512) && !matmul_only)
        add("matmul", shape, ref,
            time_best([&] { ref.matmul(x.data(), m, weights.next(), nullptr, y.data()); }, m == 512 ? 1 : 3,
                        m == 512 ? 0 : budget),
            flops, weights.bytes());
    }
  }

  if (!matmul_only) {
    // Selective scan: prefill (T = 512) and one decode step, Di = 5120, N = 16.
    {
      const int64_t Di = 5120, N = 16;
      for (int64_t T : {int64_t{512}, int64_t{1}}) {
        const auto u = random_floats(T * Di, 1), B = random_floats(T * N, 2), C = random_floats(T * N, 3);
        const auto D = random_floats(Di, 4), z = random_floats(T * Di, 5);
        auto delta = random_floats(T * Di, 6), A = random_floats(Di * N, 7);
        for (float& d : delta) d = std::log1p(std::exp(d));
        for (float& a : A) a = -std::exp(a);
        std::vector<float> state(Di * N, 0.0f), y(T * Di);
        const std::string shape = "T=" + std::to_string(T) + " Di=5120 N=16";
        for (const auto* be : fast)
          add("selective_scan", shape, *be, time_best([&] {
                be->selective_scan(u.data(), delta.data(), A.data(), B.data(), C.data(), D.data(), z.data(), T, Di, N,
                                   state.data(), y.data());
              }, 5, budget), 0, 0);
        add("selective_scan", shape, ref, time_best([&] {
              ref.selective_scan(u.data(), delta.data(), A.data(), B.data(), C.data(), D.data(), z.data(), T, Di, N,
                                 state.data(), y.data());
            }, 1, quick ? 0 : budget), 0, 0);
      }
    }

    // Attention: decode over a 4096-token cache and a 512-token causal prefill (32 heads, 8 kv
    // heads, head size 128).
    {
      const int64_t nh = 32, nkv = 8, hd = 128;
      for (auto [T, P] : {std::pair<int64_t, int64_t>{1, 4096}, {512, 0}}) {
        const auto q = random_floats(T * nh * hd, 1), kk = random_floats((P + T) * nkv * hd, 2),
                   v = random_floats((P + T) * nkv * hd, 3);
        std::vector<float> out(T * nh * hd);
        const float scale = 1.0f / std::sqrt(float(hd));
        const std::string shape = "T=" + std::to_string(T) + " P=" + std::to_string(P) + " 32/8x128";
        const double kv_bytes = 2.0 * (P + T) * nkv * hd * sizeof(float);
        for (const auto* be : fast)
          add("attention", shape, *be, time_best([&] {
                be->attention(q.data(), kk.data(), v.data(), T, P, nh, nkv, hd, scale, out.data());
              }, 5, budget), 0, kv_bytes);
        add("attention", shape, ref, time_best([&] {
              ref.attention(q.data(), kk.data(), v.data(), T, P, nh, nkv, hd, scale, out.data());
            }, 1, quick ? 0 : budget), 0, kv_bytes);
      }
    }

    // The elementwise ops at a 512-token prefill of a 5120-channel Mamba layer.
    {
      const int64_t T = 512, C = 5120, K = 4, count = T * C;
      const auto x = random_floats(count, 1), up = random_floats(count, 2), w = random_floats(C * K, 3),
                 bias = random_floats(C, 4), norm = random_floats(C, 5);
      std::vector<float> y(count), state((K - 1) * C, 0.0f);
      for (const auto* be : {fast[0], &ref}) {
        add("conv1d_silu", "T=512 C=5120 K=4", *be, time_best([&] {
              be->causal_conv1d_silu(x.data(), T, C, w.data(), K, bias.data(), state.data(), y.data());
            }, 3, budget), 0, 0);
        add("rmsnorm", "rows=512 n=5120", *be,
            time_best([&] { be->rmsnorm(x.data(), T, C, norm.data(), 1e-6f, y.data()); }, 3, budget), 0, 0);
        add("silu_mul", "n=512*5120", *be,
            time_best([&] { be->silu_mul(x.data(), up.data(), count, y.data()); }, 3, budget), 0, 0);
        add("softplus", "n=512*5120", *be, time_best([&] { be->softplus(x.data(), count, y.data()); }, 3, budget), 0, 0);
      }
    }

  }

  const char* isa = jamba::ops::cpu_isa_name(jamba::ops::best_cpu_isa());
  if (json) {
    std::printf("{\"threads\":%d,\"cpu_isa\":\"%s\",\"read_gbps\":%.2f,\"read_gbps_one_thread\":%.2f,"
                "\"fork_join_us\":%.2f,\"results\":[",
                threads, isa, bw_all, bw_one, fork_us);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s{\"op\":\"%s\",\"shape\":\"%s\",\"backend\":\"%s\",\"ms\":%.4f", i ? "," : "", r.op.c_str(),
                  r.shape.c_str(), r.backend.c_str(), r.ms);
      if (r.gflops > 0) std::printf(",\"gflops\":%.2f", r.gflops);
      if (r.gbytes > 0) std::printf(",\"gbps\":%.2f,\"of_read_bw\":%.3f", r.gbytes, r.gbytes / bw_all);
      std::printf("}");
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("threads %d, cpu backend ISA %s; read bandwidth %.1f GB/s (%.1f one thread); omp fork/join %.2f us\n\n",
              threads, isa, bw_all, bw_one, fork_us);
  std::printf("%-14s %-28s %-12s %10s %9s %9s %8s %9s\n", "op", "shape", "backend", "ms", "GFLOP/s", "GB/s",
              "of read", "vs ref");
  for (const Row& r : rows) {
    double ref_ms = 0;
    for (const Row& o : rows)
      if (o.op == r.op && o.shape == r.shape && o.backend == "ref") ref_ms = o.ms;
    std::printf("%-14s %-28s %-12s %10.3f", r.op.c_str(), r.shape.c_str(), r.backend.c_str(), r.ms);
    r.gflops > 0 ? std::printf(" %9.1f", r.gflops) : std::printf(" %9s", "");
    r.gbytes > 0 ? std::printf(" %9.1f %7.0f%%", r.gbytes, 100 * r.gbytes / bw_all) : std::printf(" %9s %8s", "", "");
    ref_ms > 0 && r.backend != "ref" ? std::printf(" %8.1fx\n", ref_ms / r.ms) : std::printf("\n");
  }
  return 0;
}
