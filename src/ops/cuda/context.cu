// The Context (stream, cuBLASLt handle + workspace, scratch arena) and the host-side helpers.
#include <cstdio>

#include "ops/cuda/common.cuh"

namespace jamba::cuda {

void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
  fail("CUDA error ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ") in ", what, " at ", file, ":",
       line);
}

void throw_cublas(cublasStatus_t st, const char* what, const char* file, int line) {
  fail("cuBLASLt error ", static_cast<int>(st), " (", cublasLtGetStatusName(st), ": ", cublasLtGetStatusString(st),
       ") in ", what, " at ", file, ":", line);
}

bool device_available(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why) *why = cat("cudaGetDeviceCount failed: ", cudaGetErrorString(err));
    cudaGetLastError();
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device";
    return false;
  }
  return true;
}

std::string device_summary() {
  int dev = 0;
  JAMBA_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  JAMBA_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  int clock_khz = 0, mem_clock_khz = 0, bus_width = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev);
  cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, dev);
  cudaDeviceGetAttribute(&bus_width, cudaDevAttrGlobalMemoryBusWidth, dev);
  return cat(prop.name, ", cc ", prop.major, ".", prop.minor, ", ", prop.multiProcessorCount, " SMs, ",
             prop.totalGlobalMem >> 20, " MiB, L2 ", prop.l2CacheSize >> 20, " MiB, smem/block opt-in ",
             prop.sharedMemPerBlockOptin >> 10, " KiB, SM clock ", clock_khz / 1000, " MHz, mem clock ",
             mem_clock_khz / 1000, " MHz x ", bus_width, " bit, driver ", driver, ", runtime ", runtime);
}

void Context::Impl::reserve(size_t bytes) {
  bytes = align_up(bytes < 256 ? 256 : bytes, 256);
  if (bytes <= scratch_bytes) return;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  JAMBA_CUDA_CHECK(cudaStreamIsCapturing(stream, &capturing));
  require(capturing == cudaStreamCaptureStatusNone, "scratch", "needs ", bytes,
          " bytes of scratch while a CUDA graph is being captured (have ", scratch_bytes,
          "); call Context::reserve_scratch before capturing");
  require(scratch_top == 0, "scratch", "internal: growing to ", bytes, " bytes while ", scratch_top,
          " bytes are in use (the op must reserve its total first)");
  JAMBA_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (scratch) JAMBA_CUDA_CHECK(cudaFree(scratch));
  scratch = nullptr;
  scratch_bytes = 0;
  // Grow geometrically so a sequence of slightly larger requests does not reallocate each time.
  const size_t grown = align_up(bytes + bytes / 4, 256);
  JAMBA_CUDA_CHECK(cudaMalloc(&scratch, grown));
  scratch_bytes = grown;
}

void* Context::Impl::push(size_t bytes) {
  const size_t need = scratch_top + align_up(bytes < 1 ? 1 : bytes, 256);
  if (need > scratch_bytes) reserve(need);
  void* p = static_cast<char*>(scratch) + scratch_top;
  scratch_top = need;
  return p;
}

Context::Context(Stream stream) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.stream = as_cuda(stream);
  JAMBA_CUDA_CHECK(cudaGetDevice(&d.device));
  JAMBA_CUDA_CHECK(cudaDeviceGetAttribute(&d.sm_count, cudaDevAttrMultiProcessorCount, d.device));
  int optin = 0;
  JAMBA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, d.device));
  d.max_smem_optin = static_cast<size_t>(optin);
  JAMBA_CUBLAS_CHECK(cublasLtCreate(&d.lt));
  d.lt_workspace_bytes = 32u << 20;  // NVIDIA's recommendation for Hopper
  JAMBA_CUDA_CHECK(cudaMalloc(&d.lt_workspace, d.lt_workspace_bytes));
}

Context::~Context() {
  Impl& d = *impl_;
  for (auto& [key, plan] : d.plans) {
    if (plan.desc) cublasLtMatmulDescDestroy(plan.desc);
    if (plan.a) cublasLtMatrixLayoutDestroy(plan.a);
    if (plan.b) cublasLtMatrixLayoutDestroy(plan.b);
    if (plan.c) cublasLtMatrixLayoutDestroy(plan.c);
  }
  if (d.lt) cublasLtDestroy(d.lt);
  if (d.lt_workspace) cudaFree(d.lt_workspace);
  if (d.scratch) cudaFree(d.scratch);
}

Stream Context::stream() const { return reinterpret_cast<Stream>(impl_->stream); }
void Context::set_stream(Stream stream) { impl_->stream = as_cuda(stream); }
int Context::sm_count() const { return impl_->sm_count; }
void Context::synchronize() const { JAMBA_CUDA_CHECK(cudaStreamSynchronize(impl_->stream)); }
void Context::reserve_scratch(size_t bytes) { impl_->reserve(bytes); }
size_t Context::scratch_capacity() const { return impl_->scratch_bytes; }

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  JAMBA_CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
  return p;
}
void device_free(void* p) {
  if (p) JAMBA_CUDA_CHECK(cudaFree(p));
}
void copy_to_device(void* dst, const void* src, size_t bytes) {
  JAMBA_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  JAMBA_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void device_memset_zero(void* p, size_t bytes) { JAMBA_CUDA_CHECK(cudaMemset(p, 0, bytes)); }
int64_t device_free_bytes() {
  size_t free_bytes = 0, total = 0;
  JAMBA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return static_cast<int64_t>(free_bytes);
}

const char* precision_name(MatmulPrecision p) { return p == MatmulPrecision::kExact ? "exact" : "fast"; }

}  // namespace jamba::cuda
