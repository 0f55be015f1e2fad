// The `jamba` subcommands. Each takes parsed options and returns the process exit code; errors
// are thrown as jamba::Error and reported by main().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace jamba::cli {

struct CommonOptions {
  std::string model_dir;
  int threads = 0;              // 0: OpenMP's default
  std::string backend = "ref";
  int64_t context = 0;          // --ctx; 0: the config's max_position_embeddings
  int64_t prefill_chunk = 512;  // tokens per forward while prefilling; 0: all at once
  bool json = false;
};

struct GenerateOptions {
  std::string tokens;
  int64_t max_new_tokens = 32;
  float temperature = 0.8f;
  int64_t top_k = 40;
  float top_p = 0.95f;
  int64_t seed = -1;  // -1: random
  bool ignore_eos = false;
};

struct ScoreOptions {
  std::vector<std::string> token_lists;  // one scored sequence per --tokens
  int64_t top = 0;
};

struct InfoOptions {
  int64_t batch = 1;
  std::string cache_dtype;  // "", "f32", "bf16", "f16": "" follows the config's dtype
};

int run_generate(const CommonOptions& common, const GenerateOptions& options);
int run_score(const CommonOptions& common, const ScoreOptions& options);
int run_info(const CommonOptions& common, const InfoOptions& options);

// "1,2,3" -> ids. Throws Error naming the option and the bad item.
std::vector<int32_t> parse_token_list(const std::string& text, const std::string& option);

}  // namespace jamba::cli
