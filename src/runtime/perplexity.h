// The inner loop of `jamba perplexity`: the negative log-likelihood of whole token sequences,
// fed through the engine in prefill chunks so that only one chunk's logits are alive at a time
// (memory stays bounded for any text length, except the KV rows of attention layers).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "runtime/engine.h"

namespace jamba {

// One independent sequence: tokens[i] for every i >= first_scored (>= 1) is scored from the
// logits after tokens[..i), i.e. NLL_i = -ln softmax(logits at position i-1)[tokens[i]].
struct ScoredSequence {
  std::vector<int32_t> tokens;
  size_t first_scored = 1;
};

struct NllTotals {
  double nll_sum = 0;     // sum of NLL_i, in nats
  int64_t scored = 0;     // how many tokens were scored
  int64_t evaluated = 0;  // tokens fed through the model
};

// Sums NLL_i over all sequences. Each sequence is fed up to its second-to-last token (the last
// token's logits predict nothing) on a fresh cache sequence, released afterwards. Short
// sequences run side by side in one batch, as many as fit in `chunk` tokens per forward
// (chunk 0: everything in one forward). `progress(evaluated, total)` is called after every
// forward. Throws Error when a sequence does not fit the engine's context, holds a token outside
// the model's vocabulary, or the model produces a non-finite logit.
NllTotals sum_nll(Engine& engine, std::span<const ScoredSequence> sequences, int64_t chunk,
                  const std::function<void(int64_t evaluated, int64_t total)>& progress = {});

// -ln softmax(row)[target] over `vocab` logits, in double. Throws Error if a logit is not finite.
double token_nll(const float* row, int64_t vocab, int32_t target);

}  // namespace jamba
