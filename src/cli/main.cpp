// `jamba`: generate, score and info. Usage errors exit 2, every other failure exits 1 with one
// line on stderr naming what was wrong.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <exception>
#include <new>

#include "base/error.h"
#include "cli/commands.h"

namespace {

void add_common(CLI::App* cmd, jamba::cli::CommonOptions& common, bool needs_weights) {
  cmd->add_option("-m,--model", common.model_dir,
                  needs_weights ? "model directory (config.json + safetensors)" : "model directory (config.json)")
      ->required();
  cmd->add_flag("--json", common.json, "print JSON");
  if (!needs_weights) return;
  cmd->add_option("-t,--threads", common.threads, "threads (default: all cores)")->check(CLI::Range(0, 4096));
  cmd->add_option("--backend", common.backend, "op backend (ref)");
  cmd->add_option("--ctx", common.context, "context length cap in tokens (default: the config's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--prefill-chunk", common.prefill_chunk, "tokens per forward while prefilling (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jamba: run Jamba hybrid (attention + Mamba + MoE) language models"};
  app.require_subcommand(1);
  jamba::cli::CommonOptions common;

  jamba::cli::GenerateOptions gen;
  CLI::App* generate = app.add_subcommand("generate", "generate tokens after a prompt");
  add_common(generate, common, true);
  generate->add_option("--tokens", gen.tokens, "prompt token ids, e.g. 1,2,3")->required();
  generate->add_option("-n,--n-predict", gen.max_new_tokens, "tokens to generate")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  generate->add_option("--temperature", gen.temperature, "0 = greedy")->check(CLI::Range(0.0f, 1e6f));
  generate->add_option("--top-k", gen.top_k, "keep the k most likely tokens (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  generate->add_option("--top-p", gen.top_p, "nucleus: keep the smallest set with this mass (1: all)")
      ->check(CLI::Range(1e-6f, 1.0f));
  generate->add_option("--seed", gen.seed, "sampling seed (default: random)")
      ->check(CLI::Range(int64_t{-1}, std::numeric_limits<int64_t>::max()));
  generate->add_flag("--ignore-eos", gen.ignore_eos, "do not stop at end-of-sequence tokens");

  jamba::cli::ScoreOptions score;
  CLI::App* score_cmd = app.add_subcommand("score", "log-probabilities of token sequences");
  add_common(score_cmd, common, true);
  score_cmd->add_option("--tokens", score.token_lists, "token ids, e.g. 1,2,3 (repeat to score several sequences in one batch)")
      ->required()
      ->take_all()
      ->allow_extra_args(false);
  score_cmd->add_option("--top", score.top, "also list the K most likely next tokens at each position")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 31));

  jamba::cli::InfoOptions info;
  CLI::App* info_cmd = app.add_subcommand("info", "layer layout, parameters and memory plan");
  add_common(info_cmd, common, false);
  info_cmd->add_option("--ctx", common.context, "context for the totals (default: the config's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  info_cmd->add_option("--batch", info.batch, "sequences for the totals")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  info_cmd->add_option("--cache-dtype", info.cache_dtype, "KV / conv-window dtype: f32, bf16, f16 (default: the model's)")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));

  // CLI11 would only say "a subcommand is required"; name the word it did not know.
  const std::string first = argc >= 2 ? argv[1] : "";
  if (!first.empty() && first[0] != '-' && first != "generate" && first != "score" && first != "info") {
    std::fprintf(stderr, "jamba: error: unknown command '%s' (expected generate, score or info; see --help)\n", argv[1]);
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
    if (*generate) return jamba::cli::run_generate(common, gen);
    if (*score_cmd) return jamba::cli::run_score(common, score);
    if (*info_cmd) return jamba::cli::run_info(common, info);
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
