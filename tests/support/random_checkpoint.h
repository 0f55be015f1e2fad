// Writes a random-weight Jamba checkpoint (config.json + model.safetensors, HF names and
// shapes) for any config, so tests can pair a model with a tokenizer of any vocabulary.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace jamba::test {

// `config` is a config.json object (missing fields take HF defaults). Weights are F32, random
// with fixed seed; norms around 1.
void write_random_checkpoint(const std::string& dir, const nlohmann::json& config, uint32_t seed = 1);

}  // namespace jamba::test
