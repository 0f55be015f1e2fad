#include "gpu/device_weights.h"

#include "base/error.h"

namespace jamba::gpu {

namespace {

void check_runnable(const TensorView& host, const char* what) {
  if (host.dtype == DType::Q4)
    fail("the CUDA backend runs F32, F16, BF16 and int8 weights; ", what, " is int4 (quantize with --type int8, "
         "or run int4 on the CPU)");
  if (!is_weight_dtype(host.dtype) && host.dtype != DType::Q8)
    fail("the CUDA backend cannot run ", what, " of dtype ", dtype_name(host.dtype));
}

int64_t data_bytes(const TensorView& t) {
  return t.dtype == DType::Q8 ? t.numel() : t.numel() * static_cast<int64_t>(dtype_size(t.dtype));
}

}  // namespace

TensorView DeviceWeights::upload_stacked(const TensorView& a, const TensorView& b, const char* what) {
  check_runnable(a, what);
  if (a.dtype != b.dtype || a.shape.size() != 2 || b.shape.size() != 2 || a.shape[1] != b.shape[1])
    fail("internal: cannot stack ", what, " (dtypes or shapes differ)");
  TensorView dev = a;
  dev.shape = {a.shape[0] + b.shape[0], a.shape[1]};
  const int64_t bytes_a = data_bytes(a), bytes_b = data_bytes(b);
  char* p = static_cast<char*>(cuda::device_alloc(static_cast<size_t>(bytes_a + bytes_b)));
  allocations_.push_back(p);
  cuda::copy_to_device(p, a.data, static_cast<size_t>(bytes_a));
  cuda::copy_to_device(p + bytes_a, b.data, static_cast<size_t>(bytes_b));
  dev.data = p;
  dev.device = Device::CUDA;
  bytes_ += bytes_a + bytes_b;
  if (a.dtype == DType::Q8) {
    const size_t sa = static_cast<size_t>(a.rows()) * sizeof(float), sb = static_cast<size_t>(b.rows()) * sizeof(float);
    char* s = static_cast<char*>(cuda::device_alloc(sa + sb));
    allocations_.push_back(s);
    cuda::copy_to_device(s, a.scales, sa);
    cuda::copy_to_device(s + sa, b.scales, sb);
    dev.scales = reinterpret_cast<const float*>(s);
    bytes_ += static_cast<int64_t>(sa + sb);
  }
  return dev;
}

TensorView DeviceWeights::upload(const TensorView& host, const char* what) {
  if (!host.data) return host;
  check_runnable(host, what);
  TensorView dev = host;
  const int64_t bytes = data_bytes(host);
  void* p = cuda::device_alloc(static_cast<size_t>(bytes));
  allocations_.push_back(p);
  cuda::copy_to_device(p, host.data, static_cast<size_t>(bytes));
  dev.data = p;
  dev.device = Device::CUDA;
  bytes_ += bytes;
  if (host.dtype == DType::Q8) {
    const int64_t scale_bytes = host.rows() * static_cast<int64_t>(sizeof(float));
    void* s = cuda::device_alloc(static_cast<size_t>(scale_bytes));
    allocations_.push_back(s);
    cuda::copy_to_device(s, host.scales, static_cast<size_t>(scale_bytes));
    dev.scales = static_cast<const float*>(s);
    bytes_ += scale_bytes;
  }
  return dev;
}

const float* DeviceWeights::upload(const std::vector<float>& host) {
  if (host.empty()) return nullptr;
  const size_t bytes = host.size() * sizeof(float);
  void* p = cuda::device_alloc(bytes);
  allocations_.push_back(p);
  cuda::copy_to_device(p, host.data(), bytes);
  bytes_ += static_cast<int64_t>(bytes);
  return static_cast<const float*>(p);
}

namespace {

// Bytes the upload will take, to refuse a model that cannot fit before copying any of it.
int64_t upload_bytes(const Weights& W) {
  int64_t total = view_bytes(W.embed_tokens) + (W.lm_head.data == W.embed_tokens.data ? 0 : view_bytes(W.lm_head));
  for (const LayerWeights& l : W.layers) {
    for (const TensorView* t : {&l.attention.q_proj, &l.attention.k_proj, &l.attention.v_proj, &l.attention.o_proj,
                                &l.mamba.in_proj, &l.mamba.x_proj, &l.mamba.dt_proj, &l.mamba.out_proj,
                                &l.dense.gate_proj, &l.dense.up_proj, &l.dense.down_proj, &l.moe.router})
      if (t->data) total += view_bytes(*t);
    for (const FfnWeights& e : l.moe.experts)
      total += view_bytes(e.gate_proj) + view_bytes(e.up_proj) + view_bytes(e.down_proj);
  }
  return total;
}

}  // namespace

DeviceWeights::DeviceWeights(const Model& model) {
  const Weights& W = model.weights;
  const int64_t need = upload_bytes(W);
  const int64_t free_bytes = cuda::device_free_bytes();
  if (need > free_bytes)
    fail("the weights need ", need >> 20, " MiB of GPU memory; the GPU has ", free_bytes >> 20,
         " MiB free (quantize to int8 with `jamba quantize --type int8` to halve bf16 weights)");
  try {
    embed_tokens = upload(W.embed_tokens, "model.embed_tokens");
    // Tied embeddings share one copy, as on the host.
    lm_head = W.lm_head.data == W.embed_tokens.data ? embed_tokens : upload(W.lm_head, "lm_head");
    final_norm = upload(W.final_norm);
    layers.resize(W.layers.size());
    for (size_t i = 0; i < W.layers.size(); ++i) {
      const LayerWeights& h = W.layers[i];
      const LayerSpec& spec = model.plan.layers[i];
      DeviceLayer& d = layers[i];
      d.input_norm = upload(h.input_norm);
      d.pre_ff_norm = upload(h.pre_ff_norm);
      if (spec.mixer == Mixer::Attention) {
        d.q_proj = upload(h.attention.q_proj, "q_proj");
        d.k_proj = upload(h.attention.k_proj, "k_proj");
        d.v_proj = upload(h.attention.v_proj, "v_proj");
        d.o_proj = upload(h.attention.o_proj, "o_proj");
      } else {
        const MambaWeights& m = h.mamba;
        DeviceMamba& dm = d.mamba;
        dm.in_proj = upload(m.in_proj, "mamba.in_proj");
        dm.x_proj = upload(m.x_proj, "mamba.x_proj");
        dm.dt_proj = upload(m.dt_proj, "mamba.dt_proj");
        dm.out_proj = upload(m.out_proj, "mamba.out_proj");
        dm.in_proj_bias = upload(m.in_proj_bias);
        dm.out_proj_bias = upload(m.out_proj_bias);
        dm.conv_weight = upload(m.conv_weight);
        dm.conv_bias = upload(m.conv_bias);
        dm.dt_bias = upload(m.dt_bias);
        dm.A = upload(m.A);
        dm.D = upload(m.D);
        dm.dt_norm = upload(m.dt_norm);
        dm.b_norm = upload(m.b_norm);
        dm.c_norm = upload(m.c_norm);
      }
      if (spec.ffn == Ffn::MoE) {
        d.router = upload(h.moe.router, "router");
        for (const FfnWeights& e : h.moe.experts)
          d.experts.push_back({upload(e.gate_proj, "expert gate_proj"), upload(e.up_proj, "expert up_proj"),
                               upload(e.down_proj, "expert down_proj")});
      } else {
        d.gate_up = upload_stacked(h.dense.gate_proj, h.dense.up_proj, "gate_proj/up_proj");
        d.down_proj = upload(h.dense.down_proj, "down_proj");
      }
    }
  } catch (...) {
    for (void* p : allocations_) cuda::device_free(p);
    throw;
  }
}

DeviceWeights::~DeviceWeights() {
  for (void* p : allocations_) {
    try {
      cuda::device_free(p);
    } catch (...) {  // a destructor must not throw; the process is ending the context anyway
    }
  }
}

}  // namespace jamba::gpu
