#include "format/gguf_jamba.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace jamba {

namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxLayers = 100000;  // as config.json's limit

// Per-layer tensor names: llama.cpp's suffix after "blk.N." and ours after "model.layers.N.".
struct LayerName {
  const char* gguf;
  const char* hf;
};
constexpr LayerName kLayerNames[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "pre_ff_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"ssm_in.weight", "mamba.in_proj.weight"},
    {"ssm_in.bias", "mamba.in_proj.bias"},
    {"ssm_conv1d.weight", "mamba.conv1d.weight"},
    {"ssm_conv1d.bias", "mamba.conv1d.bias"},
    {"ssm_x.weight", "mamba.x_proj.weight"},
    {"ssm_dt.weight", "mamba.dt_proj.weight"},
    {"ssm_dt.bias", "mamba.dt_proj.bias"},
    {"ssm_a", "mamba.A"},
    {"ssm_d", "mamba.D"},
    {"ssm_dt_norm.weight", "mamba.dt_layernorm.weight"},
    {"ssm_b_norm.weight", "mamba.b_layernorm.weight"},
    {"ssm_c_norm.weight", "mamba.c_layernorm.weight"},
    {"ssm_out.weight", "mamba.out_proj.weight"},
    {"ssm_out.bias", "mamba.out_proj.bias"},
    {"ffn_gate.weight", "feed_forward.gate_proj.weight"},
    {"ffn_up.weight", "feed_forward.up_proj.weight"},
    {"ffn_down.weight", "feed_forward.down_proj.weight"},
    {"ffn_gate_inp.weight", "feed_forward.router.weight"},
    {"ffn_gate_exps.weight", "feed_forward.experts.*.gate_proj.weight"},
    {"ffn_up_exps.weight", "feed_forward.experts.*.up_proj.weight"},
    {"ffn_down_exps.weight", "feed_forward.experts.*.down_proj.weight"},
};
constexpr LayerName kGlobalNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.final_layernorm.weight"},
    {"output.weight", "lm_head.weight"},
};

// "<prefix><digits>.<rest>" -> (layer, rest); false when the name has another form.
bool split_layer(const std::string& name, const std::string& prefix, int64_t* layer, std::string* rest) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size();
  const size_t digits_begin = i;
  int64_t value = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && i - digits_begin < 7) {
    value = value * 10 + (name[i] - '0');
    ++i;
  }
  const size_t digits = i - digits_begin;
  if (digits == 0 || digits > 6 || (digits > 1 && name[digits_begin] == '0')) return false;
  if (i >= name.size() || name[i] != '.') return false;
  *layer = value;
  *rest = name.substr(i + 1);
  return true;
}

// head_count / feed_forward_length may be a scalar or one value per layer; returns per-layer.
std::vector<int64_t> per_layer(const GgufHeader& h, const GgufMetadata& m, const std::string& key, int64_t layers,
                               int64_t min) {
  const GgufValue* v = h.find(key);
  if (!v || !v->is_array()) return std::vector<int64_t>(static_cast<size_t>(layers), m.integer(key, min, kMaxDim));
  std::vector<int64_t> values = m.integer_array(key, min, kMaxDim);
  if (static_cast<int64_t>(values.size()) != layers)
    fail(m.label(), ": metadata '", key, "' has ", values.size(), " entries but block_count is ", layers,
         " (one per layer expected)");
  return values;
}

// The (period, offset) pair whose rule `i % period == offset` gives `layers`; false if none.
// Linear: the first marked layer fixes the offset and the gap to the second fixes the period (one
// marked layer: any period that puts the next one past the end; none: offset = period - 1 = n).
bool find_period(const std::vector<bool>& layers, int64_t* period, int64_t* offset) {
  const int64_t n = static_cast<int64_t>(layers.size());
  std::vector<int64_t> marked;
  for (int64_t i = 0; i < n && marked.size() < 2; ++i)
    if (layers[static_cast<size_t>(i)]) marked.push_back(i);
  int64_t p = 0, o = 0;
  if (marked.empty()) {
    p = n + 1;
    o = n;
  } else if (marked.size() == 1) {
    o = marked[0];
    p = std::max(o + 1, n - o);
  } else {
    o = marked[0];
    p = marked[1] - marked[0];
    if (o >= p) return false;
  }
  for (int64_t i = 0; i < n; ++i)
    if (((i % p) == o) != layers[static_cast<size_t>(i)]) return false;
  *period = p;
  *offset = o;
  return true;
}

const char* torch_dtype_of(GgmlType type) {
  switch (type) {
    case GgmlType::BF16: return "bfloat16";
    case GgmlType::F16: return "float16";
    default: return "float32";  // F32, and quantized types (converted to fp32 at load)
  }
}

}  // namespace

std::string hf_name_for_gguf(const std::string& gguf_name) {
  for (const LayerName& n : kGlobalNames)
    if (gguf_name == n.gguf) return n.hf;
  int64_t layer = 0;
  std::string rest;
  if (!split_layer(gguf_name, "blk.", &layer, &rest)) return "";
  for (const LayerName& n : kLayerNames)
    if (rest == n.gguf) return cat("model.layers.", layer, ".", n.hf);
  return "";
}

std::string gguf_name_for_hf(const std::string& hf_name) {
  for (const LayerName& n : kGlobalNames)
    if (hf_name == n.hf) return n.gguf;
  int64_t layer = 0;
  std::string rest;
  if (!split_layer(hf_name, "model.layers.", &layer, &rest)) return "";
  if (rest == "mamba.A_log") return cat("blk.", layer, ".ssm_a");
  if (rest == "mamba.conv1d.weight") return cat("blk.", layer, ".ssm_conv1d.weight");
  for (const LayerName& n : kLayerNames)
    if (rest == n.hf && std::strchr(n.hf, '*') == nullptr) return cat("blk.", layer, ".", n.gguf);
  return "";
}

ModelConfig jamba_config_from_gguf(const GgufHeader& h, const std::string& label) {
  const GgufMetadata m(h, label);
  const std::string arch = m.string("general.architecture");
  if (arch != "jamba")
    fail(label, ": general.architecture is '", arch.substr(0, 60), "', expected 'jamba' (this engine runs Jamba models only)");
  const std::string p = "jamba.";

  const int64_t L = m.integer(p + "block_count", 1, kMaxLayers);
  const int64_t H = m.integer(p + "embedding_length", 1, kMaxDim);
  const std::vector<int64_t> ffn = per_layer(h, m, p + "feed_forward_length", L, 1);
  if (std::adjacent_find(ffn.begin(), ffn.end(), std::not_equal_to<>()) != ffn.end())
    fail(label, ": metadata '", p, "feed_forward_length' varies per layer, which Jamba models do not do");
  const std::vector<int64_t> heads = per_layer(h, m, p + "attention.head_count", L, 0);
  const std::vector<int64_t> kv_heads = per_layer(h, m, p + "attention.head_count_kv", L, 0);

  // The attention layout: layers with KV heads. Every attention layer must share one head shape.
  std::vector<bool> attention(static_cast<size_t>(L));
  int64_t nh = 0, nkv = 0;
  for (int64_t i = 0; i < L; ++i) {
    const int64_t kv = kv_heads[static_cast<size_t>(i)], q = heads[static_cast<size_t>(i)];
    attention[static_cast<size_t>(i)] = kv > 0;
    if (kv == 0) continue;
    if (q == 0) fail(label, ": metadata '", p, "attention.head_count' is 0 on layer ", i, ", which has ", kv, " KV heads");
    if ((nkv != 0 && kv != nkv) || (nh != 0 && q != nh))
      fail(label, ": metadata '", p, "attention.head_count(_kv)' differs between attention layers (layer ", i, " has ", q,
           "/", kv, ", an earlier one ", nh, "/", nkv, "); Jamba models use one head shape");
    nh = q;
    nkv = kv;
  }
  if (nh == 0) nh = *std::max_element(heads.begin(), heads.end());
  if (nh == 0) nh = 1;  // no attention layer and no head count: any valid value
  if (nkv == 0) nkv = nh;

  // MoE layers: those holding a router.
  std::vector<bool> moe(static_cast<size_t>(L));
  bool any_moe = false;
  for (int64_t i = 0; i < L; ++i) {
    moe[static_cast<size_t>(i)] = h.tensor(cat("blk.", i, ".ffn_gate_inp.weight")) != nullptr;
    any_moe = any_moe || moe[static_cast<size_t>(i)];
  }
  const int64_t expert_count = m.optional_integer(p + "expert_count", 0, kMaxDim).value_or(0);
  const int64_t expert_used = m.optional_integer(p + "expert_used_count", 0, kMaxDim).value_or(0);
  if (any_moe && expert_count < 2)
    fail(label, ": the file has MoE layers (ffn_gate_inp) but metadata '", p, "expert_count' is ", expert_count,
         " (at least 2 expected)");
  if (any_moe && expert_used < 1)
    fail(label, ": the file has MoE layers but metadata '", p, "expert_used_count' is ", expert_used, " (at least 1 expected)");

  const GgufTensorInfo* embd = h.tensor("token_embd.weight");
  if (!embd) fail(label, ": tensor 'token_embd.weight' is missing");
  if (embd->ne.size() != 2 || embd->ne[0] != H)
    fail(label, ": tensor 'token_embd.weight' has ne ", nlohmann::json(embd->ne).dump(), "; expected [", H, ", vocab]");
  const int64_t V = embd->ne[1];
  if (const auto vocab = m.optional_integer(p + "vocab_size", 1, kMaxDim); vocab && *vocab != V)
    fail(label, ": metadata '", p, "vocab_size' is ", *vocab, " but token_embd has ", V, " rows");

  const int64_t inner = m.integer(p + "ssm.inner_size", 0, kMaxDim);
  const int64_t conv_kernel = m.integer(p + "ssm.conv_kernel", 0, kMaxDim);
  const int64_t state_size = m.integer(p + "ssm.state_size", 0, kMaxDim);
  const int64_t dt_rank = m.integer(p + "ssm.time_step_rank", 0, kMaxDim);
  const bool any_mamba = std::find(attention.begin(), attention.end(), false) != attention.end();
  if (any_mamba && (inner == 0 || conv_kernel == 0 || state_size == 0 || dt_rank == 0))
    fail(label, ": the file has Mamba layers but a 'jamba.ssm.*' size is 0");
  if (inner % H != 0)
    fail(label, ": metadata '", p, "ssm.inner_size' is ", inner, ", not a multiple of embedding_length ", H);

  nlohmann::json c = {
      {"model_type", "jamba"},
      {"vocab_size", V},
      {"hidden_size", H},
      {"intermediate_size", ffn[0]},
      {"num_hidden_layers", L},
      {"num_attention_heads", nh},
      {"num_key_value_heads", nkv},
      {"max_position_embeddings", m.integer(p + "context_length", 1, INT64_MAX)},
      {"rms_norm_eps", m.number(p + "attention.layer_norm_rms_epsilon")},
      {"mamba_expand", std::max<int64_t>(inner / H, 1)},
      {"mamba_d_conv", std::max<int64_t>(conv_kernel, 1)},
      {"mamba_d_state", std::max<int64_t>(state_size, 1)},
      {"mamba_dt_rank", std::max<int64_t>(dt_rank, 1)},
      {"num_experts", any_moe ? expert_count : 1},
      {"num_experts_per_tok", any_moe ? expert_used : 1},
      {"tie_word_embeddings", h.tensor("output.weight") == nullptr},
      {"mamba_conv_bias", false},
      {"mamba_proj_bias", false},
      {"dtype", torch_dtype_of(embd->type)},
      {"bos_token_id", nullptr},
      {"eos_token_id", nullptr},
      {"pad_token_id", nullptr},
  };
  if (const auto key_length = m.optional_integer(p + "attention.key_length", 1, kMaxDim)) {
    const auto value_length = m.optional_integer(p + "attention.value_length", 1, kMaxDim);
    if (value_length && *value_length != *key_length)
      fail(label, ": metadata '", p, "attention.key_length' ", *key_length, " differs from value_length ", *value_length);
    c["head_dim"] = *key_length;
  }
  for (const GgufTensorInfo& t : h.tensors) {
    const std::string& n = t.name;
    auto ends_with = [&](const char* s) {
      const size_t k = std::strlen(s);
      return n.size() >= k && n.compare(n.size() - k, k, s) == 0;
    };
    if (ends_with(".ssm_conv1d.bias")) c["mamba_conv_bias"] = true;
    if (ends_with(".ssm_in.bias") || ends_with(".ssm_out.bias")) c["mamba_proj_bias"] = true;
  }
  if (const auto id = m.optional_integer("tokenizer.ggml.bos_token_id", 0, INT32_MAX)) c["bos_token_id"] = *id;
  if (const auto id = m.optional_integer("tokenizer.ggml.eos_token_id", 0, INT32_MAX)) c["eos_token_id"] = *id;
  if (const auto id = m.optional_integer("tokenizer.ggml.padding_token_id", 0, INT32_MAX)) c["pad_token_id"] = *id;

  // Express the layout as periods when possible (so it prints and exports like a config.json).
  int64_t period = 0, offset = 0;
  const bool attention_periodic = find_period(attention, &period, &offset);
  c["attn_layer_period"] = attention_periodic ? period : L + 1;
  c["attn_layer_offset"] = attention_periodic ? offset : L;
  const bool moe_periodic = find_period(moe, &period, &offset);
  c["expert_layer_period"] = moe_periodic ? period : L + 1;
  c["expert_layer_offset"] = moe_periodic ? offset : L;

  ModelConfig config = parse_model_config(c, label + " (jamba metadata)");
  // Our extension: every end-of-sequence id (generation_config.json may list several).
  if (m.has(p + "eos_token_ids")) config.eos_token_ids = m.integer_array(p + "eos_token_ids", 0, V - 1);
  if (!attention_periodic) config.attention_layer_list = attention;
  if (!moe_periodic) config.moe_layer_list = moe;
  return config;
}

GgufWeightSource::GgufWeightSource(const std::string& path) : file_(path) {
  const GgufHeader& h = file_.header();
  config_ = jamba_config_from_gguf(h, path);
  for (const GgufTensorInfo& info : h.tensors) {
    const std::string hf = hf_name_for_gguf(info.name);
    if (hf.empty())
      fail(path, ": tensor '", info.name, "' is not part of a llama.cpp Jamba model (expected token_embd, output_norm, ",
           "output, and blk.N.{attn_*, ssm_*, ffn_*})");
    int64_t layer = 0;
    std::string rest;
    if (split_layer(hf, "model.layers.", &layer, &rest) && layer >= config_.num_hidden_layers)
      fail(path, ": tensor '", info.name, "' is for layer ", layer, " but block_count is ", config_.num_hidden_layers);
    const std::byte* data = file_.data(info);
    const size_t star = hf.find('*');
    if (star != std::string::npos) {
      // Stacked experts: ne [in, out, E]; expert e is the contiguous slice of out rows at e.
      if (info.ne.size() != 3)
        fail(path, ": tensor '", info.name, "' has ", info.ne.size(), " dimensions; expected 3 ([in, out, experts])");
      if (info.ne[2] != config_.num_experts)
        fail(path, ": tensor '", info.name, "' holds ", info.ne[2], " experts but expert_count is ", config_.num_experts);
      const auto type = *ggml_type_info(static_cast<uint32_t>(info.type));
      const int64_t slice_bytes = ggml_row_bytes(type, info.ne[0]) * info.ne[1];
      for (int64_t e = 0; e < info.ne[2]; ++e)
        add(hf.substr(0, star) + std::to_string(e) + hf.substr(star + 1), info, {info.ne[1], info.ne[0]},
            data + e * slice_bytes);
      continue;
    }
    std::vector<int64_t> shape = info.torch_shape();
    if (rest == "mamba.conv1d.weight" && shape.size() == 2) shape.insert(shape.begin() + 1, 1);  // [Di, K] -> [Di, 1, K]
    add(hf, info, shape, data);
  }
}

void GgufWeightSource::add(const std::string& hf_name, const GgufTensorInfo& info, const std::vector<int64_t>& shape,
                           const std::byte* data) {
  Entry entry;
  entry.view.shape = shape;
  entry.view.data = data;
  entry.where = cat(file_.path(), " (GGUF tensor '", info.name, "')");
  entry.stored_name = info.name;
  const auto type = *ggml_type_info(static_cast<uint32_t>(info.type));
  const size_t element = type.block_size == 1 ? static_cast<size_t>(type.block_bytes) : 1;
  const bool aligned = reinterpret_cast<uintptr_t>(data) % element == 0;
  switch (info.type) {
    case GgmlType::F32: entry.view.dtype = DType::F32; break;
    case GgmlType::F16: entry.view.dtype = DType::F16; break;
    case GgmlType::BF16: entry.view.dtype = DType::BF16; break;
    case GgmlType::I8: entry.view.dtype = DType::I8; break;
    case GgmlType::I16: entry.view.dtype = DType::I16; break;
    case GgmlType::I32: entry.view.dtype = DType::I32; break;
    case GgmlType::I64: entry.view.dtype = DType::I64; break;
    case GgmlType::F64: entry.view.dtype = DType::F64; break;
    default: {
      if (!type.dequantizable)
        fail(file_.path(), ": tensor '", info.name, "' has type ", type.name, ", which this engine cannot convert");
      int64_t numel = 1;
      for (int64_t d : shape) numel *= d;
      const int64_t row = shape.empty() ? 1 : shape.back();
      QuantizedView q{info.type, shape, data, ggml_row_bytes(type, row)};
      std::vector<float>& buffer = converted_.emplace_back(static_cast<size_t>(numel));
      dequantize_row(info.type, data, numel, buffer.data());
      entry.view.dtype = DType::F32;
      entry.view.data = buffer.data();
      entry.blocks = q;
      break;
    }
  }
  if (!entry.blocks && !aligned) {
    // A general.alignment below the element size can leave plain data misaligned: copy it.
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    std::vector<float>& buffer = converted_.emplace_back(static_cast<size_t>((numel * static_cast<int64_t>(element) + 3) / 4));
    std::memcpy(buffer.data(), data, static_cast<size_t>(numel) * element);
    entry.view.data = buffer.data();
  }
  if (!entries_.emplace(hf_name, std::move(entry)).second)
    fail(file_.path(), ": tensor '", info.name, "' maps to '", hf_name, "', which another tensor already provides");
}

TensorView GgufWeightSource::get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail(file_.path(), ": missing tensor '", name, "'");
  return it->second.view;
}

std::vector<std::string> GgufWeightSource::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

const std::string& GgufWeightSource::file_of(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? file_.path() : it->second.where;
}

std::string GgufWeightSource::stored_name(const std::string& name) const {
  auto it = entries_.find(name);
  if (it != entries_.end()) return it->second.stored_name;
  const std::string gguf = gguf_name_for_hf(name);
  return gguf.empty() ? name : gguf;
}

std::optional<QuantizedView> GgufWeightSource::quantized(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? std::nullopt : it->second.blocks;
}

}  // namespace jamba
