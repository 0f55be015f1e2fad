#include "cli/commands.h"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/gguf.h"
#include "format/gguf_jamba.h"
#include "format/safetensors.h"
#include "model/gguf_export.h"
#include "model/quantize.h"
#include "model/memory_plan.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/sampler.h"

#ifdef JAMBA_HAS_CUDA
#include "gpu/cuda_executor.h"
#endif

namespace jamba::cli {
namespace {

using nlohmann::json;

double per_second(int64_t count, double ms) { return ms > 0 ? count * 1000.0 / ms : 0.0; }

// Invalid UTF-8 cannot reach here from our decoders, but a JSON line must never throw.
void print_json(const json& doc) {
  std::printf("%s\n", doc.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
}

// Whether ids can be shown as text: tokenizer files in the directory, or a GGUF vocabulary.
bool has_tokenizer(const std::string& model) {
  if (is_gguf_model_path(model)) {
    const GgufFile file(model);
    const GgufValue* kind = file.header().find("tokenizer.ggml.model");
    return kind && kind->type == GgufValueType::STRING && kind->str == "llama";
  }
  return file_exists(model + "/tokenizer.json") || file_exists(model + "/tokenizer.model");
}

}  // namespace

std::unique_ptr<Engine> open_engine(const CommonOptions& common) {
  if (common.threads > 0) omp_set_num_threads(common.threads);
  if (common.device == "cuda") {
    if (common.backend != "cpu") fail("--backend picks a CPU op table; it does not combine with --device cuda");
#ifdef JAMBA_HAS_CUDA
    const gpu::MatmulMode mode = gpu::matmul_mode_from_name(common.gpu_matmul);
    std::unique_ptr<Model> model = Model::load(common.model_dir);
    std::unique_ptr<Executor> executor = gpu::cuda_executor(*model, mode);
    return std::make_unique<Engine>(std::move(model), std::move(executor), common.context);
#else
    fail("--device cuda: this jamba was built without CUDA (nvcc was not found when it was configured)");
#endif
  }
  if (common.device != "cpu") fail("unknown --device '", common.device, "' (expected cpu or cuda)");
  if (common.gpu_matmul != "auto") fail("--gpu-matmul applies to --device cuda only");
  const ops::Backend& backend = ops::backend_by_name(common.backend);
  return std::make_unique<Engine>(Model::load(common.model_dir), backend, common.context);
}

GenerationOptions generation_options(const GenerateOptions& options, const CommonOptions& common, const Engine& engine,
                                     const Tokenizer* tokenizer) {
  GenerationOptions gen;
  gen.max_new_tokens = options.max_new_tokens;
  gen.sampling.temperature = options.temperature;
  gen.sampling.top_k = options.top_k;
  gen.sampling.top_p = options.top_p;
  gen.sampling.seed = options.seed >= 0 ? static_cast<uint64_t>(options.seed) : std::random_device{}();
  gen.prefill_chunk = common.prefill_chunk;
  if (!options.ignore_eos) {
    gen.eos_token_ids = engine.config().eos_token_ids;
    if (tokenizer && tokenizer->eos_id() &&
        std::find(gen.eos_token_ids.begin(), gen.eos_token_ids.end(), *tokenizer->eos_id()) == gen.eos_token_ids.end())
      gen.eos_token_ids.push_back(*tokenizer->eos_id());
  }
  return gen;
}

std::vector<int32_t> parse_token_list(const std::string& text, const std::string& option) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t position = ids.size() + 1;
    if (item.empty()) fail(option, ": item ", position, " of '", text, "' is empty; expected comma-separated token ids");
    if (item.find_first_not_of("0123456789") != std::string::npos)
      fail(option, ": item ", position, " '", item, "' is not a non-negative integer token id");
    errno = 0;
    const unsigned long long value = std::strtoull(item.c_str(), nullptr, 10);
    if (errno == ERANGE || value > static_cast<unsigned long long>(INT32_MAX))
      fail(option, ": token id ", item, " is too large");
    ids.push_back(static_cast<int32_t>(value));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

int run_generate(const CommonOptions& common, const GenerateOptions& options) {
  const int prompt_sources = !options.tokens.empty() + !options.prompt.empty() + !options.prompt_file.empty();
  if (prompt_sources != 1) fail("give the prompt once: --tokens LIST, -p TEXT or --prompt-file FILE");
  // Text prompts need the tokenizer; so does printing text (ids are printed without one).
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int32_t> prompt;
  if (!options.tokens.empty()) {
    prompt = parse_token_list(options.tokens, "--tokens");
    if (has_tokenizer(common.model_dir)) tokenizer = Tokenizer::load(common.model_dir);
  } else {
    const std::string text = options.prompt_file.empty() ? options.prompt : read_text_file(options.prompt_file);
    tokenizer = Tokenizer::load(common.model_dir);
    prompt = tokenizer->encode(text);  // with the post-processor's BOS, as HF's tokenizer(text) gives
  }
  auto engine = open_engine(common);
  const GenerationOptions gen = generation_options(options, common, *engine, tokenizer.get());

  // Without --json, stream: text when there is a tokenizer (only complete UTF-8), else ids.
  const bool stream = !common.json;
  std::optional<StreamDecoder> decoder;
  if (tokenizer) decoder.emplace(*tokenizer, true);
  if (stream && decoder && options.display_prompt) {
    // Echo the prompt as its tokens decode (as llama.cpp does), through the same decoder, so
    // the continuation's first piece joins it as the full decode would (spaces, byte runs).
    for (int32_t id : prompt) {
      const std::string piece = decoder->push(id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    }
    std::fflush(stdout);
  }
  GenerationResult result = generate(*engine, prompt, gen, [&](int32_t token) {
    if (!stream) return;
    if (decoder) {
      const std::string piece = decoder->push(token);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else {
      std::printf("%d ", token);
    }
    std::fflush(stdout);
  });
  if (stream && decoder) {
    const std::string rest = decoder->finish();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
  const GenerationTimings& t = result.timings;
  const double prefill_rate = per_second(t.prompt_tokens, t.prefill_ms);
  // The first token comes from the prefill's logits; the decode rate counts the steps after it.
  const double decode_rate = per_second(std::max<int64_t>(t.generated_tokens - 1, 0), t.decode_ms);
  if (common.json) {
    json doc = {{"tokens", result.tokens},
                {"text", tokenizer ? json(tokenizer->decode(result.tokens, true)) : json(nullptr)},
                {"finish_reason", result.finish_reason},
                {"seed", gen.sampling.seed},
                {"timings",
                 {{"prompt_tokens", t.prompt_tokens},
                  {"prefill_ms", t.prefill_ms},
                  {"prefill_tokens_per_s", prefill_rate},
                  {"generated_tokens", t.generated_tokens},
                  {"decode_ms", t.decode_ms},
                  {"decode_tokens_per_s", decode_rate}}}};
    print_json(doc);
  } else {
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "prefill: %" PRId64 " tokens in %.1f ms (%.1f tok/s); decode: %" PRId64
                         " tokens in %.1f ms (%.1f tok/s); stop: %s\n",
                 t.prompt_tokens, t.prefill_ms, prefill_rate, t.generated_tokens, t.decode_ms, decode_rate,
                 result.finish_reason.c_str());
  }
  return 0;
}

int run_score(const CommonOptions& common, const ScoreOptions& options) {
  std::vector<std::vector<int32_t>> inputs;
  for (const std::string& list : options.token_lists) inputs.push_back(parse_token_list(list, "--tokens"));
  auto engine = open_engine(common);
  const int64_t V = engine->config().vocab_size;
  if (options.top > V) fail("--top ", options.top, " is more than the vocabulary size ", V);
  for (const auto& ids : inputs)
    if (static_cast<int64_t>(ids.size()) > engine->max_context())
      fail("an input has ", ids.size(), " tokens, more than the context of ", engine->max_context(), " (--ctx)");

  // All inputs advance together, a chunk of each per forward: sequences of different lengths in
  // one batch, no padding.
  HybridCache& cache = engine->cache();
  std::vector<SeqId> seqs;
  for (size_t i = 0; i < inputs.size(); ++i) seqs.push_back(cache.create_sequence());
  std::vector<std::vector<float>> logits(inputs.size());
  const size_t chunk = common.prefill_chunk > 0 ? static_cast<size_t>(common.prefill_chunk) : SIZE_MAX;
  for (size_t done = 0;; done += chunk) {
    std::vector<SequenceChunk> batch;
    std::vector<size_t> which;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (done >= inputs[i].size()) continue;
      const size_t n = std::min(chunk, inputs[i].size() - done);
      batch.push_back({seqs[i], std::span<const int32_t>(inputs[i]).subspan(done, n), true});
      which.push_back(i);
    }
    if (batch.empty()) break;
    auto out = engine->step(batch);
    for (size_t b = 0; b < which.size(); ++b)
      logits[which[b]].insert(logits[which[b]].end(), out[b].begin(), out[b].end());
  }

  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& ids = inputs[i];
    const int64_t n = static_cast<int64_t>(ids.size());
    json next_logprobs = json::array(), argmaxes = json::array(), tops = json::array();
    for (int64_t t = 0; t < n; ++t) {
      const float* row = logits[i].data() + t * V;
      for (int64_t v = 0; v < V; ++v)
        if (!std::isfinite(row[v])) fail("the model produced a non-finite logit at position ", t, " (broken weights?)");
      const std::vector<double> lp = log_softmax(row, V);
      if (t + 1 < n) next_logprobs.push_back(lp[ids[t + 1]]);
      argmaxes.push_back(argmax(row, V));
      if (options.top > 0) {
        std::vector<int32_t> order(V);
        for (int64_t v = 0; v < V; ++v) order[v] = static_cast<int32_t>(v);
        std::partial_sort(order.begin(), order.begin() + options.top, order.end(),
                          [&](int32_t a, int32_t b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
        json top = json::array();
        for (int64_t j = 0; j < options.top; ++j) top.push_back({order[j], lp[order[j]]});
        tops.push_back(top);
      }
    }
    if (common.json) {
      json doc = {{"tokens", ids}, {"next_logprobs", next_logprobs}, {"argmax", argmaxes}};
      if (options.top > 0) doc["top"] = tops;
      print_json(doc);
    } else {
      double total = 0;
      std::printf("sequence %zu (%" PRId64 " tokens)\n  pos  token  logprob(token|prefix)  argmax-next\n", i, n);
      for (int64_t t = 0; t < n; ++t) {
        if (t == 0) {
          std::printf("  %3" PRId64 "  %5d  %21s  %d\n", t, ids[t], "-", argmaxes[t].get<int>());
        } else {
          const double lp = next_logprobs[t - 1].get<double>();
          total += lp;
          std::printf("  %3" PRId64 "  %5d  %21.6f  %d\n", t, ids[t], lp, argmaxes[t].get<int>());
        }
      }
      std::printf("  total logprob %.6f\n", total);
    }
  }
  return 0;
}

namespace {

int64_t dtype_bytes_of(const std::string& name) {
  if (name == "f32") return 4;
  if (name == "q8_0" || name == "q4_0" || name == "q4_k" || name == "q6_k") return 1;  // only an estimate; GGUF sizes come from the file
  return 2;  // bf16, f16
}

// config.json's dtype string -> our short name.
std::string short_dtype(const std::string& torch_dtype) {
  if (torch_dtype == "bfloat16") return "bf16";
  if (torch_dtype == "float16") return "f16";
  return "f32";
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int u = 0;
  while (value >= 1024.0 && u < 5) {
    value /= 1024.0;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", value, units[u]);
  return buf;
}

std::string human_count(int64_t n) {
  char buf[64];
  if (n >= 1000000000)
    std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1000000)
    std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%" PRId64, n);
  return buf;
}

}  // namespace

int run_info(const CommonOptions& common, const InfoOptions& options) {
  const bool gguf = is_gguf_model_path(common.model_dir);
  std::optional<GgufFile> gguf_file;
  if (gguf) gguf_file.emplace(common.model_dir);
  const ModelConfig config =
      gguf ? jamba_config_from_gguf(gguf_file->header(), common.model_dir) : load_model_config(common.model_dir);
  const LayerPlan plan = LayerPlan::from_config(config);
  // The config's dtype is the compute dtype; what the weights take is what the files hold, so
  // with safetensors present the stored dtype (when all share one) and bytes are reported.
  std::string weight_dtype = short_dtype(config.torch_dtype);
  std::optional<int64_t> stored_bytes;
  if (gguf) {
    // The weights' size is the file's tensor bytes (blocks for quantized tensors).
    int64_t bytes = 0;
    std::set<std::string> types;
    for (const GgufTensorInfo& t : gguf_file->header().tensors) {
      bytes += static_cast<int64_t>(t.bytes);
      if (t.ne.size() > 1) types.insert(ggml_type_name(static_cast<uint32_t>(t.type)));
    }
    stored_bytes = bytes;
    if (types.size() == 1) {
      std::string t = *types.begin();
      for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      weight_dtype = t;
    }
  } else if (TensorStore::has_weights(common.model_dir)) {
    const TensorStore store = TensorStore::open(common.model_dir);
    std::set<DType> dtypes;
    int64_t bytes = 0;
    // A quantized checkpoint (model/quantize.h): the float tensors name the dtype (and the cache's).
    QuantizationConfig quantization;
    const bool quantized = read_quantization_config(common.model_dir, &quantization);
    for (const std::string& name : store.names()) {
      const TensorView t = store.get(name);
      const bool quantized_part = quantized && (t.dtype == DType::I8 || t.dtype == DType::U8 ||
                                                (name.size() > 6 && name.compare(name.size() - 6, 6, "_scale") == 0));
      if (!quantized_part) dtypes.insert(t.dtype);
      bytes += t.numel() * static_cast<int64_t>(dtype_size(t.dtype));
    }
    stored_bytes = bytes;
    if (dtypes.size() == 1) {
      const DType d = *dtypes.begin();
      weight_dtype = d == DType::BF16 ? "bf16" : d == DType::F16 ? "f16" : "f32";
    }
  }
  const std::string cache_dtype = options.cache_dtype.empty() ? weight_dtype : options.cache_dtype;
  const int64_t context = common.context > 0 ? common.context : config.max_position_embeddings;
  MemoryPlan m = plan_memory(config, dtype_bytes_of(weight_dtype), dtype_bytes_of(cache_dtype), context, options.batch);
  if (stored_bytes) {
    m.total_bytes += *stored_bytes - m.weight_bytes;
    m.weight_bytes = *stored_bytes;
  }
  std::string layout;
  for (const LayerSpec& s : plan.layers) layout += s.mixer == Mixer::Attention ? (s.ffn == Ffn::MoE ? 'A' : 'a') : (s.ffn == Ffn::MoE ? 'M' : 'm');

  const ParameterCounts& p = m.params;
  if (common.json) {
    json doc = {{"layers", config.num_hidden_layers},
                {"attention_layers", plan.attention_layers},
                {"mamba_layers", plan.mamba_layers},
                {"moe_layers", plan.moe_layers},
                {"dense_ffn_layers", config.num_hidden_layers - plan.moe_layers},
                {"layout", layout},
                {"parameters",
                 {{"attention", p.attention},
                  {"mamba", p.mamba},
                  {"dense_ffn", p.dense_ffn},
                  {"experts", p.experts},
                  {"router", p.router},
                  {"norms", p.norms},
                  {"embeddings", p.embeddings},
                  {"total", p.total()},
                  {"active_per_token", p.active()}}},
                {"weight_dtype", weight_dtype},
                {"cache_dtype", cache_dtype},
                {"weight_bytes", m.weight_bytes},
                {"kv_bytes_per_token", m.kv_bytes_per_token},
                {"state_bytes_per_sequence", m.state_bytes_per_sequence},
                {"context", m.context},
                {"batch", m.batch},
                {"kv_bytes", m.kv_bytes_total},
                {"state_bytes", m.state_bytes_total},
                {"total_bytes", m.total_bytes}};
    print_json(doc);
    return 0;
  }
  std::printf("model: %s\n", common.model_dir.c_str());
  std::printf("layers: %" PRId64 " (attention %" PRId64 ", Mamba %" PRId64 "; MoE FFN %" PRId64 ", dense FFN %" PRId64 ")\n",
              config.num_hidden_layers, plan.attention_layers, plan.mamba_layers, plan.moe_layers,
              config.num_hidden_layers - plan.moe_layers);
  std::printf("layout: %s  (a/A attention, m/M Mamba; capital = MoE FFN)\n", layout.c_str());
  std::printf("parameters: %s total, %s active per token (top-%" PRId64 " of %" PRId64 " experts)\n",
              human_count(p.total()).c_str(), human_count(p.active()).c_str(), config.num_experts_per_tok,
              config.num_experts);
  const std::pair<const char*, int64_t> kinds[] = {{"attention", p.attention}, {"mamba", p.mamba},
                                                   {"dense FFN", p.dense_ffn}, {"experts", p.experts},
                                                   {"routers", p.router},      {"norms", p.norms},
                                                   {"embeddings", p.embeddings}};
  for (const auto& [name, count] : kinds) std::printf("  %-11s %14" PRId64 "  (%s)\n", name, count, human_count(count).c_str());
  QuantizationConfig quantization;
  const bool quantized = !gguf && read_quantization_config(common.model_dir, &quantization);
  std::printf("weights: %s in %s%s\n", human_bytes(m.weight_bytes).c_str(), weight_dtype.c_str(),
              !quantized                  ? ""
              : quantization.bits == 8    ? ", matrices int8"
              : quantization.group == 32 ? ", matrices int4 (groups of 32)"
                                          : ", matrices int4 (groups of 64)");
  std::printf("cache (KV and conv window in %s, SSM state in f32):\n", cache_dtype.c_str());
  std::printf("  KV per token:        %s (%" PRId64 " B, %" PRId64 " attention layers)\n",
              human_bytes(m.kv_bytes_per_token).c_str(), m.kv_bytes_per_token, plan.attention_layers);
  std::printf("  state per sequence:  %s (%" PRId64 " B, %" PRId64 " Mamba layers)\n",
              human_bytes(m.state_bytes_per_sequence).c_str(), m.state_bytes_per_sequence, plan.mamba_layers);
  std::printf("at context %" PRId64 " x batch %" PRId64 ":\n", m.context, m.batch);
  std::printf("  weights %s + KV %s + states %s = %s\n", human_bytes(m.weight_bytes).c_str(),
              human_bytes(m.kv_bytes_total).c_str(), human_bytes(m.state_bytes_total).c_str(),
              human_bytes(m.total_bytes).c_str());
  return 0;
}

int run_export_gguf(const CommonOptions& common, const ExportGgufOptions& options) {
  if (is_gguf_model_path(common.model_dir))
    fail(common.model_dir, ": already a GGUF file; export-gguf reads a Hugging Face model directory");
  const GgufExportResult r = export_gguf(common.model_dir, options.output, options.type);
  if (common.json) {
    print_json({{"output", options.output},
                {"type", options.type},
                {"tensors", r.tensors},
                {"bytes", r.file_bytes},
                {"tokenizer", r.has_tokenizer},
                {"f16_fallbacks", r.fallbacks},
                {"llama_cpp_notes", r.notes}});
    return 0;
  }
  std::printf("wrote %s: %" PRId64 " tensors, %s, matrices in %s%s\n", options.output.c_str(), r.tensors,
              human_bytes(static_cast<int64_t>(r.file_bytes)).c_str(), options.type.c_str(),
              r.has_tokenizer ? ", with the tokenizer" : " (no tokenizer.model: no vocabulary in the file)");
  if (!r.fallbacks.empty())
    std::printf("%zu matrices have rows that are not a multiple of the block size and were stored as f16 (e.g. %s)\n",
                r.fallbacks.size(), r.fallbacks[0].c_str());
  for (const std::string& note : r.notes) std::printf("llama.cpp compatibility: %s\n", note.c_str());
  return 0;
}

}  // namespace jamba::cli
