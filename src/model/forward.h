// The Jamba forward over a batch of sequence chunks of different lengths (no padding): every
// chunk continues its sequence from whatever the cache holds, so one-shot prefill, chunked
// prefill and decode steps are all this one function.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "cache/hybrid_cache.h"
#include "model/model.h"
#include "ops/ops.h"

namespace jamba {

struct SequenceChunk {
  SeqId seq;
  std::span<const int32_t> tokens;  // at least one token
  bool all_logits = false;          // logits for every token, or only the last
};

// Where each chunk's rows sit in the flattened batch.
struct BatchSegment {
  SeqId seq;
  int64_t row;    // first row in the batch
  int64_t count;  // rows (new tokens)
  int64_t past;   // tokens already in the cache
};

// Validates a batch against the model and the cache (known, distinct sequences; non-empty
// chunks; token ids in range; the context not exceeded) and lays its rows out. Every forward
// (host or device) calls it before touching the cache.
std::vector<BatchSegment> plan_batch(const Model& model, const HybridCache& cache,
                                     const std::vector<SequenceChunk>& chunks);

// Returns, per chunk, logits [T, V] (all_logits) or [V] (last token), and advances each
// sequence in the cache. Validates everything (token ids, context length, sequences) before
// touching the cache, so a rejected batch leaves it unchanged.
std::vector<std::vector<float>> forward(const Model& model, const ops::Backend& ops, HybridCache& cache,
                                        const std::vector<SequenceChunk>& chunks);

}  // namespace jamba
