#include "support/random_checkpoint.h"

#include <cmath>
#include <cstring>
#include <random>

#include "format/model_config.h"
#include "format/safetensors.h"
#include "model/layer_plan.h"
#include "support/test_support.h"

namespace jamba::test {

void write_random_checkpoint(const std::string& dir, const nlohmann::json& config_json, uint32_t seed) {
  write_file(dir + "/config.json", config_json.dump(2));
  const ModelConfig c = parse_model_config(config_json, "config.json");
  const LayerPlan plan = LayerPlan::from_config(c);
  std::mt19937 rng(seed);
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float center, float spread) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::normal_distribution<float> dist(center, spread);
    std::vector<float> values(n);
    for (float& v : values) v = dist(rng);
    std::vector<std::byte> bytes(n * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    tensors.push_back({name, DType::F32, std::move(shape), std::move(bytes)});
  };
  const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, hd = c.head_dim;
  const int64_t Di = c.d_inner(), N = c.mamba_d_state, K = c.mamba_d_conv, R = c.mamba_dt_rank;
  const float w = 1.0f / std::sqrt(static_cast<float>(H));
  add("model.embed_tokens.weight", {V, H}, 0, 1);
  if (!c.tie_word_embeddings) add("lm_head.weight", {V, H}, 0, 2 * w);
  add("model.final_layernorm.weight", {H}, 1, 0.1f);
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {H}, 1, 0.1f);
    add(p + "pre_ff_layernorm.weight", {H}, 1, 0.1f);
    if (plan.layers[i].mixer == Mixer::Attention) {
      add(p + "self_attn.q_proj.weight", {c.num_attention_heads * hd, H}, 0, w);
      add(p + "self_attn.k_proj.weight", {c.num_key_value_heads * hd, H}, 0, w);
      add(p + "self_attn.v_proj.weight", {c.num_key_value_heads * hd, H}, 0, w);
      add(p + "self_attn.o_proj.weight", {H, c.num_attention_heads * hd}, 0, w);
    } else {
      const std::string m = p + "mamba.";
      add(m + "in_proj.weight", {2 * Di, H}, 0, w);
      if (c.mamba_proj_bias) add(m + "in_proj.bias", {2 * Di}, 0, 0.1f);
      add(m + "conv1d.weight", {Di, 1, K}, 0, 0.5f);
      if (c.mamba_conv_bias) add(m + "conv1d.bias", {Di}, 0, 0.1f);
      add(m + "x_proj.weight", {R + 2 * N, Di}, 0, 1.0f / std::sqrt(static_cast<float>(Di)));
      add(m + "dt_proj.weight", {Di, R}, 0, 0.5f);
      add(m + "dt_proj.bias", {Di}, -3, 0.5f);
      add(m + "A_log", {Di, N}, 1, 0.5f);
      add(m + "D", {Di}, 1, 0.2f);
      add(m + "out_proj.weight", {H, Di}, 0, 1.0f / std::sqrt(static_cast<float>(Di)));
      if (c.mamba_proj_bias) add(m + "out_proj.bias", {H}, 0, 0.1f);
      add(m + "dt_layernorm.weight", {R}, 1, 0.1f);
      add(m + "b_layernorm.weight", {N}, 1, 0.1f);
      add(m + "c_layernorm.weight", {N}, 1, 0.1f);
    }
    auto ffn = [&](const std::string& f) {
      add(f + "gate_proj.weight", {I, H}, 0, w);
      add(f + "up_proj.weight", {I, H}, 0, w);
      add(f + "down_proj.weight", {H, I}, 0, 1.0f / std::sqrt(static_cast<float>(I)));
    };
    if (plan.layers[i].ffn == Ffn::MoE) {
      add(p + "feed_forward.router.weight", {c.num_experts, H}, 0, w);
      for (int64_t e = 0; e < c.num_experts; ++e) ffn(p + "feed_forward.experts." + std::to_string(e) + ".");
    } else {
      ffn(p + "feed_forward.");
    }
  }
  write_safetensors(dir + "/model.safetensors", tensors);
}

}  // namespace jamba::test
