// `jamba perplexity`: how well the model predicts a text file.
//
// Definition (also in the command's --help, kPerplexityHelp):
// - tokens = the model tokenizer's encoding of the whole file with the post-processor's special
//   tokens, exactly HF `tokenizer(text)["input_ids"]` (BOS first for Jamba/Llama tokenizers).
// - NLL_i = -ln softmax(logits after tokens[..i))[tokens[i]] for every scored token i.
// - --window 0: the whole list is one sequence (it must fit the context); every token but the
//   first is scored. --window N: consecutive non-overlapping windows of N tokens, independent
//   sequences; window k > 0 is preceded by the tokens the post-processor puts before a text (the
//   BOS) and all its tokens are scored; without such a prefix its first token is not scored.
// - perplexity = exp(sum NLL / scored); bits_per_byte = sum NLL / ln 2 / bytes of the file.
// Logits are scored chunk by chunk (runtime/perplexity.h), never kept for the whole text.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/mapped_file.h"
#include "cli/commands.h"
#include "format/tokenizer/tokenizer.h"
#include "format/tokenizer/unicode.h"
#include "runtime/perplexity.h"

namespace jamba::cli {

const char* const kPerplexityHelp =
    "Definition: the text file (UTF-8) is tokenized as HF tokenizer(text)[\"input_ids\"] gives it, with the\n"
    "special tokens the tokenizer's post-processor adds (BOS first for Jamba/Llama tokenizers). A scored token i\n"
    "costs NLL_i = -ln softmax(logits after tokens[..i))[token i].\n"
    "  perplexity    = exp(sum NLL / scored tokens)\n"
    "  bits per byte = sum NLL / ln 2 / bytes in the file\n"
    "Scored tokens:\n"
    "  --window 0 (default): the whole text is one sequence, fed in --prefill-chunk pieces (the cache carries\n"
    "    the state across them); every token after the first is scored. The text must fit the context\n"
    "    (--ctx, else the config's max_position_embeddings); longer texts need --window.\n"
    "  --window N (N >= 2): consecutive, non-overlapping windows of N tokens, each an independent sequence.\n"
    "    Every window after the first is preceded by the BOS the post-processor adds, and all its N tokens\n"
    "    are scored (so, as with --window 0, every token after the first is); when the tokenizer adds no\n"
    "    BOS, the first token of each window is not scored.\n"
    "Output: perplexity, tokens scored, bits per byte, nats per token, time; --json prints one object\n"
    "{\"perplexity\", \"tokens\" (scored), \"bits_per_byte\", \"nll_sum\", \"bytes\", \"seconds\"}. A progress\n"
    "bar goes to stderr when it is a terminal.";

namespace {

// The tokens the post-processor puts before any text (BOS for Jamba/Llama tokenizers): what the
// encoding of a probe with special tokens has before its plain encoding. Template
// post-processors add the same tokens whatever the text, so one probe tells.
std::vector<int32_t> leading_special_tokens(const Tokenizer& tokenizer) {
  const std::vector<int32_t> with = tokenizer.encode("a", true), plain = tokenizer.encode("a", false);
  if (plain.empty()) return {};
  const auto at = std::search(with.begin(), with.end(), plain.begin(), plain.end());
  if (at == with.end()) return {};
  return {with.begin(), at};
}

// "[=====>     ] 1200/4096 tokens  310.2 tok/s", redrawn in place at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

  void update(int64_t done, int64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    constexpr int kWidth = 30;
    const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
    std::string bar(kWidth, ' ');
    std::fill_n(bar.begin(), filled, '=');
    if (filled < kWidth) bar[filled] = '>';
    std::fprintf(stderr, "\r[%s] %" PRId64 "/%" PRId64 " tokens  %.1f tok/s\033[K", bar.c_str(), done, total,
                 seconds > 0 ? done / seconds : 0.0);
    if (done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_{};
};

}  // namespace

int run_perplexity(const CommonOptions& common, const PerplexityOptions& options) {
  if (options.window < 0 || options.window == 1)
    fail("--window must be 0 (the whole text as one sequence) or at least 2, got ", options.window);
  const std::string& path = options.text_file;
  const std::string text = read_text_file(path);
  if (text.empty()) fail(path, ": the text file is empty; there is nothing to score");
  if (const size_t bad = tok::find_invalid_utf8(text); bad != std::string::npos)
    fail(path, ": the text is not valid UTF-8 (byte offset ", bad, ")");

  const auto tokenizer = Tokenizer::load(common.model_dir);
  const std::vector<int32_t> tokens = tokenizer->encode(text);
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 2) fail(path, ": the text encodes to ", n, " token", n == 1 ? "" : "s", "; perplexity needs at least 2");
  std::vector<int32_t> bos = leading_special_tokens(*tokenizer);
  if (bos.size() >= tokens.size() || !std::equal(bos.begin(), bos.end(), tokens.begin())) bos.clear();

  auto engine = open_engine(common);
  const int64_t V = engine->config().vocab_size;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      fail("token ", i, " of the text has id ", tokens[i], ", outside the model's vocabulary of ", V,
           " (config.json vocab_size): the tokenizer (", tokenizer->path(), ", ", tokenizer->vocab_size(),
           " tokens) does not match the model");

  const int64_t context = engine->max_context();
  std::vector<ScoredSequence> sequences;
  if (options.window == 0) {
    if (n > context)
      fail(path, ": the text is ", n, " tokens, more than the context of ", context,
           " tokens (--ctx, else the config's max_position_embeddings); score it in independent windows with "
           "--window N");
    sequences.push_back({tokens, 1});
  } else {
    const int64_t N = options.window;
    const int64_t longest = std::min(N, n) + (n > N ? static_cast<int64_t>(bos.size()) : 0);
    if (longest > context)
      fail("--window ", N, ": a window needs ", longest, " tokens", bos.empty() || n <= N ? "" : " (with its BOS)",
           ", more than the context of ", context, " tokens (--ctx, else the config's max_position_embeddings)");
    for (int64_t start = 0; start < n; start += N) {
      const auto first = tokens.begin() + start, last = tokens.begin() + std::min(start + N, n);
      ScoredSequence s;
      if (start > 0) s.tokens = bos;
      s.tokens.insert(s.tokens.end(), first, last);
      s.first_scored = start > 0 && !bos.empty() ? bos.size() : 1;
      sequences.push_back(std::move(s));
    }
  }

  ProgressBar bar(::isatty(STDERR_FILENO));
  const auto start = std::chrono::steady_clock::now();
  const NllTotals totals = sum_nll(*engine, sequences, common.prefill_chunk,
                                   [&](int64_t done, int64_t total) { bar.update(done, total); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const double nats_per_token = totals.nll_sum / static_cast<double>(totals.scored);
  const double perplexity = std::exp(nats_per_token);
  const int64_t bytes = static_cast<int64_t>(text.size());
  const double bits_per_byte = totals.nll_sum / std::log(2.0) / static_cast<double>(bytes);
  const double rate = seconds > 0 ? totals.evaluated / seconds : 0.0;
  if (common.json) {
    const nlohmann::ordered_json doc = {{"perplexity", perplexity}, {"tokens", totals.scored},
                                {"bits_per_byte", bits_per_byte}, {"nll_sum", totals.nll_sum},
                                {"bytes", bytes}, {"seconds", seconds}};
    std::printf("%s\n", doc.dump().c_str());
    return 0;
  }
  std::printf("perplexity:     %.6f\n", perplexity);
  std::printf("tokens scored:  %" PRId64 " (of %" PRId64 " in the text; %zu sequence%s)\n", totals.scored, n,
              sequences.size(), sequences.size() == 1 ? "" : "s");
  std::printf("bits per byte:  %.6f (%" PRId64 " bytes)\n", bits_per_byte, bytes);
  std::printf("nats per token: %.6f\n", nats_per_token);
  std::printf("time:           %.3f s (%.1f tokens/s through the model)\n", seconds, rate);
  return 0;
}

}  // namespace jamba::cli
