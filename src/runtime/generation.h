// The generation loop for one sequence: prefill the prompt (in chunks), then decode one token
// per step until max_new_tokens, an eos token or the context end.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/sampler.h"

namespace jamba {

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  SamplingParams sampling;
  std::vector<int64_t> eos_token_ids;  // stop when one is sampled (it is kept in the output)
  int64_t prefill_chunk = 512;         // 0 = whole prompt in one forward
};

struct GenerationTimings {
  int64_t prompt_tokens = 0;
  double prefill_ms = 0;
  int64_t generated_tokens = 0;
  double decode_ms = 0;  // time of the decode steps (tokens after the first)
};

struct GenerationResult {
  std::vector<int32_t> tokens;
  std::string finish_reason;  // "length" (max_new_tokens), "eos", "context" (context full)
  GenerationTimings timings;
};

// Runs on a fresh sequence of the engine's cache and releases it afterwards.
GenerationResult generate(Engine& engine, std::span<const int32_t> prompt, const GenerationOptions& options,
                          const std::function<void(int32_t)>& on_token = {});

// The decode loop on a sequence whose prompt is already in the cache: samples from `logits` (the
// last prompt token's), feeds each sampled token back, and stops at max_new_tokens, an eos or
// the context end. The last sampled token is NOT fed to the cache (nothing needs its logits), so
// afterwards the sequence holds the prompt plus all generated tokens but the last. Fills
// tokens, finish_reason, generated_tokens and decode_ms.
GenerationResult continue_generation(Engine& engine, SeqId seq, std::vector<float> logits,
                                     const GenerationOptions& options, const std::function<void(int32_t)>& on_token = {});

}  // namespace jamba
