#include "model/gguf_export.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "base/error.h"
#include "base/half.h"
#include "format/gguf.h"
#include "format/model_config.h"
#include "format/safetensors.h"
#include "format/tokenizer/gguf_vocab.h"
#include "model/layer_plan.h"
#include "model/weights.h"

namespace jamba {

namespace {

// llama.cpp's general.file_type values (LLAMA_FTYPE_*).
struct ExportType {
  const char* name;
  GgmlType type;
  uint32_t file_type;
};
constexpr ExportType kTypes[] = {{"f32", GgmlType::F32, 0},
                                 {"f16", GgmlType::F16, 1},
                                 {"bf16", GgmlType::BF16, 32},
                                 {"q8_0", GgmlType::Q8_0, 7},
                                 {"q4_0", GgmlType::Q4_0, 2},
                                 {"q4_k", GgmlType::Q4_K, 14},
                                 {"q6_k", GgmlType::Q6_K, 18}};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::byte> encode(const std::vector<float>& x, GgmlType type) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<std::byte> out;
  switch (type) {
    case GgmlType::F32:
      out.resize(x.size() * 4);
      std::memcpy(out.data(), x.data(), out.size());
      break;
    case GgmlType::F16:
    case GgmlType::BF16: {
      out.resize(x.size() * 2);
      for (size_t i = 0; i < x.size(); ++i) {
        const uint16_t h = type == GgmlType::F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    }
    case GgmlType::Q8_0:
      out.resize(static_cast<size_t>(n / 32 * 34));
      quantize_row_q8_0(x.data(), n, out.data());
      break;
    case GgmlType::Q4_0:
      out.resize(static_cast<size_t>(n / 32 * 18));
      quantize_row_q4_0(x.data(), n, out.data());
      break;
    case GgmlType::Q4_K:
      out.resize(static_cast<size_t>(n / 256 * 144));
      quantize_row_q4_k_plain(x.data(), n, out.data());
      break;
    case GgmlType::Q6_K:
      out.resize(static_cast<size_t>(n / 256 * 210));
      quantize_row_q6_k_plain(x.data(), n, out.data());
      break;
    default: fail("export-gguf: cannot write type ", ggml_type_name(static_cast<uint32_t>(type)));
  }
  return out;
}

class Exporter {
 public:
  Exporter(const TensorStore& store, GgmlType requested, GgufExportResult& result)
      : store_(store), requested_(requested), result_(result) {}

  // One tensor: `gguf` name, ggml ne, and a function giving its values as fp32 (row-major in
  // PyTorch order, which is ggml's order with ne[0] fastest).
  void add(const std::string& gguf, std::vector<int64_t> ne, std::function<std::vector<float>()> values) {
    GgmlType type = requested_;
    const bool keep_f32 = ne.size() == 1 || ends_with(gguf, "_norm.weight") || gguf.find("ffn_gate_inp") != std::string::npos ||
                          gguf.find("ssm_conv1d") != std::string::npos || !ends_with(gguf, ".weight");
    if (keep_f32) type = GgmlType::F32;
    const int64_t block = (type == GgmlType::Q4_K || type == GgmlType::Q6_K) ? 256 : 32;
    if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16 && ne[0] % block != 0) {
      result_.fallbacks.push_back(gguf);
      type = GgmlType::F16;
    }
    writer.add_tensor({gguf, std::move(ne), type, {}, [values = std::move(values), type] { return encode(values(), type); }});
    ++result_.tensors;
  }

  // A stored tensor as it is, under a GGUF name (shape reversed into ne).
  void add_stored(const std::string& gguf, const std::string& hf) {
    const TensorView t = store_.get(hf);
    add(gguf, std::vector<int64_t>(t.shape.rbegin(), t.shape.rend()), [t] { return to_f32(t); });
  }

  GgufWriter writer;

 private:
  const TensorStore& store_;
  GgmlType requested_;
  GgufExportResult& result_;
};

}  // namespace

GgufExportResult export_gguf(const std::string& model_dir, const std::string& out_path, const std::string& type_name) {
  const ExportType* type = nullptr;
  for (const ExportType& t : kTypes)
    if (type_name == t.name) type = &t;
  if (!type) fail("export-gguf: unknown --type '", type_name, "' (expected f32, f16, bf16, q8_0, q4_0, q4_k or q6_k)");

  const ModelConfig c = load_model_config(model_dir);
  const TensorStore store = TensorStore::open(model_dir);
  const LayerPlan plan = LayerPlan::from_config(c);
  bind_weights(store, c, plan);  // validates every tensor before anything is written

  GgufExportResult result;
  Exporter ex(store, type->type, result);
  GgufWriter& w = ex.writer;
  const int64_t L = c.num_hidden_layers, H = c.hidden_size, Di = c.d_inner(), K = c.mamba_d_conv;
  const int64_t E = c.num_experts, I = c.intermediate_size;

  // What llama.cpp's Jamba loader asserts or cannot represent.
  if (c.mamba_expand != 2 && plan.mamba_layers > 0)
    result.notes.push_back(cat("mamba_expand is ", c.mamba_expand, "; llama.cpp's Jamba loader requires 2"));
  if (c.num_attention_heads * c.head_dim != H && plan.attention_layers > 0)
    result.notes.push_back("heads x head_dim differs from hidden_size; llama.cpp's Jamba loader expects them equal");
  if (c.mamba_proj_bias && plan.mamba_layers > 0)
    result.notes.push_back("mamba_proj_bias: ssm_in.bias / ssm_out.bias are written, which llama.cpp does not know");

  const std::string name = std::filesystem::path(model_dir).filename().string();
  w.add("general.architecture", gguf_string("jamba"));
  w.add("general.type", gguf_string("model"));
  w.add("general.name", gguf_string(name.empty() ? std::string("jamba") : name));
  const std::string p = "jamba.";
  w.add(p + "block_count", gguf_u32(static_cast<uint32_t>(L)));
  if (c.max_position_embeddings > static_cast<int64_t>(UINT32_MAX))
    result.notes.push_back("max_position_embeddings is beyond u32: context_length written as 2^32-1");
  w.add(p + "context_length",
        gguf_u32(static_cast<uint32_t>(std::min<int64_t>(c.max_position_embeddings, UINT32_MAX))));
  w.add(p + "embedding_length", gguf_u32(static_cast<uint32_t>(H)));
  w.add(p + "feed_forward_length", gguf_u32(static_cast<uint32_t>(I)));
  w.add(p + "attention.head_count", gguf_u32(static_cast<uint32_t>(c.num_attention_heads)));
  std::vector<int32_t> kv_heads;
  for (const LayerSpec& s : plan.layers)
    kv_heads.push_back(s.mixer == Mixer::Attention ? static_cast<int32_t>(c.num_key_value_heads) : 0);
  w.add(p + "attention.head_count_kv", gguf_i32_array(kv_heads));
  if (c.head_dim * c.num_attention_heads != H) {
    w.add(p + "attention.key_length", gguf_u32(static_cast<uint32_t>(c.head_dim)));
    w.add(p + "attention.value_length", gguf_u32(static_cast<uint32_t>(c.head_dim)));
  }
  w.add(p + "ssm.conv_kernel", gguf_u32(static_cast<uint32_t>(K)));
  w.add(p + "ssm.inner_size", gguf_u32(static_cast<uint32_t>(Di)));
  w.add(p + "ssm.state_size", gguf_u32(static_cast<uint32_t>(c.mamba_d_state)));
  w.add(p + "ssm.time_step_rank", gguf_u32(static_cast<uint32_t>(c.mamba_dt_rank)));
  w.add(p + "attention.layer_norm_rms_epsilon", gguf_f32(static_cast<float>(c.rms_norm_eps)));
  // llama.cpp asserts expert_used_count <= expert_count, and both 0 when there is no MoE layer.
  w.add(p + "expert_count", gguf_u32(plan.moe_layers > 0 ? static_cast<uint32_t>(E) : 0));
  w.add(p + "expert_used_count", gguf_u32(plan.moe_layers > 0 ? static_cast<uint32_t>(c.num_experts_per_tok) : 0));
  w.add("general.file_type", gguf_u32(type->file_type));
  w.add("general.quantization_version", gguf_u32(2));

  std::optional<GgufVocab> vocab = gguf_vocab_from_model_dir(model_dir, c.vocab_size);
  if (vocab) {
    result.has_tokenizer = true;
    // config.json's special ids where the tokenizer files name none.
    if (!vocab->bos && c.bos_token_id >= 0) vocab->bos = c.bos_token_id;
    if (!vocab->eos && !c.eos_token_ids.empty()) vocab->eos = c.eos_token_ids[0];
    if (!vocab->pad && c.pad_token_id >= 0) vocab->pad = c.pad_token_id;
    add_gguf_vocab(w, *vocab);
  } else {
    w.add("tokenizer.ggml.model", gguf_string("none"));
    w.add(p + "vocab_size", gguf_u32(static_cast<uint32_t>(c.vocab_size)));
    if (c.bos_token_id >= 0) w.add("tokenizer.ggml.bos_token_id", gguf_u32(static_cast<uint32_t>(c.bos_token_id)));
    if (!c.eos_token_ids.empty())
      w.add("tokenizer.ggml.eos_token_id", gguf_u32(static_cast<uint32_t>(c.eos_token_ids[0])));
    if (c.pad_token_id >= 0) w.add("tokenizer.ggml.padding_token_id", gguf_u32(static_cast<uint32_t>(c.pad_token_id)));
  }
  // Several end-of-sequence ids (generation_config.json) do not fit tokenizer.ggml.eos_token_id;
  // this key (ignored by llama.cpp) keeps them all.
  if (c.eos_token_ids.size() > 1) {
    std::vector<int32_t> eos(c.eos_token_ids.begin(), c.eos_token_ids.end());
    w.add(p + "eos_token_ids", gguf_i32_array(eos));
  }

  ex.add_stored("token_embd.weight", "model.embed_tokens.weight");
  for (int64_t i = 0; i < L; ++i) {
    const LayerSpec& s = plan.layers[static_cast<size_t>(i)];
    const std::string hf = cat("model.layers.", i, "."), g = cat("blk.", i, ".");
    ex.add_stored(g + "attn_norm.weight", hf + "input_layernorm.weight");
    if (s.mixer == Mixer::Attention) {
      ex.add_stored(g + "attn_q.weight", hf + "self_attn.q_proj.weight");
      ex.add_stored(g + "attn_k.weight", hf + "self_attn.k_proj.weight");
      ex.add_stored(g + "attn_v.weight", hf + "self_attn.v_proj.weight");
      ex.add_stored(g + "attn_output.weight", hf + "self_attn.o_proj.weight");
    } else {
      const std::string m = hf + "mamba.";
      ex.add_stored(g + "ssm_in.weight", m + "in_proj.weight");
      if (c.mamba_proj_bias) ex.add_stored(g + "ssm_in.bias", m + "in_proj.bias");
      const TensorView conv = store.get(m + "conv1d.weight");
      ex.add(g + "ssm_conv1d.weight", {K, Di}, [conv] { return to_f32(conv); });  // [Di, 1, K] squeezed
      if (c.mamba_conv_bias) {
        ex.add_stored(g + "ssm_conv1d.bias", m + "conv1d.bias");
      } else {
        // llama.cpp requires the bias; zeros compute the same thing.
        ex.add(g + "ssm_conv1d.bias", {Di}, [Di] { return std::vector<float>(static_cast<size_t>(Di), 0.0f); });
      }
      ex.add_stored(g + "ssm_x.weight", m + "x_proj.weight");
      ex.add_stored(g + "ssm_dt.weight", m + "dt_proj.weight");
      ex.add_stored(g + "ssm_dt.bias", m + "dt_proj.bias");
      const TensorView a_log = store.get(m + "A_log");
      ex.add(g + "ssm_a", {c.mamba_d_state, Di}, [a_log] {
        std::vector<float> a = to_f32(a_log);
        for (float& v : a) v = -std::exp(v);  // exactly as bind_weights computes A
        return a;
      });
      ex.add_stored(g + "ssm_d", m + "D");
      ex.add_stored(g + "ssm_dt_norm.weight", m + "dt_layernorm.weight");
      ex.add_stored(g + "ssm_b_norm.weight", m + "b_layernorm.weight");
      ex.add_stored(g + "ssm_c_norm.weight", m + "c_layernorm.weight");
      ex.add_stored(g + "ssm_out.weight", m + "out_proj.weight");
      if (c.mamba_proj_bias) ex.add_stored(g + "ssm_out.bias", m + "out_proj.bias");
    }
    ex.add_stored(g + "ffn_norm.weight", hf + "pre_ff_layernorm.weight");
    const std::string f = hf + "feed_forward.";
    if (s.ffn == Ffn::MoE) {
      ex.add_stored(g + "ffn_gate_inp.weight", f + "router.weight");
      for (const char* proj : {"gate", "up", "down"}) {
        std::vector<TensorView> experts;
        for (int64_t e = 0; e < E; ++e) experts.push_back(store.get(cat(f, "experts.", e, ".", proj, "_proj.weight")));
        const std::vector<int64_t> ne = std::string(proj) == "down" ? std::vector<int64_t>{I, H, E} : std::vector<int64_t>{H, I, E};
        ex.add(cat(g, "ffn_", proj, "_exps.weight"), ne, [experts] {
          std::vector<float> all;
          for (const TensorView& t : experts) {
            const std::vector<float> one = to_f32(t);
            all.insert(all.end(), one.begin(), one.end());
          }
          return all;
        });
      }
    } else {
      ex.add_stored(g + "ffn_gate.weight", f + "gate_proj.weight");
      ex.add_stored(g + "ffn_up.weight", f + "up_proj.weight");
      ex.add_stored(g + "ffn_down.weight", f + "down_proj.weight");
    }
  }
  ex.add_stored("output_norm.weight", "model.final_layernorm.weight");
  if (!c.tie_word_embeddings) ex.add_stored("output.weight", "lm_head.weight");

  // Write beside the target and rename, so a failed export leaves no half file under its name.
  const std::string partial = out_path + ".partial";
  try {
    w.write(partial);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(partial, out_path, ec);
  if (ec) fail(out_path, ": cannot move the finished file into place: ", ec.message());
  result.file_bytes = std::filesystem::file_size(out_path, ec);
  return result;
}

}  // namespace jamba
