// The `jamba` subcommands. Each takes parsed options and returns the process exit code; errors
// are thrown as jamba::Error and reported by main().
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/tokenizer/tokenizer.h"
#include "runtime/engine.h"
#include "runtime/generation.h"

namespace jamba::cli {

struct CommonOptions {
  std::string model_dir;
  int threads = 0;              // 0: OpenMP's default
  std::string backend = "cpu";  // "ref": the scalar reference; "cpu-avx2", "cpu-generic": a lower ISA
  std::string device = "cpu";   // "cuda": the whole forward on the GPU (builds with CUDA only)
  std::string gpu_matmul = "auto";  // --device cuda: "exact", "fast" or "auto" (exact for float32 configs)
  int64_t context = 0;          // --ctx; 0: the config's max_position_embeddings
  int64_t prefill_chunk = 512;  // tokens per forward while prefilling; 0: all at once
  bool json = false;
};

struct GenerateOptions {
  std::string tokens;       // --tokens 1,2,3
  std::string prompt;       // -p TEXT (needs the model's tokenizer)
  std::string prompt_file;  // --prompt-file F
  int64_t max_new_tokens = 32;
  float temperature = 0.8f;
  int64_t top_k = 40;
  float top_p = 0.95f;
  int64_t seed = -1;  // -1: random
  bool ignore_eos = false;
  bool display_prompt = true;  // generate: print the prompt's text before the continuation
};

struct ScoreOptions {
  std::vector<std::string> token_lists;  // one scored sequence per --tokens
  int64_t top = 0;
};

struct InfoOptions {
  int64_t batch = 1;
  std::string cache_dtype;  // "", "f32", "bf16", "f16": "" follows the config's dtype
};

struct TokenizeOptions {
  std::optional<std::string> prompt;  // -p TEXT
  std::string text_file;              // --text-file F
};

struct DetokenizeOptions {
  std::string tokens;
  bool skip_special = false;
};

struct PerplexityOptions {
  std::string text_file;  // --text-file F (UTF-8)
  int64_t window = 0;     // --window N: 0 = the whole text as one sequence, else windows of N >= 2 tokens
};

struct ChatOptions {
  std::string system_prompt;
  std::string template_name;  // for tokenizer_config.json files with several named templates
  GenerateOptions sampling;   // the sampling fields and -n (tokens per reply)
};

int run_generate(const CommonOptions& common, const GenerateOptions& options);
int run_score(const CommonOptions& common, const ScoreOptions& options);
int run_info(const CommonOptions& common, const InfoOptions& options);
int run_tokenize(const CommonOptions& common, const TokenizeOptions& options);
int run_detokenize(const CommonOptions& common, const DetokenizeOptions& options);
int run_perplexity(const CommonOptions& common, const PerplexityOptions& options);
// The definition of what `jamba perplexity` computes, for its --help.
extern const char* const kPerplexityHelp;

struct RenderChatOptions {
  std::string messages_file;  // a JSON list of messages, or an object with messages/tools/documents
  bool add_generation_prompt = false;
  std::string template_name;
};

int run_chat(const CommonOptions& common, const ChatOptions& options);

struct ExportGgufOptions {
  std::string output;        // -o OUT.gguf
  std::string type = "f32";  // --type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k
};
int run_export_gguf(const CommonOptions& common, const ExportGgufOptions& options);
int run_render_chat(const CommonOptions& common, const RenderChatOptions& options);

struct QuantizeOptions {
  std::string output;  // -o OUT directory
  std::string type;    // --type int8|int4
  int64_t group = 0;   // --group 32|64 (int4; 0: 32)
};
int run_quantize(const CommonOptions& common, const QuantizeOptions& options);

struct BenchOptions {
  std::string config_file;    // --config: a config.json for --random-weights
  bool random_weights = false;
  std::string dtype;          // random weights' dtype (default bf16)
  std::vector<int64_t> prompts, batches, contexts;
  int64_t gen = 16;           // decode steps timed per (batch, context)
  int64_t bandwidth_mib = 1024;  // buffer of the read-bandwidth probe (well above the LLC)
};

int run_bench(const CommonOptions& common, const BenchOptions& options);

struct RandomModelOptions {
  std::string config_file, out_dir, dtype = "bf16";
  uint64_t seed = 1;
};
// Writes a random-weight HF checkpoint of a config's shape (for benchmarks and exports).
int run_random_model(const RandomModelOptions& options);

// Loads the model of common.model_dir on the chosen backend, threads and context.
std::unique_ptr<Engine> open_engine(const CommonOptions& common);
// Sampling and stop settings of the generate/chat flags; eos ids come from config.json,
// generation_config.json and, when given, the tokenizer's eos token.
GenerationOptions generation_options(const GenerateOptions& options, const CommonOptions& common, const Engine& engine,
                                     const Tokenizer* tokenizer);

// "1,2,3" -> ids. Throws Error naming the option and the bad item.
std::vector<int32_t> parse_token_list(const std::string& text, const std::string& option);

}  // namespace jamba::cli
