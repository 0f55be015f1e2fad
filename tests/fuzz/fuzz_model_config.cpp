// libFuzzer target: config.json and generation_config.json parsing on arbitrary text.
// jamba::Error is the expected way to reject input; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "format/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const jamba::ModelConfig config = jamba::parse_model_config_text(text, "config.json");
    // A config that passed validation must be safe to derive the layer plan from (no division
    // by zero, no overflow in the sizes downstream code multiplies).
    int64_t attention = 0, moe = 0;
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      attention += config.is_attention_layer(i);
      moe += config.is_moe_layer(i);
    }
    int64_t embed = 0, in_proj = 0;
    if (__builtin_mul_overflow(config.vocab_size, config.hidden_size, &embed) ||
        __builtin_mul_overflow(2 * config.d_inner(), config.hidden_size, &in_proj) || attention < 0 || moe < 0)
      __builtin_trap();
  } catch (const jamba::Error&) {
  }
  try {
    jamba::ModelConfig config;
    jamba::merge_generation_config_text(config, text, "generation_config.json");
  } catch (const jamba::Error&) {
  }
  return 0;
}
