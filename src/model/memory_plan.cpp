#include "model/memory_plan.h"

#include "base/error.h"

namespace jamba {

ParameterCounts count_parameters(const ModelConfig& c, const LayerPlan& plan) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const int64_t Di = c.d_inner(), N = c.mamba_d_state, K = c.mamba_d_conv, R = c.mamba_dt_rank;
  const int64_t swiglu = 3 * H * I;

  ParameterCounts p;
  for (const LayerSpec& spec : plan.layers) {
    p.norms += 2 * H;
    if (spec.mixer == Mixer::Attention) {
      p.attention += 2 * nh * hd * H + 2 * nkv * hd * H;
    } else {
      p.mamba += 2 * Di * H + Di * K + (R + 2 * N) * Di + Di * R + Di  // in, conv, x, dt (+bias)
                 + Di * N + Di + H * Di + R + 2 * N;                   // A_log, D, out, dt/B/C norms
      if (c.mamba_conv_bias) p.mamba += Di;
      if (c.mamba_proj_bias) p.mamba += 2 * Di + H;
    }
    if (spec.ffn == Ffn::MoE) {
      p.router += c.num_experts * H;
      p.experts += c.num_experts * swiglu;
      p.active_experts += c.num_experts_per_tok * swiglu;
    } else {
      p.dense_ffn += swiglu;
    }
  }
  p.norms += H;  // final norm
  p.embeddings = V * H * (c.tie_word_embeddings ? 1 : 2);
  return p;
}

MemoryPlan plan_memory(const ModelConfig& c, int64_t weight_dtype_bytes, int64_t cache_dtype_bytes, int64_t context,
                       int64_t batch) {
  if (context <= 0) fail("--ctx must be positive, got ", context);
  if (batch <= 0) fail("--batch must be positive, got ", batch);
  const LayerPlan plan = LayerPlan::from_config(c);
  MemoryPlan m;
  m.params = count_parameters(c, plan);
  m.weight_bytes = m.params.total() * weight_dtype_bytes;
  m.kv_bytes_per_token = plan.attention_layers * 2 * c.num_key_value_heads * c.head_dim * cache_dtype_bytes;
  m.state_bytes_per_sequence =
      plan.mamba_layers * ((c.mamba_d_conv - 1) * c.d_inner() * cache_dtype_bytes + c.d_inner() * c.mamba_d_state * 4);
  m.context = context;
  m.batch = batch;
  m.kv_bytes_total = m.kv_bytes_per_token * context * batch;
  m.state_bytes_total = m.state_bytes_per_sequence * batch;
  m.total_bytes = m.weight_bytes + m.kv_bytes_total + m.state_bytes_total;
  return m;
}

}  // namespace jamba
