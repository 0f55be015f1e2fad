#include "runtime/engine.h"

#include "base/error.h"

namespace jamba {

namespace {
int64_t resolve_context(const ModelConfig& config, int64_t requested) {
  if (requested < 0) fail("context length must be positive, got ", requested);
  return requested == 0 ? config.max_position_embeddings : requested;
}
}  // namespace

Engine::Engine(std::unique_ptr<Model> model, const ops::Backend& ops, int64_t max_context)
    : Engine(std::move(model), host_executor(ops), max_context) {}

Engine::Engine(std::unique_ptr<Model> model, std::unique_ptr<Executor> executor, int64_t max_context)
    : model_(std::move(model)),
      executor_(std::move(executor)),
      cache_(model_->config, model_->plan, resolve_context(model_->config, max_context), executor_->cache_memory()) {}

std::vector<std::vector<float>> Engine::step(const std::vector<SequenceChunk>& chunks) {
  return executor_->forward(*model_, cache_, chunks);
}

std::vector<float> Engine::prefill(SeqId seq, std::span<const int32_t> tokens, int64_t chunk_size, bool all_logits) {
  if (tokens.empty()) fail("prefill: no tokens");
  if (cache_.length(seq) + static_cast<int64_t>(tokens.size()) > max_context())
    fail("prompt of ", tokens.size(), " tokens does not fit the context of ", max_context(), " tokens");
  const size_t step_size = chunk_size > 0 ? static_cast<size_t>(chunk_size) : tokens.size();
  std::vector<float> logits;
  for (size_t start = 0; start < tokens.size(); start += step_size) {
    const size_t n = std::min(step_size, tokens.size() - start);
    const bool last = start + n == tokens.size();
    auto out = step({{seq, tokens.subspan(start, n), all_logits}});
    if (all_logits)
      logits.insert(logits.end(), out[0].begin(), out[0].end());
    else if (last)
      logits = std::move(out[0]);
  }
  return logits;
}

}  // namespace jamba
