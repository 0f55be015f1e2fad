#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/error.h"

namespace jamba {

int32_t argmax(const float* values, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (values[i] > values[best]) best = i;
  return static_cast<int32_t>(best);
}

std::vector<double> log_softmax(const float* logits, int64_t n) {
  const double max_logit = *std::max_element(logits, logits + n);
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(logits[i]) - max_logit);
  const double log_total = std::log(total) + max_logit;
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = logits[i] - log_total;
  return out;
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  if (!std::isfinite(params.temperature) || params.temperature < 0) fail("--temperature must be >= 0");
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) fail("--top-p must be in (0, 1]");
}

int32_t Sampler::sample(const float* logits, int64_t vocab) {
  for (int64_t i = 0; i < vocab; ++i)
    if (std::isnan(logits[i])) fail("sampler: logits contain NaN");
  if (params_.temperature <= 0.0f) return argmax(logits, vocab);

  // Candidates sorted by logit (ties: lower id first), cut by top-k, then softmax at the
  // temperature, then cut by top-p, then draw.
  std::vector<int32_t> ids(vocab);
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (params_.top_k > 0 && params_.top_k < vocab) ids.resize(params_.top_k);

  std::vector<double> probs(ids.size());
  const double top = logits[ids[0]];
  double total = 0.0;
  for (size_t i = 0; i < ids.size(); ++i)
    total += probs[i] = std::exp((static_cast<double>(logits[ids[i]]) - top) / params_.temperature);
  for (double& p : probs) p /= total;

  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t keep = 0;
    while (keep < probs.size()) {
      cumulative += probs[keep++];
      if (cumulative >= params_.top_p) break;
    }
    ids.resize(keep);
    probs.resize(keep);
  }
  const double mass = std::accumulate(probs.begin(), probs.end(), 0.0);
  double draw = std::uniform_real_distribution<double>(0.0, mass)(rng_);
  for (size_t i = 0; i < ids.size(); ++i) {
    draw -= probs[i];
    if (draw < 0.0) return ids[i];
  }
  return ids.back();
}

}  // namespace jamba
