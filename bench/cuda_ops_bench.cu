// Micro-benchmark of the CUDA ops against the device's own copy bandwidth, measured in the same
// run. Bytes are the minimum each op must move (inputs read once, outputs written once); GB/s =
// bytes / median time; "% copy" compares with cudaMemcpy device-to-device counting read + write.
// Inputs rotate over several buffers where one call's working set would sit in L2 (50 MB on
// H100), so the decode numbers are HBM numbers.
//   cuda_ops_bench [--quick]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "ops/cuda/cuda_ops.h"

using namespace jamba;

namespace {

#define CK(expr)                                                                                       \
  do {                                                                                                 \
    cudaError_t e_ = (expr);                                                                           \
    if (e_ != cudaSuccess) fail("CUDA ", cudaGetErrorName(e_), ": ", cudaGetErrorString(e_), " in ", #expr); \
  } while (0)

double g_copy_gbs = 0;

struct Buf {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Buf(size_t b) : bytes(b) {
    CK(cudaMalloc(&p, b));
    fill_random(0.5f);
  }
  ~Buf() { cudaFree(p); }
  Buf(const Buf&) = delete;
  float* f() const { return static_cast<float*>(p); }
  void fill_random(float amplitude);
};

__global__ void fill_kernel(float* p, size_t n, float amplitude, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
    p[i] = amplitude * (static_cast<float>(h & 0xffffff) / 8388608.0f - 1.0f);
  }
}

// Finite 16-bit patterns (small magnitudes as both f16 and bf16).
__global__ void fill_bits16_kernel(uint16_t* p, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u;
    h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
    p[i] = static_cast<uint16_t>(0x3800u | (h & 0x83ffu));
  }
}

const char* dtype_label(DType d) { return d == DType::F32 ? "F32" : d == DType::BF16 ? "BF16" : "F16"; }

void Buf::fill_random(float amplitude) {
  static uint32_t seed = 1;
  fill_kernel<<<1024, 256>>>(static_cast<float*>(p), bytes / 4, amplitude, seed++);
  CK(cudaGetLastError());
}

// Median over `reps` timings of `iters` calls (after warm-up), in milliseconds per call.
double time_ms(const std::function<void(int)>& call, int iters, int reps = 5) {
  for (int i = 0; i < 3; ++i) call(i);
  CK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(a));
    for (int i = 0; i < iters; ++i) call(i);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms / iters);
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void line(const std::string& what, double ms, double bytes, double flops = 0, const std::string& extra = "") {
  const double gbs = bytes / (ms * 1e-3) / 1e9;
  std::printf("%-62s %9.3f us  %8.1f GB/s", what.c_str(), ms * 1e3, gbs);
  if (g_copy_gbs > 0 && bytes > 0) std::printf("  %5.1f%% copy", 100.0 * gbs / g_copy_gbs);
  if (flops > 0) std::printf("  %7.1f TFLOP/s", flops / (ms * 1e-3) / 1e12);
  if (!extra.empty()) std::printf("  %s", extra.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

void bench_copy() {
  const size_t bytes = size_t{1} << 30;
  Buf a(bytes), b(bytes);
  const double ms = time_ms([&](int) { CK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice)); }, 10);
  g_copy_gbs = 2.0 * bytes / (ms * 1e-3) / 1e9;
  line("copy D2D 1 GiB (read + write counted) = reference", ms, 2.0 * bytes);
}

void bench_scan_step(cuda::Context& ctx, int64_t batch) {
  const int64_t Di = 8192, N = 16;
  // Enough state slots that consecutive calls touch different memory (> L2).
  const int64_t slots_total = std::max<int64_t>(batch, 256);
  const int64_t rotations = std::max<int64_t>(1, slots_total / batch);
  Buf pool(static_cast<size_t>(slots_total * Di * N) * 4);
  Buf u(batch * Di * 4), dt(batch * Di * 4), z(batch * Di * 4), y(batch * Di * 4), B(batch * N * 4), C(batch * N * 4);
  Buf A(Di * N * 4), D(Di * 4), bias(Di * 4);
  // A must be negative for a sane recurrence.
  std::vector<float> hA(static_cast<size_t>(Di * N));
  for (int64_t i = 0; i < Di * N; ++i) hA[i] = -1.0f - static_cast<float>(i % N);
  CK(cudaMemcpy(A.p, hA.data(), hA.size() * 4, cudaMemcpyHostToDevice));
  std::vector<int32_t> hs(static_cast<size_t>(rotations * batch));
  for (int64_t r = 0; r < rotations; ++r)
    for (int64_t b = 0; b < batch; ++b) hs[r * batch + b] = static_cast<int32_t>((r * batch + b) % slots_total);
  int32_t* slots = nullptr;
  CK(cudaMalloc(&slots, hs.size() * 4));
  CK(cudaMemcpy(slots, hs.data(), hs.size() * 4, cudaMemcpyHostToDevice));
  cuda::ScanOptions opt;
  opt.delta_bias = bias.f();
  opt.delta_softplus = true;
  const double ms = time_ms(
      [&](int i) {
        cuda::selective_scan_step(ctx, batch, u.f(), dt.f(), A.f(), B.f(), C.f(), D.f(), z.f(), Di, N, pool.f(),
                                  slots + (i % rotations) * batch, y.f(), opt);
      },
      200);
  const double bytes = batch * (2.0 * Di * N * 4 + 4.0 * Di * 4 + 2.0 * N * 4) + Di * N * 4.0 + 2.0 * Di * 4;
  line("scan decode step Di=8192 N=16 batch=" + std::to_string(batch) + " (state r+w)", ms, bytes, 0,
       "state " + std::to_string(batch * Di * N * 4 / 1024) + " KiB");
  CK(cudaFree(slots));
}

void bench_scan_prefill(cuda::Context& ctx, int64_t T, int64_t Di, int64_t N) {
  Buf u(T * Di * 4), dt(T * Di * 4), z(T * Di * 4), y(T * Di * 4), B(T * N * 4), C(T * N * 4);
  Buf A(Di * N * 4), D(Di * 4), state(Di * N * 4), bias(Di * 4);
  std::vector<float> hA(static_cast<size_t>(Di * N));
  for (int64_t i = 0; i < Di * N; ++i) hA[i] = -1.0f - static_cast<float>(i % N);
  CK(cudaMemcpy(A.p, hA.data(), hA.size() * 4, cudaMemcpyHostToDevice));
  cuda::ScanOptions opt;
  opt.delta_bias = bias.f();
  opt.delta_softplus = true;
  const double ms = time_ms(
      [&](int) {
        cuda::selective_scan(ctx, u.f(), dt.f(), A.f(), B.f(), C.f(), D.f(), z.f(), T, Di, N, state.f(), y.f(), opt);
      },
      5, 3);
  const double bytes = T * Di * 4.0 * 4 + T * N * 4.0 * 2;
  char extra[128];
  std::snprintf(extra, sizeof extra, "%.2f Mtok/s, %.1f G state-updates/s", T / (ms * 1e-3) / 1e6,
                T * Di * N / (ms * 1e-3) / 1e9);
  line("scan prefill T=" + std::to_string(T) + " Di=" + std::to_string(Di) + " N=" + std::to_string(N) +
           " (u,dt,z,y fp32)",
       ms, bytes, 0, extra);
}

void bench_conv(cuda::Context& ctx, int64_t T, int64_t C) {
  Buf x(T * C * 4), y(T * C * 4), w(C * 4 * 4), b(C * 4), state(3 * C * 4);
  const double ms = time_ms([&](int) { cuda::causal_conv1d_silu(ctx, x.f(), T, C, w.f(), 4, b.f(), state.f(), y.f()); },
                            10, 3);
  line("conv1d prefill T=" + std::to_string(T) + " C=" + std::to_string(C) + " K=4", ms, T * C * 8.0);
}

void bench_attention_decode(cuda::Context& ctx, int64_t L, Buf& k, Buf& v) {
  const int64_t nh = 32, nkv = 8, hd = 128;
  Buf q(nh * hd * 4), out(nh * hd * 4);
  const float scale = 1.0f / std::sqrt(128.0f);
  const double ms = time_ms(
      [&](int) { cuda::attention(ctx, q.f(), k.f(), v.f(), 1, L - 1, nh, nkv, hd, scale, out.f()); }, 20);
  const double bytes = 2.0 * L * nkv * hd * 4 + 2.0 * nh * hd * 4;
  line("attention decode L=" + std::to_string(L) + " 32q/8kv hd=128 fp32 KV (split-KV)", ms, bytes, 4.0 * L * nh * hd,
       "KV " + std::to_string(static_cast<long long>(2.0 * L * nkv * hd * 4 / (1 << 20))) + " MiB");
}

void bench_attention_prefill(cuda::Context& ctx, int64_t T) {
  const int64_t nh = 32, nkv = 8, hd = 128;
  Buf q(T * nh * hd * 4), k(T * nkv * hd * 4), v(T * nkv * hd * 4), out(T * nh * hd * 4);
  const float scale = 1.0f / std::sqrt(128.0f);
  const double ms = time_ms(
      [&](int) { cuda::attention(ctx, q.f(), k.f(), v.f(), T, 0, nh, nkv, hd, scale, out.f()); }, 3, 3);
  const double flops = 2.0 * 2.0 * T * T / 2 * nh * hd;  // causal: half the T² scores, QK and PV
  line("attention prefill T=" + std::to_string(T) + " P=0 32q/8kv hd=128 (fp32 SIMT)", ms,
       (2.0 * T * nh * hd + 2.0 * T * nkv * hd) * 4, flops);
}

void bench_matmul(cuda::Context& ctx, int64_t m, int64_t n, int64_t k, DType dt, cuda::MatmulPrecision prec,
                  int rotate) {
  const size_t wbytes = static_cast<size_t>(n * k) * (dt == DType::F32 ? 4 : 2);
  std::vector<std::unique_ptr<Buf>> ws;
  for (int i = 0; i < rotate; ++i) {
    ws.push_back(std::make_unique<Buf>(wbytes));
    if (dt != DType::F32) fill_bits16_kernel<<<1024, 256>>>(static_cast<uint16_t*>(ws.back()->p), wbytes / 2);
  }
  Buf x(m * k * 4), y(m * n * 4);
  std::vector<TensorView> views(static_cast<size_t>(rotate));
  for (int i = 0; i < rotate; ++i) {
    views[i].dtype = dt;
    views[i].shape = {n, k};
    views[i].data = ws[i]->p;
    views[i].device = Device::CUDA;
  }
  const double ms =
      time_ms([&](int i) { cuda::matmul(ctx, x.f(), m, views[i % rotate], nullptr, y.f(), prec); }, m <= 8 ? 50 : 10, 3);
  const double bytes = static_cast<double>(wbytes) + m * k * 4.0 + m * n * 4.0;
  line("matmul " + std::string(dtype_label(dt)) + " " + cuda::precision_name(prec) + " m=" + std::to_string(m) +
           " n=" + std::to_string(n) + " k=" + std::to_string(k),
       ms, bytes, 2.0 * m * n * k);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  std::string why;
  if (!cuda::device_available(&why)) {
    std::printf("SKIP: no usable CUDA device (%s)\n", why.c_str());
    return 77;
  }
  try {
    std::printf("device: %s\n", cuda::device_summary().c_str());
    cuda::Context ctx;
    bench_copy();

    std::printf("-- decode: Mamba scan step (one token per sequence)\n");
    for (int64_t b : {1, 8, 64, 256}) bench_scan_step(ctx, b);

    std::printf("-- decode: split-KV attention, batch 1, one new token\n");
    {
      const int64_t Lmax = quick ? 32768 : 131072;
      Buf k(static_cast<size_t>(Lmax) * 8 * 128 * 4), v(static_cast<size_t>(Lmax) * 8 * 128 * 4);
      for (int64_t L : {int64_t{4096}, int64_t{32768}, int64_t{131072}})
        if (L <= Lmax) bench_attention_decode(ctx, L, k, v);
    }

    std::printf("-- prefill\n");
    bench_scan_prefill(ctx, 2048, 8192, 16);
    if (!quick) bench_scan_prefill(ctx, 8192, 8192, 16);
    bench_conv(ctx, 8192, 8192);
    bench_attention_prefill(ctx, quick ? 1024 : 4096);

    std::printf("-- matmul (weights rotated over 4 copies for m ≤ 8 so they stream from HBM)\n");
    bench_matmul(ctx, 1, 16384, 4096, DType::BF16, cuda::MatmulPrecision::kFast, 4);
    bench_matmul(ctx, 8, 16384, 4096, DType::BF16, cuda::MatmulPrecision::kFast, 4);
    bench_matmul(ctx, 1, 4096, 14336, DType::F32, cuda::MatmulPrecision::kExact, 4);
    bench_matmul(ctx, 4096, 4096, 4096, DType::BF16, cuda::MatmulPrecision::kFast, 1);
    bench_matmul(ctx, 4096, 4096, 4096, DType::BF16, cuda::MatmulPrecision::kExact, 1);
    bench_matmul(ctx, 4096, 4096, 4096, DType::F32, cuda::MatmulPrecision::kFast, 1);
    bench_matmul(ctx, 4096, 4096, 4096, DType::F32, cuda::MatmulPrecision::kExact, 1);
    bench_matmul(ctx, 1024, 4096, 4096, DType::F16, cuda::MatmulPrecision::kExact, 1);
    CK(cudaDeviceSynchronize());
  } catch (const std::exception& e) {
    std::printf("BENCH FAILED: %s\n", e.what());
    return 1;
  }
  return 0;
}
