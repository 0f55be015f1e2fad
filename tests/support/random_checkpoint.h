// Tests' random checkpoints: the engine's own writer (src/model/random_checkpoint.h) in F32.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "model/random_checkpoint.h"

namespace jamba::test {

inline void write_random_checkpoint(const std::string& dir, const nlohmann::json& config, uint32_t seed = 1) {
  jamba::write_random_checkpoint(dir, config, DType::F32, seed);
}

}  // namespace jamba::test
