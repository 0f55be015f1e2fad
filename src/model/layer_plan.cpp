#include "model/layer_plan.h"

namespace jamba {

LayerPlan LayerPlan::from_config(const ModelConfig& config) {
  LayerPlan plan;
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    LayerSpec spec{};
    if (config.is_attention_layer(i)) {
      spec.mixer = Mixer::Attention;
      spec.attention_slot = plan.attention_layers++;
    } else {
      spec.mixer = Mixer::Mamba;
      spec.mamba_slot = plan.mamba_layers++;
    }
    spec.ffn = config.is_moe_layer(i) ? Ffn::MoE : Ffn::Dense;
    if (spec.ffn == Ffn::MoE) ++plan.moe_layers;
    plan.layers.push_back(spec);
  }
  return plan;
}

}  // namespace jamba
