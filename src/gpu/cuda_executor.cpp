// The forward of model/forward.cpp on the GPU, op for op (reference/hf_jamba.md §2): matmuls
// over all rows of the batch at once; conv and scan per sequence while prefilling, once for the
// whole batch in decode steps (one token per sequence, states in the cache's pool); attention
// per sequence, on its device-resident KV. dt_proj runs without its bias: the scan adds it and
// applies softplus (the mamba kernels' fusion; the same floats as bias-then-softplus). Residual
// adds are fused into the next norm, gate/up into one matmul of the stacked weights.
#include "gpu/cuda_executor.h"

#include <cuda_runtime.h>

#include <cmath>

#include "base/error.h"
#include "gpu/device_weights.h"
#include "ops/cuda/cuda_ops.h"

namespace jamba::gpu {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail("CUDA: ", what, ": ", cudaGetErrorString(err));
}

// Cache floats in device memory; copies are ordered on the executor's stream.
class DeviceCacheMemory final : public CacheMemory {
 public:
  explicit DeviceCacheMemory(cudaStream_t stream) : stream_(stream) {}
  float* allocate(int64_t floats) override {
    void* p = nullptr;
    const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      cudaGetLastError();
      size_t free_bytes = 0, total = 0;
      cudaMemGetInfo(&free_bytes, &total);
      fail("out of GPU memory for the cache: ", bytes >> 20, " MiB asked, ", free_bytes >> 20, " MiB free of ",
           total >> 20, " MiB (lower --ctx or the batch)");
    }
    check(cudaMemsetAsync(p, 0, bytes, stream_), "clearing cache memory");
    return static_cast<float*>(p);
  }
  void release(float* p) noexcept override {
    cudaStreamSynchronize(stream_);  // kernels queued on it may still read the block
    cudaFree(p);
  }
  void fill_zero(float* p, int64_t floats) override {
    check(cudaMemsetAsync(p, 0, static_cast<size_t>(floats) * sizeof(float), stream_), "clearing cache memory");
  }
  void copy(float* dst, const float* src, int64_t floats) override {
    if (floats <= 0) return;
    check(cudaMemcpyAsync(dst, src, static_cast<size_t>(floats) * sizeof(float), cudaMemcpyDeviceToDevice, stream_),
          "copying cache rows");
  }
  void upload(float* dst, const float* host, int64_t floats) override {
    if (floats <= 0) return;
    check(cudaMemcpyAsync(dst, host, static_cast<size_t>(floats) * sizeof(float), cudaMemcpyHostToDevice, stream_),
          "uploading cache rows");
    check(cudaStreamSynchronize(stream_), "uploading cache rows");  // `host` may go away on return
  }
  void download(float* host, const float* src, int64_t floats) const override {
    if (floats <= 0) return;
    check(cudaMemcpyAsync(host, src, static_cast<size_t>(floats) * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "downloading cache rows");
    check(cudaStreamSynchronize(stream_), "downloading cache rows");
  }

 private:
  cudaStream_t stream_;
};

// A device array that grows to the largest size asked of it (activations reused step to step).
class DeviceArray {
 public:
  ~DeviceArray() {
    if (data_) cudaFree(data_);
  }
  template <typename T>
  T* get(int64_t count) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    if (bytes > bytes_) {
      if (data_) {
        check(cudaDeviceSynchronize(), "resizing activations");
        cudaFree(data_);
        data_ = nullptr;
        bytes_ = 0;
      }
      if (cudaMalloc(&data_, bytes) != cudaSuccess) {
        cudaGetLastError();
        fail("out of GPU memory for activations (", bytes >> 20, " MiB; lower --prefill-chunk or the batch)");
      }
      bytes_ = bytes;
    }
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class CudaExecutor final : public Executor {
 public:
  CudaExecutor(const Model& model, MatmulMode mode)
      : model_(model), stream_(make_stream()), ctx_(reinterpret_cast<cuda::Stream>(stream_)),
        memory_(std::make_shared<DeviceCacheMemory>(stream_)) {
    if (mode == MatmulMode::kAuto) mode = model.config.torch_dtype == "float32" ? MatmulMode::kExact : MatmulMode::kFast;
    precision_ = mode == MatmulMode::kExact ? cuda::MatmulPrecision::kExact : cuda::MatmulPrecision::kFast;
    weights_ = std::make_unique<DeviceWeights>(model);
  }
  ~CudaExecutor() override {
    weights_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string describe() const override {
    return cat("cuda (", cuda::device_summary(), "; ", cuda::precision_name(precision_), " matmuls; weights ",
               weights_->bytes() >> 20, " MiB on the GPU)");
  }
  std::shared_ptr<CacheMemory> cache_memory() override { return memory_; }
  std::vector<std::vector<float>> forward(const Model& model, HybridCache& cache,
                                          const std::vector<SequenceChunk>& chunks) override;

 private:
  static cudaStream_t make_stream() {
    std::string why;
    if (!cuda::device_available(&why)) fail("--device cuda: no usable CUDA device (", why, ")");
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "creating a stream");
    return s;
  }
  void matmul(const float* x, int64_t rows, const TensorView& w, const float* bias, float* y) {
    cuda::matmul(ctx_, x, rows, w, bias, y, precision_);
  }
  void attention(HybridCache& cache, const LayerSpec& spec, const DeviceLayer& w,
                 const std::vector<BatchSegment>& segments, const float* x, int64_t rows, float* out);
  void mamba(HybridCache& cache, const LayerSpec& spec, const DeviceMamba& w, const std::vector<BatchSegment>& segments,
             const float* x, int64_t rows, float* out);
  void dense_ffn(const TensorView& gate_up, const TensorView& down, const float* x, int64_t rows, float* out);

  const Model& model_;
  cudaStream_t stream_;
  cuda::Context ctx_;
  std::shared_ptr<DeviceCacheMemory> memory_;
  cuda::MatmulPrecision precision_ = cuda::MatmulPrecision::kFast;
  std::unique_ptr<DeviceWeights> weights_;
  // Activations, reused from step to step.
  DeviceArray ids_, h_, x_, out_, a_, b_, c_, d_, e_, f_, g_, logits_;
  const int32_t* state_slots_ = nullptr;  // this step's sequences' Mamba pool indices (decode batches)
};

void CudaExecutor::attention(HybridCache& cache, const LayerSpec& spec, const DeviceLayer& w,
                             const std::vector<BatchSegment>& segments, const float* x, int64_t rows, float* out) {
  const ModelConfig& c = model_.config;
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  float* q = a_.get<float>(rows * nh * hd);
  float* k = b_.get<float>(rows * nkv * hd);
  float* v = c_.get<float>(rows * nkv * hd);
  float* o = d_.get<float>(rows * nh * hd);
  matmul(x, rows, w.q_proj, nullptr, q);
  matmul(x, rows, w.k_proj, nullptr, k);
  matmul(x, rows, w.v_proj, nullptr, v);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (const BatchSegment& s : segments) {
    cache.append_kv(s.seq, spec.attention_slot, k + s.row * nkv * hd, v + s.row * nkv * hd, s.count);
    cuda::attention(ctx_, q + s.row * nh * hd, cache.keys(s.seq, spec.attention_slot),
                    cache.values(s.seq, spec.attention_slot), s.count, s.past, nh, nkv, hd, scale, o + s.row * nh * hd);
  }
  matmul(o, rows, w.o_proj, nullptr, out);
}

void CudaExecutor::mamba(HybridCache& cache, const LayerSpec& spec, const DeviceMamba& w,
                         const std::vector<BatchSegment>& segments, const float* x, int64_t rows, float* out) {
  const ModelConfig& c = model_.config;
  const int64_t Di = c.d_inner(), N = c.mamba_d_state, K = c.mamba_d_conv, R = c.mamba_dt_rank;
  const float eps = static_cast<float>(c.rms_norm_eps);
  float* xz = a_.get<float>(rows * 2 * Di);
  matmul(x, rows, w.in_proj, w.in_proj_bias, xz);
  float* xs = b_.get<float>(rows * Di);
  float* z = c_.get<float>(rows * Di);
  float* u = d_.get<float>(rows * Di);
  cuda::copy_columns(ctx_, xz, rows, 2 * Di, 0, Di, xs);
  cuda::copy_columns(ctx_, xz, rows, 2 * Di, Di, Di, z);
  // A decode batch (one token per sequence) runs the conv and the scan once for all sequences,
  // on the cache's state pool indexed by state_slots_; otherwise each sequence runs on its own.
  const bool decode_batch = rows == static_cast<int64_t>(segments.size());
  const MambaPool pool = cache.mamba_pool(spec.mamba_slot);
  if (decode_batch) {
    cuda::causal_conv1d_silu_update(ctx_, xs, rows, Di, w.conv_weight, K, w.conv_bias, pool.conv, state_slots_, u);
  } else {
    for (const BatchSegment& s : segments) {
      const MambaStateRef state = cache.mamba(s.seq, spec.mamba_slot);
      cuda::causal_conv1d_silu(ctx_, xs + s.row * Di, s.count, Di, w.conv_weight, K, w.conv_bias, state.conv,
                               u + s.row * Di);
    }
  }
  // x_proj -> [dt | B | C], each RMSNorm'd (Jamba's difference from plain Mamba-1).
  const int64_t dbc_cols = R + 2 * N;
  float* dbc = e_.get<float>(rows * dbc_cols);
  matmul(u, rows, w.x_proj, nullptr, dbc);
  float* small = f_.get<float>(rows * (R + 2 * N));  // [dt_low rows*R | B rows*N | C rows*N]
  float* dt_low = small;
  float* B = small + rows * R;
  float* C = B + rows * N;
  const int64_t widths[3] = {R, N, N};
  const float* const norms[3] = {w.dt_norm, w.b_norm, w.c_norm};
  float* const parts[3] = {dt_low, B, C};
  cuda::split_rmsnorm3(ctx_, dbc, rows, widths, norms, eps, parts);
  float* delta = xs;  // xs is consumed by the conv: reuse it for dt_proj's output
  matmul(dt_low, rows, w.dt_proj, nullptr, delta);
  cuda::ScanOptions options;
  options.delta_bias = w.dt_bias;
  options.delta_softplus = true;
  float* y = g_.get<float>(rows * Di);
  if (decode_batch) {
    cuda::selective_scan_step(ctx_, rows, u, delta, w.A, B, C, w.D, z, Di, N, pool.ssm, state_slots_, y, options);
  } else {
    for (const BatchSegment& s : segments) {
      const MambaStateRef state = cache.mamba(s.seq, spec.mamba_slot);
      const int64_t r = s.row;
      cuda::selective_scan(ctx_, u + r * Di, delta + r * Di, w.A, B + r * N, C + r * N, w.D, z + r * Di, s.count,
                           Di, N, state.ssm, y + r * Di, options);
    }
  }
  matmul(y, rows, w.out_proj, w.out_proj_bias, out);
}

void CudaExecutor::dense_ffn(const TensorView& gate_up, const TensorView& down, const float* x, int64_t rows,
                             float* out) {
  const int64_t I = gate_up.shape[0] / 2;
  float* gu = a_.get<float>(rows * 2 * I);
  float* g = b_.get<float>(rows * I);
  matmul(x, rows, gate_up, nullptr, gu);
  cuda::silu_mul_halves(ctx_, gu, rows, I, g);
  matmul(g, rows, down, nullptr, out);
}

std::vector<std::vector<float>> CudaExecutor::forward(const Model& m, HybridCache& cache,
                                                      const std::vector<SequenceChunk>& chunks) {
  if (&m != &model_) fail("cuda executor: called with a model other than the one uploaded");
  const ModelConfig& c = m.config;
  const int64_t H = c.hidden_size, V = c.vocab_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const std::vector<BatchSegment> segments = plan_batch(m, cache, chunks);
  int64_t rows = 0;
  for (const BatchSegment& s : segments) rows += s.count;

  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(rows));
  for (const SequenceChunk& chunk : chunks) ids.insert(ids.end(), chunk.tokens.begin(), chunk.tokens.end());
  // Token ids and the sequences' Mamba pool indices go up together.
  for (const BatchSegment& s : segments) ids.push_back(static_cast<int32_t>(cache.state_index(s.seq)));
  int32_t* ids_dev = ids_.get<int32_t>(static_cast<int64_t>(ids.size()));
  check(cudaMemcpyAsync(ids_dev, ids.data(), ids.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_),
        "uploading token ids");
  state_slots_ = ids_dev + rows;
  float* h = h_.get<float>(rows * H);
  float* x = x_.get<float>(rows * H);
  float* out = out_.get<float>(rows * H);
  cuda::embed_rows(ctx_, weights_->embed_tokens, ids_dev, rows, h);

  // Each residual add is fused into the norm that follows it (the last one stands alone).
  for (size_t i = 0; i < m.plan.layers.size(); ++i) {
    const LayerSpec& spec = m.plan.layers[i];
    const DeviceLayer& lw = weights_->layers[i];
    if (i == 0)
      cuda::rmsnorm(ctx_, h, rows, H, lw.input_norm, eps, x);
    else
      cuda::add_rmsnorm(ctx_, h, out, rows, H, lw.input_norm, eps, x);
    if (spec.mixer == Mixer::Attention)
      attention(cache, spec, lw, segments, x, rows, out);
    else
      mamba(cache, spec, lw.mamba, segments, x, rows, out);

    cuda::add_rmsnorm(ctx_, h, out, rows, H, lw.pre_ff_norm, eps, x);
    if (spec.ffn == Ffn::MoE) {
      const int64_t E = c.num_experts;
      float* router_logits = c_.get<float>(rows * E);
      matmul(x, rows, lw.router, nullptr, router_logits);
      cuda::moe_ffn(ctx_, x, rows, H, c.intermediate_size, router_logits, E, c.num_experts_per_tok,
                    lw.experts.data(), precision_, out);
    } else {
      dense_ffn(lw.gate_up, lw.down_proj, x, rows, out);
    }
  }
  if (!m.plan.layers.empty()) cuda::add_into(ctx_, h, out, rows * H);
  for (const BatchSegment& s : segments) cache.commit(s.seq, s.count);

  // Final norm of the rows whose logits were asked for, gathered; one lm_head matmul over them.
  int64_t wanted = 0;
  for (size_t i = 0; i < chunks.size(); ++i) wanted += chunks[i].all_logits ? segments[i].count : 1;
  float* normed = x_.get<float>(wanted * H);  // x (rows*H) is no longer needed; wanted <= rows
  int64_t at = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const BatchSegment& s = segments[i];
    const int64_t first = chunks[i].all_logits ? s.row : s.row + s.count - 1;
    const int64_t n = s.row + s.count - first;
    cuda::rmsnorm(ctx_, h + first * H, n, H, weights_->final_norm, eps, normed + at * H);
    at += n;
  }
  float* logits_dev = logits_.get<float>(wanted * V);
  matmul(normed, wanted, weights_->lm_head, nullptr, logits_dev);
  std::vector<float> all(static_cast<size_t>(wanted * V));
  check(cudaMemcpyAsync(all.data(), logits_dev, all.size() * sizeof(float), cudaMemcpyDeviceToHost, stream_),
        "downloading logits");
  ctx_.synchronize();

  std::vector<std::vector<float>> logits(chunks.size());
  at = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const int64_t n = chunks[i].all_logits ? segments[i].count : 1;
    logits[i].assign(all.begin() + at * V, all.begin() + (at + n) * V);
    at += n;
  }
  return logits;
}

}  // namespace

MatmulMode matmul_mode_from_name(const std::string& name) {
  if (name == "auto") return MatmulMode::kAuto;
  if (name == "exact") return MatmulMode::kExact;
  if (name == "fast") return MatmulMode::kFast;
  fail("unknown matmul mode '", name, "' (expected auto, exact or fast)");
}

std::unique_ptr<Executor> cuda_executor(const Model& model, MatmulMode mode) {
  return std::make_unique<CudaExecutor>(model, mode);
}

}  // namespace jamba::gpu
