// Engine: owns the model, the executor (host op table or GPU) and the cache; runs forwards. What to run next
// (scheduling, sampling) is decided by its callers.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cache/hybrid_cache.h"
#include "model/forward.h"
#include "model/model.h"
#include "ops/ops.h"
#include "runtime/executor.h"

namespace jamba {

class Engine {
 public:
  // max_context: tokens per sequence (prompt + generated); 0 means the config's
  // max_position_embeddings.
  Engine(std::unique_ptr<Model> model, const ops::Backend& ops, int64_t max_context = 0);
  Engine(std::unique_ptr<Model> model, std::unique_ptr<Executor> executor, int64_t max_context = 0);

  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config; }
  HybridCache& cache() { return cache_; }
  const Executor& executor() const { return *executor_; }
  int64_t max_context() const { return cache_.max_tokens(); }

  // One forward over chunks of several sequences (see model/forward.h).
  std::vector<std::vector<float>> step(const std::vector<SequenceChunk>& chunks);

  // Feeds `tokens` to `seq` in chunks of at most chunk_size tokens (0 = all at once). Returns the
  // logits of every fed token ([T, V], all_logits) or of the last one ([V]).
  std::vector<float> prefill(SeqId seq, std::span<const int32_t> tokens, int64_t chunk_size, bool all_logits);

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<Executor> executor_;
  HybridCache cache_;
};

}  // namespace jamba
