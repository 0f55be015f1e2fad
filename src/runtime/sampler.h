// Token sampling: greedy (temperature 0), or temperature with top-k and top-p (nucleus)
// filtering, from a seeded generator so runs repeat.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace jamba {

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy
  int64_t top_k = 40;        // <= 0: no top-k filter
  float top_p = 0.95f;       // >= 1: no nucleus filter
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // Picks a token from logits[0..vocab). Greedy ties go to the lowest id.
  int32_t sample(const float* logits, int64_t vocab);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

int32_t argmax(const float* values, int64_t n);
// log_softmax of n logits, computed in double.
std::vector<double> log_softmax(const float* logits, int64_t n);

}  // namespace jamba
