#include "model/weights.h"

#include <cmath>
#include <set>

#include "base/error.h"

namespace jamba {
namespace {

// Looks tensors up by name, checks dtype and shape, and remembers what was used.
class Binder {
 public:
  explicit Binder(const WeightSource& store) : store_(store) {}

  // A matmul weight: float, or weight-only quantized (Q8 / Q4, from a quantized checkpoint).
  TensorView take_matrix(const std::string& name, const std::vector<int64_t>& shape) {
    return take(name, shape, true);
  }

  TensorView take(const std::string& name, const std::vector<int64_t>& shape, bool quantized_ok = false) {
    if (!store_.contains(name)) {
      const std::string stored = store_.stored_name(name);
      fail("checkpoint is missing tensor '", name, "'", stored != name ? " ('" + stored + "' in the file)" : std::string(),
           " (expected shape ", shape_string(shape), ")");
    }
    TensorView t = store_.get(name);
    if (!is_weight_dtype(t.dtype) && !(quantized_ok && is_quantized_dtype(t.dtype)))
      fail(store_.file_of(name), ": tensor '", name, "' has dtype ", dtype_name(t.dtype), "; expected F32, F16 or BF16",
           is_quantized_dtype(t.dtype) ? " (this tensor is never quantized)" : "");
    if (t.shape != shape)
      fail(store_.file_of(name), ": tensor '", name, "' has shape ", shape_string(t.shape), "; the config needs ",
           shape_string(shape));
    used_.insert(name);
    return t;
  }

  // Small tensors are copied to fp32 and must be finite (a NaN norm weight poisons every logit).
  std::vector<float> take_f32(const std::string& name, const std::vector<int64_t>& shape) {
    std::vector<float> values = to_f32(take(name, shape));
    for (float v : values)
      if (!std::isfinite(v)) fail(store_.file_of(name), ": tensor '", name, "' holds NaN or Inf");
    return values;
  }

  void mark_used(const std::string& name) { used_.insert(name); }

  void reject_unused() const {
    for (const std::string& name : store_.names()) {
      if (!used_.count(name))
        fail(store_.file_of(name), ": tensor '", name,
             "' is not used by this config (does config.json match the checkpoint?)");
    }
  }

 private:
  const WeightSource& store_;
  std::set<std::string> used_;
};

FfnWeights bind_ffn(Binder& b, const std::string& prefix, int64_t H, int64_t I) {
  return {b.take_matrix(prefix + "gate_proj.weight", {I, H}), b.take_matrix(prefix + "up_proj.weight", {I, H}),
          b.take_matrix(prefix + "down_proj.weight", {H, I})};
}

}  // namespace

Weights bind_weights(const WeightSource& store, const ModelConfig& c, const LayerPlan& plan) {
  Binder b(store);
  const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const int64_t Di = c.d_inner(), N = c.mamba_d_state, K = c.mamba_d_conv, R = c.mamba_dt_rank;
  const int64_t E = c.num_experts;

  Weights w;
  w.embed_tokens = b.take("model.embed_tokens.weight", {V, H});
  w.storage_dtype = w.embed_tokens.dtype;
  if (c.tie_word_embeddings) {
    // HF ties lm_head to the embedding whenever the flag is set; a stored copy is ignored.
    w.lm_head = w.embed_tokens;
    if (store.contains("lm_head.weight")) b.mark_used("lm_head.weight");
  } else {
    if (!store.contains("lm_head.weight"))
      fail("checkpoint is missing tensor 'lm_head.weight' and config.json has tie_word_embeddings false");
    w.lm_head = b.take_matrix("lm_head.weight", {V, H});
  }
  w.final_norm = b.take_f32("model.final_layernorm.weight", {H});

  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const LayerSpec& spec = plan.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights lw;
    lw.input_norm = b.take_f32(p + "input_layernorm.weight", {H});
    lw.pre_ff_norm = b.take_f32(p + "pre_ff_layernorm.weight", {H});
    if (spec.mixer == Mixer::Attention) {
      const std::string a = p + "self_attn.";
      lw.attention = {b.take_matrix(a + "q_proj.weight", {nh * hd, H}), b.take_matrix(a + "k_proj.weight", {nkv * hd, H}),
                      b.take_matrix(a + "v_proj.weight", {nkv * hd, H}), b.take_matrix(a + "o_proj.weight", {H, nh * hd})};
    } else {
      const std::string m = p + "mamba.";
      MambaWeights& mw = lw.mamba;
      mw.in_proj = b.take_matrix(m + "in_proj.weight", {2 * Di, H});
      mw.x_proj = b.take_matrix(m + "x_proj.weight", {R + 2 * N, Di});
      mw.dt_proj = b.take_matrix(m + "dt_proj.weight", {Di, R});
      mw.out_proj = b.take_matrix(m + "out_proj.weight", {H, Di});
      if (c.mamba_proj_bias) {
        mw.in_proj_bias = b.take_f32(m + "in_proj.bias", {2 * Di});
        mw.out_proj_bias = b.take_f32(m + "out_proj.bias", {H});
      }
      mw.conv_weight = b.take_f32(m + "conv1d.weight", {Di, 1, K});
      if (c.mamba_conv_bias) mw.conv_bias = b.take_f32(m + "conv1d.bias", {Di});
      mw.dt_bias = b.take_f32(m + "dt_proj.bias", {Di});
      if (store.contains(m + "A")) {
        mw.A = b.take_f32(m + "A", {Di, N});
      } else {
        mw.A = b.take_f32(m + "A_log", {Di, N});
        for (float& a : mw.A) a = -std::exp(a);
      }
      mw.D = b.take_f32(m + "D", {Di});
      mw.dt_norm = b.take_f32(m + "dt_layernorm.weight", {R});
      mw.b_norm = b.take_f32(m + "b_layernorm.weight", {N});
      mw.c_norm = b.take_f32(m + "c_layernorm.weight", {N});
    }
    if (spec.ffn == Ffn::MoE) {
      const std::string f = p + "feed_forward.";
      lw.moe.router = b.take(f + "router.weight", {E, H});
      for (int64_t e = 0; e < E; ++e)
        lw.moe.experts.push_back(bind_ffn(b, f + "experts." + std::to_string(e) + ".", H, I));
    } else {
      lw.dense = bind_ffn(b, p + "feed_forward.", H, I);
    }
    w.layers.push_back(std::move(lw));
  }
  b.reject_unused();
  return w;
}

}  // namespace jamba
