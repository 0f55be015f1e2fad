// The memory plan `jamba info` prints: parameters by kind, active parameters per token, KV bytes
// per token, Mamba state bytes per sequence, and totals at a context and batch. Computed from
// the config alone, so it works for checkpoints that are not on this machine.
#pragma once
#include <cstdint>

#include "format/model_config.h"
#include "model/layer_plan.h"

namespace jamba {

struct ParameterCounts {
  int64_t attention = 0;   // q/k/v/o projections
  int64_t mamba = 0;       // every Mamba mixer parameter
  int64_t dense_ffn = 0;   // SwiGLU of dense layers
  int64_t experts = 0;     // all experts of all MoE layers
  int64_t router = 0;      // MoE routers
  int64_t norms = 0;       // per-layer and final RMSNorms
  int64_t embeddings = 0;  // embed_tokens, plus lm_head when untied
  int64_t active_experts = 0;  // experts' parameters one token uses (top-K of E per MoE layer)

  int64_t total() const { return attention + mamba + dense_ffn + experts + router + norms + embeddings; }
  int64_t active() const { return total() - experts + active_experts; }
};

struct MemoryPlan {
  ParameterCounts params;
  int64_t weight_bytes = 0;              // params x storage dtype size
  int64_t kv_bytes_per_token = 0;        // over all attention layers
  int64_t state_bytes_per_sequence = 0;  // conv window + fp32 SSM state over all Mamba layers
  int64_t context = 0;
  int64_t batch = 0;
  int64_t kv_bytes_total = 0;            // kv_bytes_per_token x context x batch
  int64_t state_bytes_total = 0;         // state_bytes_per_sequence x batch
  int64_t total_bytes = 0;               // weights + KV + states
};

ParameterCounts count_parameters(const ModelConfig& config, const LayerPlan& plan);

// weight_dtype_bytes: storage size of weights; cache_dtype_bytes: size of a KV element and of a
// conv-window element (the SSM state is fp32 regardless).
MemoryPlan plan_memory(const ModelConfig& config, int64_t weight_dtype_bytes, int64_t cache_dtype_bytes,
                       int64_t context, int64_t batch);

}  // namespace jamba
