// config.json -> ModelConfig: every JambaConfig field (reference/hf_jamba.md §1) with its HF
// default, aliases (n_ctx, num_local_experts, mamba_dt_rank "auto"), legacy keys tolerated, and
// errors for impossible configs. Derived layout (which layer is attention / MoE) lives here too.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace jamba {

struct ModelConfig {
  int64_t vocab_size = 65536;
  bool tie_word_embeddings = false;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 14336;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 8;     // null in config.json -> num_attention_heads
  int64_t head_dim = 0;                // config "head_dim" if present, else hidden / heads
  std::string hidden_act = "silu";     // only "silu" is supported (every published model)
  double initializer_range = 0.02;
  double rms_norm_eps = 1e-6;
  bool use_cache = true;
  int64_t num_logits_to_keep = 1;
  bool output_router_logits = false;
  double router_aux_loss_coef = 0.001;
  int64_t pad_token_id = 0;            // -1 when null
  int64_t bos_token_id = 1;            // -1 when null
  std::vector<int64_t> eos_token_ids = {2};  // int or list in config.json (and generation_config.json)
  int64_t sliding_window = 0;          // 0 when null; never applied (HF eager/sdpa ignore it)
  int64_t max_position_embeddings = 262144;  // alias n_ctx
  double attention_dropout = 0.0;
  int64_t num_experts_per_tok = 2;
  int64_t num_experts = 16;            // alias num_local_experts
  int64_t expert_layer_period = 2;
  int64_t expert_layer_offset = 1;
  int64_t attn_layer_period = 8;
  int64_t attn_layer_offset = 4;
  bool use_mamba_kernels = true;       // ignored (HF 5.17 ignores it too)
  int64_t mamba_d_state = 16;
  int64_t mamba_d_conv = 4;
  int64_t mamba_expand = 2;
  int64_t mamba_dt_rank = 256;         // "auto" -> ceil(hidden / 16)
  bool mamba_conv_bias = true;
  bool mamba_proj_bias = false;
  std::string torch_dtype = "float32"; // "dtype"/"torch_dtype": the storage dtype the model was saved in

  // Per-layer layout, for files that give it per layer (GGUF's head_count_kv array, the
  // layers holding a router) when no period/offset pair reproduces it. Empty (always, for
  // config.json): the periods and offsets above decide. Otherwise num_hidden_layers entries.
  std::vector<bool> attention_layer_list;
  std::vector<bool> moe_layer_list;

  // Derived.
  int64_t d_inner() const { return mamba_expand * hidden_size; }
  bool is_attention_layer(int64_t i) const {
    if (!attention_layer_list.empty()) return attention_layer_list[static_cast<size_t>(i)];
    return i % attn_layer_period == attn_layer_offset;
  }
  bool is_moe_layer(int64_t i) const {
    if (!moe_layer_list.empty()) return moe_layer_list[static_cast<size_t>(i)];
    return num_experts > 1 && i % expert_layer_period == expert_layer_offset;
  }
};

// Parses a config.json document. `label` (normally the file path) prefixes every error,
// which names the field and what was expected. Throws jamba::Error.
ModelConfig parse_model_config(const nlohmann::json& doc, const std::string& label);
// Same, from text (reports JSON syntax errors with the label).
ModelConfig parse_model_config_text(const std::string& text, const std::string& label);
// Reads <dir>/config.json, and <dir>/generation_config.json when present (its eos_token_id,
// int or list, is merged into eos_token_ids).
ModelConfig load_model_config(const std::string& dir);
// The generation_config.json step of load_model_config: eos_token_id (int, list or null) from
// `text` joins config.eos_token_ids (union, first-seen order). Errors name `label`.
void merge_generation_config_text(ModelConfig& config, const std::string& text, const std::string& label);

}  // namespace jamba
