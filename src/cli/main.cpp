// `jamba`: generate, chat, score, perplexity, info, tokenize and detokenize. Usage errors exit 2,
// every other failure exits 1 with one line on stderr naming what was wrong.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <string>
#include <exception>
#include <new>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/default_model.h"

namespace {

constexpr const char* kDefaultModelHelp = "; default: $JAMBA_MODEL, else the demo model models/jamba-demo";

void add_common(CLI::App* cmd, jamba::cli::CommonOptions& common, bool needs_weights) {
  cmd->add_option("-m,--model", common.model_dir,
                  std::string(needs_weights ? "model directory (config.json + safetensors) or .gguf file" : "model directory (config.json) or .gguf file") +
                      kDefaultModelHelp);
  cmd->add_flag("--json", common.json, "print JSON");
  if (!needs_weights) return;
  cmd->add_option("-t,--threads", common.threads, "threads (default: all cores)")->check(CLI::Range(0, 4096));
  cmd->add_option("--backend", common.backend, "CPU op backend: cpu (default), ref, cpu-bf16, cpu-avx2, cpu-generic");
  cmd->add_option("--device", common.device, "where the forward runs: cpu (default) or cuda (an NVIDIA GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--gpu-matmul", common.gpu_matmul,
                  "cuda matmuls: auto (default: exact for float32 configs, else fast), exact (fp32 products, "
                  "matches the CPU), fast (tensor cores, activations rounded to the weight dtype)")
      ->check(CLI::IsMember({"auto", "exact", "fast"}));
  cmd->add_option("--ctx", common.context, "context length cap in tokens (default: the config's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--prefill-chunk", common.prefill_chunk, "tokens per forward while prefilling (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
}

// -n and the sampling flags, shared by generate and chat.
void add_sampling(CLI::App* cmd, jamba::cli::GenerateOptions& gen) {
  cmd->add_option("-n,--n-predict", gen.max_new_tokens, "tokens to generate")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--temperature", gen.temperature, "0 = greedy")->check(CLI::Range(0.0f, 1e6f));
  cmd->add_option("--top-k", gen.top_k, "keep the k most likely tokens (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--top-p", gen.top_p, "nucleus: keep the smallest set with this mass (1: all)")
      ->check(CLI::Range(1e-6f, 1.0f));
  cmd->add_option("--seed", gen.seed, "sampling seed (default: random)")
      ->check(CLI::Range(int64_t{-1}, std::numeric_limits<int64_t>::max()));
  cmd->add_flag("--ignore-eos", gen.ignore_eos, "do not stop at end-of-sequence tokens");
}

// --window: 0 (off) or a window of at least 2 tokens (one token has nothing to be scored from).
const CLI::Validator kWindowSize(
    [](std::string& value) -> std::string {
      int64_t n = 0;
      const char* end = value.data() + value.size();
      const auto parsed = std::from_chars(value.data(), end, n);
      if (parsed.ec != std::errc() || parsed.ptr != end) return "'" + value + "' is not a token count";
      if (n < 0 || n == 1) return "must be 0 (the whole text as one sequence) or at least 2 tokens, got " + value;
      if (n > (int64_t{1} << 40)) return value + " tokens is too large";
      return "";
    },
    "0|N>=2");

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jamba: run Jamba hybrid (attention + Mamba + MoE) language models"};
  app.require_subcommand(1);
  jamba::cli::CommonOptions common;

  jamba::cli::GenerateOptions gen;
  CLI::App* generate = app.add_subcommand("generate", "generate tokens after a prompt");
  add_common(generate, common, true);
  generate->add_option("--tokens", gen.tokens, "prompt token ids, e.g. 1,2,3");
  generate->add_option("-p,--prompt", gen.prompt, "prompt text (tokenized with the model's tokenizer)");
  generate->add_option("--prompt-file", gen.prompt_file, "read the prompt text from a file");
  add_sampling(generate, gen);
  generate->add_flag("!--no-display-prompt", gen.display_prompt, "print only the continuation, not the prompt first");

  jamba::cli::ChatOptions chat;
  chat.sampling.max_new_tokens = 256;
  CLI::App* chat_cmd = app.add_subcommand("chat", "interactive multi-turn chat that keeps its cache between turns");
  add_common(chat_cmd, common, true);
  chat_cmd->add_option("--system", chat.system_prompt, "system message");
  chat_cmd->add_option("--template", chat.template_name, "which named chat template (default: the model's default)");
  add_sampling(chat_cmd, chat.sampling);

  jamba::cli::RenderChatOptions render;
  CLI::App* render_cmd = app.add_subcommand("render-chat", "render a conversation with the model's chat template");
  render_cmd->add_option("-m,--model", common.model_dir, "model directory (tokenizer files + chat template)" + std::string(kDefaultModelHelp));
  render_cmd->add_flag("--json", common.json, "print JSON: {\"text\", \"ids\"}");
  render_cmd->add_option("--messages-file", render.messages_file, "JSON list of messages, or {messages, tools, documents, ...}")
      ->required();
  render_cmd->add_flag("--add-generation-prompt", render.add_generation_prompt, "end with the assistant turn's opening");
  render_cmd->add_option("--template", render.template_name, "which named chat template");

  jamba::cli::ScoreOptions score;
  CLI::App* score_cmd = app.add_subcommand("score", "log-probabilities of token sequences");
  add_common(score_cmd, common, true);
  score_cmd->add_option("--tokens", score.token_lists, "token ids, e.g. 1,2,3 (repeat to score several sequences in one batch)")
      ->required()
      ->take_all()
      ->allow_extra_args(false);
  score_cmd->add_option("--top", score.top, "also list the K most likely next tokens at each position")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 31));

  jamba::cli::PerplexityOptions perplexity;
  CLI::App* perplexity_cmd =
      app.add_subcommand("perplexity", "perplexity and bits per byte of a text file under the model");
  add_common(perplexity_cmd, common, true);
  perplexity_cmd->add_option("--text-file", perplexity.text_file, "the text to score (UTF-8)")->required();
  perplexity_cmd->add_option("--window", perplexity.window,
                             "0: the whole text as one sequence; N >= 2: independent windows of N tokens")
      ->check(kWindowSize);
  perplexity_cmd->footer(jamba::cli::kPerplexityHelp);

  jamba::cli::InfoOptions info;
  CLI::App* info_cmd = app.add_subcommand("info", "layer layout, parameters and memory plan");
  add_common(info_cmd, common, false);
  info_cmd->add_option("--ctx", common.context, "context for the totals (default: the config's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  info_cmd->add_option("--batch", info.batch, "sequences for the totals")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  info_cmd->add_option("--cache-dtype", info.cache_dtype, "KV / conv-window dtype: f32, bf16, f16 (default: the model's)")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));

  jamba::cli::ExportGgufOptions export_gguf;
  CLI::App* export_cmd = app.add_subcommand("export-gguf", "write the model as a GGUF file llama.cpp can load");
  export_cmd->add_option("-m,--model", common.model_dir, "model directory (config.json + safetensors + tokenizer files)" + std::string(kDefaultModelHelp));
  export_cmd->add_option("-o,--output", export_gguf.output, "the .gguf file to write")->required();
  export_cmd->add_option("--type", export_gguf.type,
                         "matrix type: f32, f16, bf16, q8_0, q4_0, or q4_k / q6_k (plain min/max scales) (norms, A, D, "
                         "conv, biases and the router stay f32)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k"}));
  export_cmd->add_flag("--json", common.json, "print JSON");

  jamba::cli::QuantizeOptions quantize;
  CLI::App* quantize_cmd = app.add_subcommand("quantize", "write a weight-only int8 / int4 copy of a model directory");
  quantize_cmd->add_option("-m,--model", common.model_dir, "model directory (config.json + safetensors + tokenizer files)" + std::string(kDefaultModelHelp));
  quantize_cmd->add_option("-o,--output", quantize.output, "the output directory")->required();
  quantize_cmd->add_option("--type", quantize.type, "int8 (one scale per row) or int4 (one scale per group)")
      ->required()->check(CLI::IsMember({"int8", "int4"}));
  quantize_cmd->add_option("--group", quantize.group, "int4 group size along k: 32 (default) or 64")
      ->check(CLI::IsMember({32, 64}));
  quantize_cmd->add_flag("--json", common.json, "print JSON");

  jamba::cli::TokenizeOptions tokenize;
  CLI::App* tokenize_cmd = app.add_subcommand("tokenize", "text -> token ids and pieces (tokenizer files only)");
  tokenize_cmd->add_option("-m,--model", common.model_dir, "model directory (tokenizer.json or tokenizer.model)" + std::string(kDefaultModelHelp));
  tokenize_cmd->add_flag("--json", common.json, "print JSON");
  tokenize_cmd->add_option("-p,--prompt", tokenize.prompt, "the text");
  tokenize_cmd->add_option("--text-file", tokenize.text_file, "read the text from a file (UTF-8)");

  jamba::cli::DetokenizeOptions detokenize;
  CLI::App* detokenize_cmd = app.add_subcommand("detokenize", "token ids -> text (tokenizer files only)");
  detokenize_cmd->add_option("-m,--model", common.model_dir, "model directory (tokenizer.json or tokenizer.model)" + std::string(kDefaultModelHelp));
  detokenize_cmd->add_flag("--json", common.json, "print JSON");
  detokenize_cmd->add_option("--tokens", detokenize.tokens, "token ids, e.g. 1,2,3")->required();
  detokenize_cmd->add_flag("--skip-special", detokenize.skip_special, "leave special tokens out of the text");

  jamba::cli::BenchOptions bench;
  CLI::App* bench_cmd = app.add_subcommand("bench", "prefill/decode speed against the measured memory bandwidth");
  add_common(bench_cmd, common, true);
  bench_cmd->add_option("--config", bench.config_file, "config.json whose shape to measure (with --random-weights)");
  bench_cmd->add_flag("--random-weights", bench.random_weights, "random weights of --config's shape (no checkpoint needed)");
  bench_cmd->add_option("--dtype", bench.dtype, "random weights' dtype: f32, bf16 (default), f16, or int8 / int4 (bf16 weights quantized as `jamba quantize` does)")->check(CLI::IsMember({"f32", "bf16", "f16", "int8", "int4"}));
  bench_cmd->add_option("--prompt", bench.prompts, "prefill lengths (default 512,2048)")
      ->delimiter(',')->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  bench_cmd->add_option("--gen", bench.gen, "decode steps timed per case")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  bench_cmd->add_option("--bandwidth-mib", bench.bandwidth_mib, "buffer of the bandwidth probe in MiB (default 1024)")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 20));
  bench_cmd->add_option("--batch", bench.batches, "decode batch sizes (default 1,4; 1 with --prompt)")
      ->delimiter(',')->check(CLI::Range(int64_t{1}, int64_t{4096}));
  bench_cmd->add_option("--context", bench.contexts, "decode contexts (default 512,8192; the prompt with --prompt)")
      ->delimiter(',')->check(CLI::Range(int64_t{1}, int64_t{1} << 24));

  jamba::cli::RandomModelOptions random_model;
  CLI::App* random_cmd = app.add_subcommand("random-model", "write a random-weight checkpoint of a config's shape");
  random_cmd->add_option("--config", random_model.config_file, "config.json of the shape")->required();
  random_cmd->add_option("-o,--out", random_model.out_dir, "output directory")->required();
  random_cmd->add_option("--dtype", random_model.dtype, "f32, bf16 (default) or f16")->check(CLI::IsMember({"f32", "bf16", "f16"}));
  random_cmd->add_option("--seed", random_model.seed, "seed (default 1)");

  // CLI11 would only say "a subcommand is required"; name the word it did not know.
  const std::string first = argc >= 2 ? argv[1] : "";
  if (!first.empty() && first[0] != '-' && app.get_subcommands([&](CLI::App* sub) { return sub->get_name() == first; }).empty()) {
    std::fprintf(stderr, "jamba: error: unknown command '%s' (expected generate, chat, score, perplexity, bench, random-model, info, export-gguf, quantize, tokenize, detokenize or render-chat; see --help)\n", argv[1]);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "jamba: error: %s (see --help)\n", e.what());
    return 2;
  }

  try {
    if (*random_cmd) return jamba::cli::run_random_model(random_model);
    // bench --random-weights needs no checkpoint: no default model for it.
    const bool needs_model = !(*bench_cmd && (bench.random_weights || !bench.config_file.empty()));
    if (common.model_dir.empty() && needs_model) common.model_dir = jamba::cli::default_model_dir();
    if (*bench_cmd) return jamba::cli::run_bench(common, bench);
    if (*generate) return jamba::cli::run_generate(common, gen);
    if (*score_cmd) return jamba::cli::run_score(common, score);
    if (*perplexity_cmd) return jamba::cli::run_perplexity(common, perplexity);
    if (*chat_cmd) return jamba::cli::run_chat(common, chat);
    if (*render_cmd) return jamba::cli::run_render_chat(common, render);
    if (*info_cmd) return jamba::cli::run_info(common, info);
    if (*export_cmd) return jamba::cli::run_export_gguf(common, export_gguf);
    if (*quantize_cmd) return jamba::cli::run_quantize(common, quantize);
    if (*tokenize_cmd) return jamba::cli::run_tokenize(common, tokenize);
    if (*detokenize_cmd) return jamba::cli::run_detokenize(common, detokenize);
  } catch (const jamba::Error& e) {
    std::fprintf(stderr, "jamba: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "jamba: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jamba: error: internal: %s\n", e.what());
    return 1;
  }
  return 2;
}
