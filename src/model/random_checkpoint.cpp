#include "model/random_checkpoint.h"

#include <cmath>
#include <cstring>
#include <fstream>

#include "base/error.h"
#include "base/half.h"
#include "format/model_config.h"
#include "format/safetensors.h"
#include "model/layer_plan.h"

namespace jamba {
namespace {

struct Spec {
  float center, spread;
};

// Counter-based: element i of tensor t depends only on (seed, t, i), so threads need no shared
// state and the result does not depend on how the work is split.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

float normal_at(uint64_t seed, uint64_t tensor, uint64_t i) {
  const uint64_t a = mix(seed ^ mix(tensor * 0x100000001b3ull ^ mix(i)));
  const uint64_t b = mix(a);
  const double u1 = (static_cast<double>(a >> 11) + 1.0) / 9007199254740993.0;  // (0, 1]
  const double u2 = static_cast<double>(b >> 11) / 9007199254740992.0;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace

void write_random_checkpoint(const std::string& dir, const nlohmann::json& config_json, DType dtype, uint64_t seed) {
  if (dtype != DType::F32 && dtype != DType::BF16 && dtype != DType::F16)
    fail("random weights can be f32, bf16 or f16, not ", dtype_name(dtype));
  {
    std::ofstream out(dir + "/config.json", std::ios::trunc);
    out << config_json.dump(2) << "\n";
    if (!out) fail(dir, "/config.json: cannot write");
  }
  const ModelConfig c = parse_model_config(config_json, "config.json");
  const LayerPlan plan = LayerPlan::from_config(c);
  std::vector<TensorHeader> headers;
  std::vector<Spec> specs;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float center, float spread) {
    headers.push_back({name, dtype, std::move(shape)});
    specs.push_back({center, spread});
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
  write_safetensors_streamed(dir + "/model.safetensors", headers, [&](size_t t, std::byte* out) {
    int64_t n = 1;
    for (int64_t d : headers[t].shape) n *= d;
    const Spec s = specs[t];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const float v = s.center + s.spread * normal_at(seed, t, static_cast<uint64_t>(i));
      if (dtype == DType::F32) {
        std::memcpy(out + 4 * i, &v, 4);
      } else {
        const uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
        std::memcpy(out + 2 * i, &h, 2);
      }
    }
  });
}

}  // namespace jamba
