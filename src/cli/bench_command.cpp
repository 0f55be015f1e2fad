// `jamba bench`: prefill and decode speed of a model, or of random weights of any config's
// shape, read against this machine's own measured memory bandwidth.
//
// Prefill at P tokens: one sequence, P random token ids, fed in --prefill-chunk pieces.
// Decode at batch B and context C: B sequences whose caches are filled to C tokens with random
// K/V rows (the Mamba state is fixed-size, its values do not change the work), then --gen steps
// of one token per sequence, all B in one forward per step.
// The decode floor: the bytes one step must read (every non-expert weight, the experts the
// batch routes to — k per MoE layer at batch 1, the expected number of distinct ones for
// uniform routing at batch B —, the LM head, K/V of the context, the Mamba states read and
// written) divided by the measured read bandwidth.
// With --device cuda the limits are the GPU's, measured in the same run: read bandwidth (a
// read-only kernel) and the bf16 GEMM rate (cuBLASLt, 8192³), against which prefill is read;
// decode points whose KV cache cannot fit the GPU's free memory are reported as skipped.
#include <omp.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/mapped_file.h"
#include "cli/commands.h"
#include "format/json_document.h"
#include "model/model.h"
#include "model/quantize.h"
#include "model/random_checkpoint.h"
#include "runtime/engine.h"
#include "runtime/machine.h"

#ifdef JAMBA_HAS_CUDA
#include "ops/cuda/cuda_ops.h"
#endif

namespace jamba::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct WeightTraffic {
  int64_t always = 0;      // read by every decode step whatever the batch
  int64_t per_expert = 0;  // one expert of one MoE layer
  int64_t moe_layers = 0;
  int64_t total = 0;       // every weight (embedding rows are gathered, so it counts as one row a token)
};

WeightTraffic weight_traffic(const Model& model) {
  WeightTraffic w;
  const Weights& W = model.weights;
  w.always += view_bytes(W.lm_head);
  w.total += view_bytes(W.embed_tokens) + (W.lm_head.data == W.embed_tokens.data ? 0 : view_bytes(W.lm_head));
  for (size_t i = 0; i < W.layers.size(); ++i) {
    const LayerWeights& L = W.layers[i];
    const LayerSpec& s = model.plan.layers[i];
    int64_t mixer = 0;
    if (s.mixer == Mixer::Attention) {
      mixer = view_bytes(L.attention.q_proj) + view_bytes(L.attention.k_proj) + view_bytes(L.attention.v_proj) +
              view_bytes(L.attention.o_proj);
    } else {
      mixer = view_bytes(L.mamba.in_proj) + view_bytes(L.mamba.x_proj) + view_bytes(L.mamba.dt_proj) +
              view_bytes(L.mamba.out_proj);
    }
    w.always += mixer;
    w.total += mixer;
    if (s.ffn == Ffn::MoE) {
      const FfnWeights& e = L.moe.experts.at(0);
      w.per_expert = view_bytes(e.gate_proj) + view_bytes(e.up_proj) + view_bytes(e.down_proj);
      w.always += view_bytes(L.moe.router);
      w.total += view_bytes(L.moe.router) + w.per_expert * static_cast<int64_t>(L.moe.experts.size());
      ++w.moe_layers;
    } else {
      const int64_t dense = view_bytes(L.dense.gate_proj) + view_bytes(L.dense.up_proj) + view_bytes(L.dense.down_proj);
      w.always += dense;
      w.total += dense;
    }
  }
  return w;
}

// Bytes one decode step reads for B sequences at context C.
double decode_step_bytes(const Model& model, const WeightTraffic& w, const HybridCache& cache, int64_t B, int64_t C) {
  const ModelConfig& c = model.config;
  double experts = 0;
  if (w.moe_layers > 0) {
    const double E = static_cast<double>(c.num_experts), k = static_cast<double>(c.num_experts_per_tok);
    const double distinct = E * (1.0 - std::pow(1.0 - k / E, static_cast<double>(B)));
    experts = distinct * static_cast<double>(w.per_expert * w.moe_layers);
  }
  const double kv = static_cast<double>(B) * static_cast<double>(C) * 2.0 * cache.kv_row_floats() * sizeof(float) *
                    static_cast<double>(model.plan.attention_layers);
  const double per_seq_state =
      static_cast<double>(model.plan.mamba_layers) *
      static_cast<double>((c.mamba_d_conv - 1) * c.d_inner() + c.d_inner() * c.mamba_d_state) * sizeof(float);
  return static_cast<double>(w.always) + experts + kv + 2.0 * B * per_seq_state;
}

// 2 x (every matmul weight one token passes through) + attention's QK and PV over the context.
double flops_per_token(const Model& model, const WeightTraffic& w, double context) {
  const ModelConfig& c = model.config;
  double params = 0;
  for (const TensorView* t : {&model.weights.lm_head}) params += static_cast<double>(t->numel());
  // Bytes per parameter of lm_head's format (quantized: the integers plus their scales).
  const double bytes_per = static_cast<double>(view_bytes(model.weights.lm_head)) /
                           static_cast<double>(std::max<int64_t>(1, model.weights.lm_head.numel()));
  params += (static_cast<double>(w.always) - static_cast<double>(view_bytes(model.weights.lm_head))) / bytes_per;
  params += static_cast<double>(c.num_experts_per_tok * w.per_expert * w.moe_layers) / bytes_per;
  const double attn = 4.0 * context * static_cast<double>(c.num_attention_heads * c.head_dim) *
                      static_cast<double>(model.plan.attention_layers);
  return 2.0 * params + attn;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(n);
  for (auto& id : ids) id = pick(rng);
  return ids;
}

// A temporary directory removed on every exit path.
struct TempModelDir {
  fs::path path;
  TempModelDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/jamba-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) fail("cannot create a temporary directory under ", tmpl);
    path = tmpl;
  }
  ~TempModelDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

DType random_dtype(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "bf16") return DType::BF16;
  if (name == "f16") return DType::F16;
  fail("--dtype ", name, ": random weights can be f32, bf16 or f16 in this build");
}

}  // namespace

int run_random_model(const RandomModelOptions& options) {
  const json config = parse_json_document(read_text_file(options.config_file), options.config_file);
  if (!config.is_object()) fail(options.config_file, ": expected a JSON object");
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) fail(options.out_dir, ": cannot create: ", ec.message());
  if (fs::exists(fs::path(options.out_dir) / "model.safetensors") ||
      fs::exists(fs::path(options.out_dir) / "model.safetensors.index.json"))
    fail(options.out_dir, ": already holds a checkpoint; give an empty or new directory");
  write_random_checkpoint(options.out_dir, config, random_dtype(options.dtype), options.seed);
  return 0;
}

int run_bench(const CommonOptions& common, const BenchOptions& options) {
  if (options.random_weights == options.config_file.empty())
    fail(options.random_weights ? "--random-weights needs --config FILE"
                                : "--config is for random weights: add --random-weights (or use -m MODEL)");
  if (!options.random_weights && !options.dtype.empty()) fail("--dtype applies to --random-weights only");
  if (options.random_weights && !common.model_dir.empty())
    fail("-m and --random-weights exclude each other: measure a checkpoint, or random weights of --config");
  std::unique_ptr<TempModelDir> temp;
  std::string model_dir = common.model_dir;
  if (options.random_weights) {
    const json config = parse_json_document(read_text_file(options.config_file), options.config_file);
    if (!config.is_object()) fail(options.config_file, ": expected a JSON object");
    temp = std::make_unique<TempModelDir>();
    model_dir = temp->path.string();
    const auto t0 = Clock::now();
    // int8 / int4: bf16 random weights, then quantized as `jamba quantize` does (int4: groups of 32).
    const bool quantized = options.dtype == "int8" || options.dtype == "int4";
    write_random_checkpoint(model_dir, config,
                            random_dtype(options.dtype.empty() || quantized ? "bf16" : options.dtype), 1);
    if (quantized) {
      const std::string float_dir = model_dir;
      model_dir = (temp->path / "quantized").string();
      quantize_checkpoint(float_dir, model_dir, options.dtype == "int8" ? 8 : 4, options.dtype == "int8" ? 0 : 32);
    }
    if (!common.json) std::fprintf(stderr, "random weights written in %.1f s\n", seconds_since(t0));
  }
  const bool explicit_prompt = !options.prompts.empty();
  const bool gpu = common.device == "cuda";
  // Defaults: the grid of the device (a GPU: prefill 512/2K/8K, decode batch 1/8/32 at
  // 1K/32K/128K; a CPU: 512/2K, batch 1/4 at 512/8K).
  const std::vector<int64_t> prompts = explicit_prompt ? options.prompts
                                       : gpu           ? std::vector<int64_t>{512, 2048, 8192}
                                                       : std::vector<int64_t>{512, 2048};
  const std::vector<int64_t> batches = !options.batches.empty() ? options.batches
                                       : explicit_prompt      ? std::vector<int64_t>{1}
                                       : gpu                  ? std::vector<int64_t>{1, 8, 32}
                                                              : std::vector<int64_t>{1, 4};
  const std::vector<int64_t> contexts =
      !options.contexts.empty() ? options.contexts
      : explicit_prompt         ? std::vector<int64_t>{*std::max_element(prompts.begin(), prompts.end())}
      : gpu                     ? std::vector<int64_t>{1024, 32768, 131072}
                                : std::vector<int64_t>{512, 8192};
  int64_t need = 0;
  for (int64_t p : prompts) need = std::max(need, p);
  for (int64_t c : contexts) need = std::max(need, c + options.gen + 1);  // +1: the warm-up step

  CommonOptions opened = common;
  opened.model_dir = model_dir;
  opened.context = std::max<int64_t>(common.context, need);
  auto engine = open_engine(opened);
  const Model& model = engine->model();
  HybridCache& cache = engine->cache();
  const WeightTraffic traffic = weight_traffic(model);
  std::mt19937 rng(7);
  const int64_t V = model.config.vocab_size;
  const int threads = omp_get_max_threads();

  json prefill_rows = json::array(), decode_rows = json::array(), skipped = json::array();
  int64_t device_peak = 0;  // GPU memory in use, sampled after each measurement
  auto sample_device_memory = [&] {
#ifdef JAMBA_HAS_CUDA
    if (gpu) device_peak = std::max(device_peak, cuda::device_memory_used());
#endif
  };
  sample_device_memory();
  if (!common.json)
    std::printf("model: %s\n%s, %d host threads; weights %.2f GiB\n",
                options.random_weights ? ("random weights of " + options.config_file).c_str() : model_dir.c_str(),
                engine->executor().describe().c_str(), threads, traffic.total / 1073741824.0);

  for (int64_t P : prompts) {
    const std::vector<int32_t> ids = random_tokens(P, V, rng);
    if (gpu) {  // untimed first pass: GEMM plans and activation buffers are made on first use
      const SeqId warm = cache.create_sequence();
      engine->prefill(warm, ids, common.prefill_chunk, false);
      cache.release_sequence(warm);
    }
    const SeqId seq = cache.create_sequence();
    const auto t0 = Clock::now();
    engine->prefill(seq, ids, common.prefill_chunk, false);
    const double s = seconds_since(t0);
    sample_device_memory();
    cache.release_sequence(seq);
    const double tps = static_cast<double>(P) / s;
    const double gflops = flops_per_token(model, traffic, P / 2.0) * tps / 1e9;
    prefill_rows.push_back({{"tokens", P}, {"seconds", s}, {"tok_per_s", tps}, {"gflop_per_s", gflops}});
    if (!common.json) std::printf("prefill %6" PRId64 " tokens: %9.1f tok/s  (%.1f GFLOP/s)\n", P, tps, gflops);
  }

  for (int64_t C : contexts) {
    for (int64_t B : batches) {
#ifdef JAMBA_HAS_CUDA
      if (gpu) {  // the KV rows of B sequences at C tokens, with room for activations
        const double kv = static_cast<double>(B) * static_cast<double>(C + options.gen + 1) * 2.0 *
                          static_cast<double>(cache.kv_row_floats()) * sizeof(float) *
                          static_cast<double>(model.plan.attention_layers);
        const double free_bytes = static_cast<double>(cuda::device_free_bytes());
        if (kv > 0.85 * free_bytes) {
          skipped.push_back({{"batch", B}, {"context", C}, {"kv_bytes", kv}, {"free_bytes", free_bytes}});
          if (!common.json)
            std::printf("decode batch %" PRId64 " at context %6" PRId64 ": skipped (KV needs %.1f GiB, %.1f GiB free)\n",
                        B, C, kv / 1073741824.0, free_bytes / 1073741824.0);
          continue;
        }
      }
#endif
      std::vector<SeqId> seqs;
      const int64_t row = cache.kv_row_floats();
      std::vector<float> fake(static_cast<size_t>(C * row));
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (float& x : fake) x = u(rng);
      for (int64_t b = 0; b < B; ++b) {
        const SeqId seq = cache.create_sequence();
        for (int64_t slot = 0; slot < model.plan.attention_layers; ++slot)
          cache.append_kv_from_host(seq, slot, fake.data(), fake.data(), C);
        cache.commit(seq, C);
        seqs.push_back(seq);
      }
      std::vector<std::vector<int32_t>> next(B, std::vector<int32_t>(1));
      auto step = [&] {
        std::vector<SequenceChunk> chunks;
        for (int64_t b = 0; b < B; ++b) {
          next[b][0] = random_tokens(1, V, rng)[0];
          chunks.push_back({seqs[b], next[b], false});
        }
        engine->step(chunks);
      };
      step();  // warm-up: first touch of this context's buffers
      const auto t0 = Clock::now();
      for (int64_t g = 0; g < options.gen; ++g) step();
      const double s = seconds_since(t0);
      sample_device_memory();
      for (SeqId seq : seqs) cache.release_sequence(seq);
      const double tps = static_cast<double>(B * options.gen) / s;
      decode_rows.push_back({{"batch", B},
                             {"context", C},
                             {"tokens", B * options.gen},
                             {"seconds", s},
                             {"tok_per_s", tps},
                             {"bytes_per_step", decode_step_bytes(model, traffic, cache, B, C)}});
    }
  }
  // RSS before the bandwidth probe, whose buffer would otherwise be the peak.
  const int64_t rss = peak_rss_bytes();
  double bandwidth = 0, gemm_peak = 0;
#ifdef JAMBA_HAS_CUDA
  if (gpu) {
    cuda::Context probe;
    bandwidth = cuda::measure_read_bandwidth(probe);
    gemm_peak = cuda::measure_bf16_gemm_flops(probe);
  }
#endif
  if (!gpu) bandwidth = measure_read_bandwidth(options.bandwidth_mib << 20);
  for (json& row : prefill_rows) {
    if (gemm_peak <= 0) break;
    row["fraction_of_gemm_peak"] = row["gflop_per_s"].get<double>() * 1e9 / gemm_peak;
    if (!common.json)
      std::printf("prefill %6" PRId64 " tokens: %.1f%% of the measured bf16 GEMM peak (%.0f TFLOP/s)\n",
                  row["tokens"].get<int64_t>(), 100.0 * row["fraction_of_gemm_peak"].get<double>(), gemm_peak / 1e12);
  }
  for (json& row : decode_rows) {
    const double floor_tps = row["batch"].get<double>() * bandwidth / row["bytes_per_step"].get<double>();
    row["floor_tok_per_s"] = floor_tps;
    row["fraction_of_floor"] = row["tok_per_s"].get<double>() / floor_tps;
    if (!common.json)
      std::printf("decode batch %" PRId64 " at context %6" PRId64 ": %8.2f tok/s  (floor %.2f tok/s: %.0f%%)\n",
                  row["batch"].get<int64_t>(), row["context"].get<int64_t>(), row["tok_per_s"].get<double>(), floor_tps,
                  100.0 * row["tok_per_s"].get<double>() / floor_tps);
  }
  if (decode_rows.empty()) fail("bench: no decode point fits this device's memory (lower --batch or --context)");
  if (common.json) {
    const json& d0 = decode_rows.at(0);
    json doc = {{"prefill_tok_per_s", prefill_rows.at(0)["tok_per_s"]},
                {"decode_tok_per_s", d0["tok_per_s"]},
                {"decode_floor_tok_per_s", d0["floor_tok_per_s"]},
                {"decode_fraction_of_floor", d0["fraction_of_floor"]},
                {"weight_bytes", traffic.total},
                {"bandwidth_gb_per_s", bandwidth / 1e9},
                {"peak_rss_bytes", rss},
                {"threads", threads},
                {"backend", gpu ? std::string("cuda") : common.backend},
                {"device", engine->executor().describe()},
                {"prefill", prefill_rows},
                {"decode", decode_rows}};
    if (gpu) {
      doc["gemm_peak_tflop_per_s"] = gemm_peak / 1e12;
      doc["peak_device_memory_bytes"] = device_peak;
      doc["skipped"] = skipped;
    }
    std::printf("%s\n", doc.dump().c_str());
  } else {
    std::printf("read bandwidth %.1f GB/s (measured after the runs); peak RSS %.2f GiB\n", bandwidth / 1e9,
                rss / 1073741824.0);
    if (gpu) std::printf("peak GPU memory in use %.2f GiB\n", device_peak / 1073741824.0);
  }
  return 0;
}

}  // namespace jamba::cli
