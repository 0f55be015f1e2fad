#include "format/model_config.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/json_document.h"

namespace jamba {

namespace {

using json = nlohmann::json;

// Limits that keep every size product downstream (weights, caches, parameter counts) far from
// int64 overflow. Real Jamba configs are orders of magnitude below them.
constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxLayers = 100000;
constexpr uint64_t kMaxParameters = uint64_t{1} << 50;  // ~10^15; the largest Jamba has ~4e11
constexpr uint64_t kMaxConfigBytes = 16u << 20;

// Typed access to the fields of one JSON object; every mismatch names the field and the value.
class Fields {
 public:
  Fields(const json& doc, const std::string& label) : doc_(doc), label_(label) {}

  const json* find(const char* key) const {
    auto it = doc_.find(key);
    return it == doc_.end() ? nullptr : &*it;
  }

  [[noreturn]] void wrong_type(const char* key, const char* expected, const json& value) const {
    fail(label_, ": field '", key, "' must be ", expected, ", found ", describe_json(value));
  }

  // JSON integers only: 4096.0 is rejected, as HF's strict config class rejects it.
  int64_t as_integer(const char* key, const json& value) const {
    if (value.is_number_unsigned()) {
      const uint64_t u = value.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) fail(label_, ": field '", key, "' is ", u, ", out of range");
      return static_cast<int64_t>(u);
    }
    if (value.is_number_integer()) return value.get<int64_t>();
    wrong_type(key, "an integer", value);
  }

  int64_t integer(const char* key, int64_t fallback) const {
    const json* v = find(key);
    return v ? as_integer(key, *v) : fallback;
  }
  // For fields HF declares Optional: absent and null may mean different things.
  int64_t nullable_integer(const char* key, int64_t if_absent, int64_t if_null) const {
    const json* v = find(key);
    if (!v) return if_absent;
    return v->is_null() ? if_null : as_integer(key, *v);
  }
  bool boolean(const char* key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) wrong_type(key, "true or false", *v);
    return v->get<bool>();
  }
  double number(const char* key, double fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number()) wrong_type(key, "a number", *v);
    return v->get<double>();
  }
  std::string string(const char* key, const std::string& fallback, bool null_means_fallback) const {
    const json* v = find(key);
    if (!v || (v->is_null() && null_means_fallback)) return fallback;
    if (!v->is_string()) wrong_type(key, "a string", *v);
    return v->get<std::string>();
  }

  const std::string& label() const { return label_; }

 private:
  const json& doc_;
  const std::string& label_;
};

// eos_token_id: an integer, a list of integers, or null (no EOS). Duplicates are dropped.
std::vector<int64_t> read_eos(const Fields& fields, const json& value) {
  std::vector<int64_t> ids;
  auto add = [&](int64_t id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  if (value.is_null()) return ids;
  if (value.is_array()) {
    for (const json& item : value) {
      if (!item.is_number_integer())
        fields.wrong_type("eos_token_id", "an integer or a list of integers (one entry is not)", item);
      add(fields.as_integer("eos_token_id", item));
    }
    return ids;
  }
  if (!value.is_number_integer()) fields.wrong_type("eos_token_id", "an integer or a list of integers", value);
  add(fields.as_integer("eos_token_id", value));
  return ids;
}

void check_eos_ids(const std::vector<int64_t>& ids, int64_t vocab_size, const std::string& label) {
  for (int64_t id : ids)
    if (id < 0 || id >= vocab_size)
      fail(label, ": field 'eos_token_id' holds ", id, ", outside the vocabulary [0, ", vocab_size, ")");
}

void check_size(const std::string& label, const char* name, int64_t value, int64_t max = kMaxDim) {
  if (value <= 0) fail(label, ": field '", name, "' is ", value, ", must be positive");
  if (value > max)
    fail(label, ": field '", name, "' is ", value, ", above the supported maximum ", max);
}

void check_offset(const std::string& label, const char* offset_name, int64_t offset,
                  const char* period_name, int64_t period) {
  if (offset < 0 || offset >= period)
    fail(label, ": field '", offset_name, "' is ", offset, " but ", period_name, " is ", period,
         " (the offset must be in [0, period))");
}

// pad/bos: -1 means none (null in config.json); anything else must be a vocabulary id.
void check_special_id(const std::string& label, const char* name, int64_t id, int64_t vocab_size) {
  if (id < -1 || id >= vocab_size)
    fail(label, ": field '", name, "' is ", id, ", outside the vocabulary [0, ", vocab_size, ") (or null)");
}

// A coarse parameter count in 128-bit arithmetic (every input is capped at 2^31, so nothing
// here can overflow); rejects configs whose products would overflow int64 downstream.
void check_total_size(const ModelConfig& c, const std::string& label) {
  using u128 = unsigned __int128;
  const u128 H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, L = c.num_hidden_layers;
  const u128 hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const u128 Di = static_cast<u128>(c.mamba_expand) * H, N = c.mamba_d_state, K = c.mamba_d_conv;
  const u128 R = c.mamba_dt_rank, E = c.num_experts;
  const u128 attention = 2 * H * nh * hd + 2 * H * nkv * hd;
  const u128 mamba = 3 * Di * H + Di * K + (R + 2 * N) * Di + Di * R + Di * N + 4 * Di;
  const u128 dense = 3 * I * H;
  const u128 moe = E * (3 * I * H + H);
  const u128 total = 2 * V * H + L * (std::max(attention, mamba) + std::max(dense, moe) + 2 * H);
  if (total > kMaxParameters)
    fail(label, ": these sizes describe about ", static_cast<long double>(total),
         " parameters, beyond the supported 2^50; check hidden_size, intermediate_size, ",
         "num_experts, num_hidden_layers and vocab_size");
}

std::string join_path(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::string read_json_file(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxConfigBytes)
    fail(path, ": ", size, " bytes is too large for a configuration file (limit ", kMaxConfigBytes, ")");
  return read_text_file(path);
}

}  // namespace

ModelConfig parse_model_config(const json& doc, const std::string& label) {
  if (!doc.is_object()) fail(label, ": top level must be a JSON object, found ", describe_json(doc));
  const Fields f(doc, label);
  ModelConfig c;

  if (const json* type = f.find("model_type")) {
    if (!type->is_string()) f.wrong_type("model_type", "a string", *type);
    if (type->get<std::string>() != "jamba")
      fail(label, ": field 'model_type' is ", in_quotes(type->get<std::string>(), 60),
           ", expected 'jamba' (this engine runs Jamba models only)");
  }

  c.vocab_size = f.integer("vocab_size", c.vocab_size);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", c.tie_word_embeddings);
  c.hidden_size = f.integer("hidden_size", c.hidden_size);
  c.intermediate_size = f.integer("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = f.integer("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = f.integer("num_attention_heads", c.num_attention_heads);
  // HF: the default is 8, but an explicit null means "as many as the query heads" (MHA).
  c.num_key_value_heads = f.nullable_integer("num_key_value_heads", c.num_key_value_heads, c.num_attention_heads);
  // head_dim is optional (5.17 reads it when present); absent or null means hidden / heads.
  const json* head_dim = f.find("head_dim");
  const bool head_dim_given = head_dim && !head_dim->is_null();
  if (head_dim_given) c.head_dim = f.as_integer("head_dim", *head_dim);
  c.hidden_act = f.string("hidden_act", c.hidden_act, false);
  c.initializer_range = f.number("initializer_range", c.initializer_range);
  c.rms_norm_eps = f.number("rms_norm_eps", c.rms_norm_eps);
  c.use_cache = f.boolean("use_cache", c.use_cache);
  c.num_logits_to_keep = f.nullable_integer("num_logits_to_keep", c.num_logits_to_keep, c.num_logits_to_keep);
  c.output_router_logits = f.boolean("output_router_logits", c.output_router_logits);
  c.router_aux_loss_coef = f.number("router_aux_loss_coef", c.router_aux_loss_coef);
  c.pad_token_id = f.nullable_integer("pad_token_id", c.pad_token_id, -1);
  c.bos_token_id = f.nullable_integer("bos_token_id", c.bos_token_id, -1);
  if (const json* eos = f.find("eos_token_id")) c.eos_token_ids = read_eos(f, *eos);
  c.sliding_window = f.nullable_integer("sliding_window", 0, 0);
  c.attention_dropout = f.number("attention_dropout", c.attention_dropout);

  // Remote-code-era configs call the context length n_ctx; the HF name wins when both are set.
  if (const json* n_ctx = f.find("n_ctx")) c.max_position_embeddings = f.as_integer("n_ctx", *n_ctx);
  c.max_position_embeddings = f.integer("max_position_embeddings", c.max_position_embeddings);

  c.num_experts_per_tok = f.integer("num_experts_per_tok", c.num_experts_per_tok);
  // num_local_experts is 5.17's alias. Unlike n_ctx this one shapes the weights, so a
  // disagreement is an error rather than a silent pick.
  const json* experts = f.find("num_experts");
  const json* local_experts = f.find("num_local_experts");
  if (experts) c.num_experts = f.as_integer("num_experts", *experts);
  if (local_experts) {
    const int64_t local = f.as_integer("num_local_experts", *local_experts);
    if (experts && local != c.num_experts)
      fail(label, ": field 'num_local_experts' is ", local, " but 'num_experts' is ", c.num_experts,
           " (they are aliases: give one, or make them agree)");
    c.num_experts = local;
  }
  c.expert_layer_period = f.integer("expert_layer_period", c.expert_layer_period);
  c.expert_layer_offset = f.integer("expert_layer_offset", c.expert_layer_offset);
  c.attn_layer_period = f.integer("attn_layer_period", c.attn_layer_period);
  c.attn_layer_offset = f.integer("attn_layer_offset", c.attn_layer_offset);
  c.use_mamba_kernels = f.boolean("use_mamba_kernels", c.use_mamba_kernels);
  c.mamba_d_state = f.integer("mamba_d_state", c.mamba_d_state);
  c.mamba_d_conv = f.integer("mamba_d_conv", c.mamba_d_conv);
  c.mamba_expand = f.integer("mamba_expand", c.mamba_expand);
  c.mamba_conv_bias = f.boolean("mamba_conv_bias", c.mamba_conv_bias);
  c.mamba_proj_bias = f.boolean("mamba_proj_bias", c.mamba_proj_bias);
  // 5.x writes "dtype", older versions "torch_dtype"; the newer name wins.
  c.torch_dtype = f.string("torch_dtype", c.torch_dtype, true);
  c.torch_dtype = f.string("dtype", c.torch_dtype, true);

  // Sizes first: the derived values below divide by some of them.
  check_size(label, "vocab_size", c.vocab_size);
  check_size(label, "hidden_size", c.hidden_size);
  check_size(label, "intermediate_size", c.intermediate_size);
  check_size(label, "num_hidden_layers", c.num_hidden_layers, kMaxLayers);
  check_size(label, "num_attention_heads", c.num_attention_heads);
  check_size(label, "num_key_value_heads", c.num_key_value_heads);
  check_size(label, "mamba_d_state", c.mamba_d_state);
  check_size(label, "mamba_d_conv", c.mamba_d_conv);
  check_size(label, "mamba_expand", c.mamba_expand);
  check_size(label, "num_experts", c.num_experts);
  check_size(label, "num_experts_per_tok", c.num_experts_per_tok);
  check_size(label, "attn_layer_period", c.attn_layer_period);
  check_size(label, "expert_layer_period", c.expert_layer_period);
  check_size(label, "max_position_embeddings", c.max_position_embeddings, INT64_MAX);

  // HF's default dt_rank is "auto" (not 256): ceil(hidden_size / 16).
  const json* dt_rank = f.find("mamba_dt_rank");
  if (!dt_rank || (dt_rank->is_string() && dt_rank->get<std::string>() == "auto")) {
    c.mamba_dt_rank = (c.hidden_size + 15) / 16;
  } else if (dt_rank->is_number_integer()) {
    c.mamba_dt_rank = f.as_integer("mamba_dt_rank", *dt_rank);
  } else {
    f.wrong_type("mamba_dt_rank", "an integer or \"auto\"", *dt_rank);
  }
  check_size(label, "mamba_dt_rank", c.mamba_dt_rank);

  if (!head_dim_given) {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail(label, ": hidden_size ", c.hidden_size, " is not divisible by num_attention_heads ",
           c.num_attention_heads, " (and no head_dim is given)");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  check_size(label, "head_dim", c.head_dim);

  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail(label, ": num_attention_heads ", c.num_attention_heads, " is not divisible by num_key_value_heads ",
         c.num_key_value_heads, " (each KV head must serve a whole group of query heads)");
  // With one expert every FFN is dense and top-K is never used, so only check it for MoE.
  if (c.num_experts > 1 && c.num_experts_per_tok > c.num_experts)
    fail(label, ": field 'num_experts_per_tok' is ", c.num_experts_per_tok, " but num_experts is ",
         c.num_experts, " (top-K cannot exceed the expert count)");
  check_offset(label, "attn_layer_offset", c.attn_layer_offset, "attn_layer_period", c.attn_layer_period);
  check_offset(label, "expert_layer_offset", c.expert_layer_offset, "expert_layer_period", c.expert_layer_period);

  check_special_id(label, "pad_token_id", c.pad_token_id, c.vocab_size);
  check_special_id(label, "bos_token_id", c.bos_token_id, c.vocab_size);
  check_eos_ids(c.eos_token_ids, c.vocab_size, label);

  // HF's ACT2FN maps "swish" to the same SiLU module.
  if (c.hidden_act == "swish") c.hidden_act = "silu";
  if (c.hidden_act != "silu")
    fail(label, ": field 'hidden_act' is ", in_quotes(c.hidden_act, 60),
         ": unsupported activation (only silu is supported, as in every published Jamba model)");
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps))
    fail(label, ": field 'rms_norm_eps' is ", c.rms_norm_eps, ", must be a positive number");
  if (c.sliding_window < 0)
    fail(label, ": field 'sliding_window' is ", c.sliding_window, ", must be null or >= 0");
  if (c.num_logits_to_keep < 0)
    fail(label, ": field 'num_logits_to_keep' is ", c.num_logits_to_keep, ", must be >= 0");

  check_total_size(c, label);
  return c;
}

ModelConfig parse_model_config_text(const std::string& text, const std::string& label) {
  return parse_model_config(parse_json_document(text, label), label);
}

void merge_generation_config_text(ModelConfig& config, const std::string& text, const std::string& label) {
  const json doc = parse_json_document(text, label);
  if (!doc.is_object()) fail(label, ": top level must be a JSON object, found ", describe_json(doc));
  const Fields f(doc, label);
  const json* eos = f.find("eos_token_id");
  if (!eos) return;
  const std::vector<int64_t> ids = read_eos(f, *eos);
  check_eos_ids(ids, config.vocab_size, label);
  for (int64_t id : ids)
    if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), id) == config.eos_token_ids.end())
      config.eos_token_ids.push_back(id);
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string config_path = join_path(dir, "config.json");
  ModelConfig config = parse_model_config_text(read_json_file(config_path), config_path);
  const std::string generation_path = join_path(dir, "generation_config.json");
  if (file_exists(generation_path))
    merge_generation_config_text(config, read_json_file(generation_path), generation_path);
  return config;
}

}  // namespace jamba
