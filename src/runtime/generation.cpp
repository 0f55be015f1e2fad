#include "runtime/generation.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"

namespace jamba {
namespace {
double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Releases the sequence however generation ends (a thrown error included).
struct SequenceGuard {
  HybridCache& cache;
  SeqId seq;
  ~SequenceGuard() { cache.release_sequence(seq); }
};
}  // namespace

GenerationResult generate(Engine& engine, std::span<const int32_t> prompt, const GenerationOptions& options,
                          const std::function<void(int32_t)>& on_token) {
  if (prompt.empty()) fail("the prompt is empty: give at least one token");
  if (options.max_new_tokens < 0) fail("-n must be >= 0");
  if (static_cast<int64_t>(prompt.size()) > engine.max_context())
    fail("the prompt has ", prompt.size(), " tokens, more than the context of ", engine.max_context(),
         " (--ctx); it is not truncated");

  Sampler check_params(options.sampling);  // reject bad sampling settings before any work

  HybridCache& cache = engine.cache();
  SequenceGuard guard{cache, cache.create_sequence()};
  const auto start = std::chrono::steady_clock::now();
  std::vector<float> logits = engine.prefill(guard.seq, prompt, options.prefill_chunk, false);
  const double prefill_ms = ms_since(start);

  GenerationResult result = continue_generation(engine, guard.seq, std::move(logits), options, on_token);
  result.timings.prompt_tokens = static_cast<int64_t>(prompt.size());
  result.timings.prefill_ms = prefill_ms;
  return result;
}

GenerationResult continue_generation(Engine& engine, SeqId seq, std::vector<float> logits,
                                     const GenerationOptions& options, const std::function<void(int32_t)>& on_token) {
  const int64_t vocab = engine.config().vocab_size;
  HybridCache& cache = engine.cache();
  Sampler sampler(options.sampling);
  GenerationResult result;
  result.finish_reason = "length";
  const auto start = std::chrono::steady_clock::now();
  while (static_cast<int64_t>(result.tokens.size()) < options.max_new_tokens) {
    const int32_t token = sampler.sample(logits.data(), vocab);
    result.tokens.push_back(token);
    if (on_token) on_token(token);
    if (std::find(options.eos_token_ids.begin(), options.eos_token_ids.end(), token) != options.eos_token_ids.end()) {
      result.finish_reason = "eos";
      break;
    }
    if (static_cast<int64_t>(result.tokens.size()) >= options.max_new_tokens) break;
    if (cache.length(seq) >= engine.max_context()) {
      result.finish_reason = "context";
      break;
    }
    const int32_t next[1] = {token};
    logits = std::move(engine.step({{seq, std::span<const int32_t>(next, 1), false}})[0]);
  }
  result.timings.decode_ms = ms_since(start);
  result.timings.generated_tokens = static_cast<int64_t>(result.tokens.size());
  return result;
}

}  // namespace jamba
