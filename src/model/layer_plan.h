// Which mixer and which FFN each layer has, derived once from the config.
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_config.h"

namespace jamba {

enum class Mixer { Attention, Mamba };
enum class Ffn { Dense, MoE };

struct LayerSpec {
  Mixer mixer;
  Ffn ffn;
  int64_t attention_slot = -1;  // index among attention layers (their KV in the cache), else -1
  int64_t mamba_slot = -1;      // index among Mamba layers (their state in the cache), else -1
};

struct LayerPlan {
  std::vector<LayerSpec> layers;
  int64_t attention_layers = 0;
  int64_t mamba_layers = 0;
  int64_t moe_layers = 0;

  static LayerPlan from_config(const ModelConfig& config);
};

}  // namespace jamba
