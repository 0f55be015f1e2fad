#include "model/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/json_document.h"
#include "format/model_config.h"
#include "format/safetensors.h"
#include "model/layer_plan.h"
#include "model/weights.h"

namespace jamba {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* const kScaleSuffix = "_scale";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The matmul weights, by their HF names (the router and the embedding are not among them).
bool is_matmul_weight(const std::string& name, bool tied) {
  static const char* const kTails[] = {
      "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
      "mamba.in_proj.weight",    "mamba.x_proj.weight",     "mamba.dt_proj.weight",    "mamba.out_proj.weight",
      "gate_proj.weight",        "up_proj.weight",          "down_proj.weight"};
  if (name == "lm_head.weight") return !tied;
  for (const char* tail : kTails)
    if (ends_with(name, std::string(".") + tail)) return true;
  return false;
}

class QuantizedSource : public WeightSource {
 public:
  QuantizedSource(std::unique_ptr<WeightSource> inner, const QuantizationConfig& q) : inner_(std::move(inner)), q_(q) {}

  bool contains(const std::string& name) const override { return inner_->contains(name); }
  const std::string& file_of(const std::string& name) const override { return inner_->file_of(name); }
  std::string stored_name(const std::string& name) const override { return inner_->stored_name(name); }

  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const std::string& name : inner_->names()) {
      if (ends_with(name, kScaleSuffix)) {
        const std::string base = name.substr(0, name.size() - std::strlen(kScaleSuffix));
        if (inner_->contains(base) && is_stored_quantized(inner_->get(base).dtype)) continue;  // read with base
      }
      out.push_back(name);
    }
    return out;
  }

  TensorView get(const std::string& name) const override {
    TensorView t = inner_->get(name);
    if (!is_stored_quantized(t.dtype)) return t;
    const std::string& file = inner_->file_of(name);
    const int bits = t.dtype == DType::I8 ? 8 : 4;
    if (bits != q_.bits)
      fail(file, ": tensor '", name, "' is ", dtype_name(t.dtype), " (", bits,
           "-bit) but config.json's quantization_config says bits ", q_.bits);
    if (t.shape.size() != 2)
      fail(file, ": quantized tensor '", name, "' has shape ", shape_string(t.shape), "; expected 2 dimensions");
    const int64_t n = t.shape[0], k = bits == 8 ? t.shape[1] : 2 * t.shape[1];
    const std::string scale_name = name + kScaleSuffix;
    if (!inner_->contains(scale_name))
      fail(file, ": quantized tensor '", name, "' has no scale tensor '", scale_name, "'");
    const TensorView s = inner_->get(scale_name);
    const std::vector<int64_t> want =
        bits == 8 ? std::vector<int64_t>{n} : std::vector<int64_t>{n, q_.group > 0 ? k / q_.group : 0};
    if (bits == 4 && k % q_.group != 0)
      fail(file, ": int4 tensor '", name, "' has ", k, " columns, not a multiple of group_size ", q_.group);
    if (s.dtype != DType::F32)
      fail(inner_->file_of(scale_name), ": scale tensor '", scale_name, "' has dtype ", dtype_name(s.dtype),
           "; expected F32");
    if (s.shape != want)
      fail(inner_->file_of(scale_name), ": scale tensor '", scale_name, "' has shape ", shape_string(s.shape),
           "; expected ", shape_string(want), " for '", name, "' ", shape_string(t.shape));
    const float* scales = static_cast<const float*>(s.data);
    for (int64_t i = 0; i < s.numel(); ++i)
      if (!std::isfinite(scales[i]))
        fail(inner_->file_of(scale_name), ": scale tensor '", scale_name, "' holds NaN or Inf");
    TensorView v;
    v.dtype = bits == 8 ? DType::Q8 : DType::Q4;
    v.shape = {n, k};
    v.data = t.data;
    v.device = t.device;
    v.scales = scales;
    v.group_size = bits == 8 ? 0 : q_.group;
    return v;
  }

 private:
  static bool is_stored_quantized(DType d) { return d == DType::I8 || d == DType::U8; }
  std::unique_ptr<WeightSource> inner_;
  QuantizationConfig q_;
};

}  // namespace

bool quantize_row_q8(const float* w, int64_t k, int8_t* q, float* scale) {
  float amax = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (!std::isfinite(w[i])) return false;
    amax = std::max(amax, std::fabs(w[i]));
  }
  const float s = amax / 127.0f;
  *scale = s;
  for (int64_t i = 0; i < k; ++i)
    q[i] = s > 0 ? static_cast<int8_t>(std::clamp(std::nearbyint(w[i] / s), -127.0f, 127.0f)) : 0;
  return true;
}

// int4: 16 levels are few, so the scale is searched: candidates map the group's largest-magnitude
// value mx to a level between 6.5 and 8 (either sign: s may be negative, which puts mx on the
// -8 level), each refined by least squares (s = sum(w q) / sum(q q) for its q); the one with the
// smallest squared error wins. Plain max|w| / 7 is among the candidates, so this never does worse.
bool quantize_row_q4(const float* w, int64_t k, int64_t group, uint8_t* q, float* scales) {
  std::memset(q, 0, static_cast<size_t>(k / 2));
  std::vector<int> levels(static_cast<size_t>(group)), best(static_cast<size_t>(group));
  for (int64_t g = 0; g < k / group; ++g) {
    const float* wg = w + g * group;
    float mx = 0;
    for (int64_t i = 0; i < group; ++i) {
      if (!std::isfinite(wg[i])) return false;
      if (std::fabs(wg[i]) > std::fabs(mx)) mx = wg[i];
    }
    float best_scale = 0;
    std::fill(best.begin(), best.end(), 0);
    if (mx != 0) {
      double best_err = INFINITY;
      auto consider = [&](float s) {
        double wq = 0, qq = 0;
        for (int64_t i = 0; i < group; ++i) {
          levels[i] = static_cast<int>(std::clamp(std::nearbyint(wg[i] / s), -8.0f, 7.0f));
          wq += static_cast<double>(wg[i]) * levels[i];
          qq += static_cast<double>(levels[i]) * levels[i];
        }
        if (qq == 0) return;
        const float refined = static_cast<float>(wq / qq);
        double err = 0;
        for (int64_t i = 0; i < group; ++i) {
          const double d = wg[i] - static_cast<double>(levels[i]) * refined;
          err += d * d;
        }
        if (err < best_err) best_err = err, best_scale = refined, best = levels;
      };
      for (int i = 0; i <= 12; ++i) consider(mx / (-8.0f + 0.125f * static_cast<float>(i)));  // -8 .. -6.5
      for (int i = 0; i <= 8; ++i) consider(mx / (6.5f + 0.125f * static_cast<float>(i)));    // 6.5 .. 7.5
    }
    scales[g] = best_scale;
    for (int64_t i = 0; i < group; ++i) {
      const int64_t t = g * group + i;
      q[t / 2] |= static_cast<uint8_t>((best[i] + 8) << (t % 2 ? 4 : 0));
    }
  }
  return true;
}

bool read_quantization_config(const std::string& dir, QuantizationConfig* out) {
  const std::string path = (fs::path(dir) / "config.json").string();
  const json doc = parse_json_document(read_text_file(path), path);
  if (!doc.is_object() || !doc.contains("quantization_config") || doc["quantization_config"].is_null()) return false;
  const json& qc = doc["quantization_config"];
  if (!qc.is_object()) fail(path, ": field 'quantization_config' must be an object");
  const std::string method = qc.value("quant_method", std::string());
  if (method != "jamba.cpp")
    fail(path, ": quantization_config.quant_method is '", method,
         "'; only 'jamba.cpp' checkpoints (written by `jamba quantize`) are supported");
  if (!qc.contains("bits") || !qc["bits"].is_number_integer())
    fail(path, ": quantization_config.bits must be 8 or 4");
  const int64_t bits = qc["bits"].get<int64_t>();
  const int64_t group = qc.contains("group_size") && qc["group_size"].is_number_integer() ? qc["group_size"].get<int64_t>() : -1;
  if (bits == 8 && group != 0) fail(path, ": quantization_config.group_size must be 0 for bits 8, not ", group);
  if (bits == 4 && group != 32 && group != 64)
    fail(path, ": quantization_config.group_size must be 32 or 64 for bits 4, not ", group);
  if (bits != 8 && bits != 4) fail(path, ": quantization_config.bits is ", bits, "; expected 8 or 4");
  if (qc.contains("scale_suffix") && qc["scale_suffix"] != kScaleSuffix)
    fail(path, ": quantization_config.scale_suffix must be '", kScaleSuffix, "'");
  out->bits = static_cast<int>(bits);
  out->group = group;
  return true;
}

std::unique_ptr<WeightSource> make_quantized_source(std::unique_ptr<WeightSource> inner, const QuantizationConfig& q) {
  return std::make_unique<QuantizedSource>(std::move(inner), q);
}

QuantizeResult quantize_checkpoint(const std::string& in_dir, const std::string& out_dir, int bits, int64_t group) {
  if (bits != 8 && bits != 4) fail("quantize: --type must be int8 or int4");
  if (bits == 8 && group != 0) fail("quantize: --group applies to int4 only");
  if (bits == 4 && group != 32 && group != 64) fail("quantize: --group must be 32 or 64, not ", group);
  if (fs::exists(in_dir) && !fs::is_directory(in_dir))
    fail(in_dir, ": quantize reads a Hugging Face model directory, not a file");
  QuantizationConfig existing;
  if (read_quantization_config(in_dir, &existing)) fail(in_dir, ": the checkpoint is already quantized");
  std::error_code ec;
  if (fs::equivalent(in_dir, out_dir, ec)) fail("quantize: the output directory must differ from the input");

  // Validate the whole input first: a broken checkpoint fails here, before anything is written.
  const ModelConfig config = load_model_config(in_dir);
  const TensorStore store = TensorStore::open(in_dir);
  bind_weights(store, config, LayerPlan::from_config(config));

  QuantizeResult result;
  std::vector<TensorHeader> headers;
  struct Plan {
    std::string name;
    int kind;  // 0 copy, 1 quantized data, 2 scales
  };
  std::vector<Plan> plans;
  for (const std::string& name : store.names()) {
    const TensorView t = store.get(name);
    result.bytes_in += static_cast<uint64_t>(view_bytes(t));
    const bool matmul = is_matmul_weight(name, config.tie_word_embeddings) && t.shape.size() == 2;
    const int64_t n = t.rows(), k = t.row_size();
    if (matmul && bits == 4 && k % group != 0) result.skipped.push_back(name);
    if (!matmul || (bits == 4 && k % group != 0)) {
      headers.push_back({name, t.dtype, t.shape});
      plans.push_back({name, 0});
      ++result.copied;
      continue;
    }
    ++result.quantized;
    headers.push_back({name, bits == 8 ? DType::I8 : DType::U8, {n, bits == 8 ? k : k / 2}});
    plans.push_back({name, 1});
    headers.push_back({name + kScaleSuffix, DType::F32, bits == 8 ? std::vector<int64_t>{n} : std::vector<int64_t>{n, k / group}});
    plans.push_back({name, 2});
  }
  // Scales (fp32) first keeps every tensor 4-byte aligned in the file.
  std::vector<size_t> order(headers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(headers[a].dtype) > dtype_size(headers[b].dtype);
  });
  std::vector<TensorHeader> sorted_headers;
  std::vector<Plan> sorted_plans;
  for (size_t i : order) {
    sorted_headers.push_back(headers[i]);
    sorted_plans.push_back(plans[i]);
  }

  fs::create_directories(out_dir, ec);
  if (!fs::is_directory(out_dir)) fail(out_dir, ": cannot create the output directory");
  // A quantized matrix and its scales come from one pass; remember the scales until written.
  std::map<std::string, std::vector<float>> pending_scales;
  std::map<std::string, std::vector<std::byte>> pending_data;
  auto quantize_tensor = [&](const std::string& name) {
    const TensorView t = store.get(name);
    const int64_t n = t.rows(), k = t.row_size();
    const int64_t row_bytes = bits == 8 ? k : k / 2, row_scales = bits == 8 ? 1 : k / group;
    std::vector<std::byte> data(static_cast<size_t>(n * row_bytes));
    std::vector<float> scales(static_cast<size_t>(n * row_scales));
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t j = 0; j < n; ++j) {
      load_row(t, j, row.data());
      const bool ok = bits == 8 ? quantize_row_q8(row.data(), k, reinterpret_cast<int8_t*>(data.data()) + j * row_bytes,
                                                  scales.data() + j)
                                : quantize_row_q4(row.data(), k, group,
                                                  reinterpret_cast<uint8_t*>(data.data()) + j * row_bytes,
                                                  scales.data() + j * row_scales);
      if (!ok) fail(store.file_of(name), ": tensor '", name, "' row ", j, " holds NaN or Inf; cannot quantize it");
    }
    pending_data[name] = std::move(data);
    pending_scales[name] = std::move(scales);
  };
  const std::string out_file = (fs::path(out_dir) / "model.safetensors").string();
  write_safetensors_streamed(out_file, sorted_headers, [&](size_t i, std::byte* out) {
    const Plan& p = sorted_plans[i];
    if (p.kind == 0) {
      const TensorView t = store.get(p.name);
      std::memcpy(out, t.data, static_cast<size_t>(view_bytes(t)));
      return;
    }
    if (!pending_data.count(p.name)) quantize_tensor(p.name);
    if (p.kind == 1) {
      std::memcpy(out, pending_data[p.name].data(), pending_data[p.name].size());
      pending_data[p.name].clear();
    } else {
      std::memcpy(out, pending_scales[p.name].data(), pending_scales[p.name].size() * sizeof(float));
      pending_scales[p.name].clear();
    }
  }, {{"format", "pt"}, {"quantized_by", "jamba.cpp"}});
  result.bytes_out = fs::file_size(out_file);

  // config.json with quantization_config; the other files (tokenizer, generation config) copied.
  const std::string config_path = (fs::path(in_dir) / "config.json").string();
  json doc = parse_json_document(read_text_file(config_path), config_path);
  doc["quantization_config"] = {{"quant_method", "jamba.cpp"},  {"bits", bits},
                                {"group_size", bits == 8 ? 0 : group}, {"scale_dtype", "F32"},
                                {"scale_suffix", kScaleSuffix}, {"modules_not_quantized", result.skipped}};
  {
    std::ofstream f(fs::path(out_dir) / "config.json");
    f << doc.dump(2) << "\n";
    if (!f) fail(out_dir, ": cannot write config.json");
  }
  for (const auto& entry : fs::directory_iterator(in_dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string file = entry.path().filename().string();
    if (file == "config.json" || file == "model.safetensors.index.json" || ends_with(file, ".safetensors")) continue;
    fs::copy_file(entry.path(), fs::path(out_dir) / file, fs::copy_options::overwrite_existing, ec);
    if (ec) fail(out_dir, ": cannot copy ", file, ": ", ec.message());
  }
  return result;
}

}  // namespace jamba
