// `jamba perplexity` end to end on a small random hybrid (attention + Mamba + MoE) paired with a
// real-format tokenizer: the result equals exp(mean NLL) computed independently from `jamba
// score` on the same token ids, whatever the prefill chunking; windows are BOS-prefixed
// independent sequences; bits per byte is consistent; and every bad input is one clean error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "format/tokenizer/tokenizer.h"
#include "support/random_checkpoint.h"
#include "support/test_support.h"

namespace jamba {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// About 300 tokens for llama_spm_bpe, with multi-byte characters so bytes != characters.
const char* const kText =
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.\n"
    "def perplexity(model, text):\n    \"\"\"Return exp of the mean negative log-likelihood.\"\"\"\n"
    "    tokens = tokenizer(text)[\"input_ids\"]\n    return math.exp(sum(nll) / len(nll))\n\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software "
    "and associated documentation files, to deal in the Software without restriction.\n"
    "Le cœur a ses raisons que la raison ne connaît point. Über den Wolken muss die Freiheit wohl "
    "grenzenlos sein. 東京は日本の首都です。 Ελληνικά κείμενα και ρωσский текст — emoji 🚀 too.\n"
    "for (int i = 0; i < n; ++i) { sum += values[i] * weights[i]; }\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.\n"
    "In 1969, 3 astronauts flew 384,400 km to the Moon.\n";

std::string join(const std::vector<int32_t>& ids) {
  std::ostringstream s;
  for (size_t i = 0; i < ids.size(); ++i) s << (i ? "," : "") << ids[i];
  return s.str();
}

// A small random hybrid whose vocabulary fits the fixture tokenizer `tokenizer` (none: no
// tokenizer files), layers: Mamba+MoE, attention, Mamba+MoE, attention.
void make_model(const std::string& dir, const std::string& tokenizer, int64_t vocab = 0) {
  if (!tokenizer.empty()) {
    const std::string from = test::fixtures_dir() + "/tokenizers/" + tokenizer;
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(from + "/" + f, dir + "/" + f);
    if (vocab == 0) vocab = Tokenizer::load(dir)->id_limit();
  }
  const json config = {
      {"model_type", "jamba"}, {"vocab_size", vocab}, {"hidden_size", 16}, {"intermediate_size", 24},
      {"num_hidden_layers", 4}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
      {"attn_layer_period", 2}, {"attn_layer_offset", 1}, {"expert_layer_period", 2},
      {"expert_layer_offset", 0}, {"num_experts", 3}, {"num_experts_per_tok", 2},
      {"mamba_d_state", 4}, {"mamba_d_conv", 3}, {"mamba_expand", 2}, {"mamba_dt_rank", 2},
      {"max_position_embeddings", 4096}, {"eos_token_id", 2}};
  test::write_random_checkpoint(dir, config, 7);
}

class Perplexity : public ::testing::Test {
 protected:
  struct Dirs {
    test::TempDir llama, gpt2, small_vocab, no_tokenizer, work;
  };

  static void SetUpTestSuite() {
    dirs_ = std::make_unique<Dirs>();
    make_model(dirs_->llama.path(), "llama_spm_bpe");
    make_model(dirs_->gpt2.path(), "gpt2_bytelevel_bpe");  // its post-processor adds no BOS
    make_model(dirs_->small_vocab.path(), "llama_spm_bpe", 100);
    make_model(dirs_->no_tokenizer.path(), "", 3000);
    test::write_file(text_file(), kText);
  }
  static void TearDownTestSuite() { dirs_.reset(); }

  static std::string llama() { return dirs_->llama.path(); }
  static std::string gpt2() { return dirs_->gpt2.path(); }
  static std::string text_file() { return dirs_->work.file("text.txt"); }
  static std::string work_file(const std::string& name) { return dirs_->work.file(name); }

  static std::vector<int32_t> encode(const std::string& model) { return Tokenizer::load(model)->encode(kText); }

  // `jamba perplexity ... --json` -> its one JSON object (and nothing on stderr: not a terminal).
  // One thread: OpenMP barriers on a busy machine would make the many tiny forwards slow.
  static json perplexity(const std::string& model, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"perplexity", "-m", model, "--text-file", text_file(), "--json", "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_jamba(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    return json::parse(r.out);
  }

  // NLL of every token after the first of each sequence, from `jamba score` (one batch).
  static std::vector<std::vector<double>> score_nll(const std::string& model,
                                                    const std::vector<std::vector<int32_t>>& sequences) {
    std::vector<std::string> args = {"score", "-m", model, "--json", "-t", "1"};
    for (const auto& s : sequences) {
      args.push_back("--tokens");
      args.push_back(join(s));
    }
    const auto r = test::run_jamba(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line;
    std::vector<std::vector<double>> nll;
    while (std::getline(lines, line)) {
      const json doc = json::parse(line);
      nll.emplace_back();
      for (const auto& lp : doc["next_logprobs"]) nll.back().push_back(-lp.get<double>());
    }
    EXPECT_EQ(nll.size(), sequences.size());
    return nll;
  }

  static inline std::unique_ptr<Dirs> dirs_;
};

// One line on stderr naming the problem, the expected exit code, never a signal or a hang.
void expect_error(int exit_code, const std::vector<std::string>& args, const std::vector<std::string>& must_mention) {
  const auto r = test::run_jamba(args, 30);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  EXPECT_FALSE(r.timed_out) << joined;
  EXPECT_EQ(r.signal, 0) << joined;
  EXPECT_EQ(r.exit_code, exit_code) << joined << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "") << joined;
  EXPECT_EQ(r.err.rfind("jamba: error: ", 0), 0u) << joined << "\nstderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << joined << "\nstderr: " << r.err;
  for (const auto& needle : must_mention)
    EXPECT_NE(r.err.find(needle), std::string::npos) << joined << "\nstderr: " << r.err << "\nmissing: " << needle;
}

void expect_relative(double got, double want, double tolerance, const std::string& what) {
  EXPECT_LE(std::fabs(got - want), tolerance * std::fabs(want)) << what << ": got " << got << ", want " << want;
}

TEST_F(Perplexity, WholeTextEqualsExpOfMeanNllFromScore) {
  const std::vector<int32_t> ids = encode(llama());
  ASSERT_EQ(ids[0], 1) << "llama_spm_bpe's post-processor adds <|startoftext|>";
  ASSERT_GE(ids.size(), 250u);
  ASSERT_LE(ids.size(), 400u);
  // The CLI tokenizes as `jamba tokenize` does.
  const auto tok = test::run_jamba({"tokenize", "-m", llama(), "--text-file", text_file(), "--json"});
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  ASSERT_EQ(json::parse(tok.out)["ids"].get<std::vector<int32_t>>(), ids);

  const auto nll = score_nll(llama(), {ids})[0];
  ASSERT_EQ(nll.size(), ids.size() - 1);
  double sum = 0;
  for (double x : nll) sum += x;
  const json out = perplexity(llama());
  EXPECT_EQ(out["tokens"].get<int64_t>(), static_cast<int64_t>(ids.size()) - 1);
  expect_relative(out["perplexity"].get<double>(), std::exp(sum / nll.size()), 1e-6, "perplexity");
  expect_relative(out["nll_sum"].get<double>(), sum, 1e-6, "nll_sum");
  EXPECT_EQ(out["bytes"].get<int64_t>(), static_cast<int64_t>(std::string(kText).size()));
  EXPECT_GE(out["seconds"].get<double>(), 0.0);
  EXPECT_GT(out["perplexity"].get<double>(), 1.0);
}

TEST_F(Perplexity, ChunkBoundariesDoNotChangeTheResult) {
  const json whole = perplexity(llama(), {"--prefill-chunk", "0"});
  for (const char* chunk : {"1", "7", "512"}) {
    const json out = perplexity(llama(), {"--prefill-chunk", chunk});
    EXPECT_EQ(out["tokens"], whole["tokens"]) << chunk;
    expect_relative(out["perplexity"].get<double>(), whole["perplexity"].get<double>(), 1e-6,
                    std::string("--prefill-chunk ") + chunk);
  }
}

TEST_F(Perplexity, WindowsAreBosPrefixedIndependentSequences) {
  const std::vector<int32_t> ids = encode(llama());
  const size_t N = 50;
  std::vector<std::vector<int32_t>> windows;
  for (size_t start = 0; start < ids.size(); start += N) {
    std::vector<int32_t> w;
    if (start > 0) w.push_back(1);  // BOS, as the post-processor adds it
    w.insert(w.end(), ids.begin() + start, ids.begin() + std::min(start + N, ids.size()));
    windows.push_back(w);
  }
  ASSERT_GE(windows.size(), 5u);
  double sum = 0;
  size_t scored = 0;
  for (const auto& w : score_nll(llama(), windows))
    for (double x : w) {
      sum += x;
      ++scored;
    }
  EXPECT_EQ(scored, ids.size() - 1);  // with a BOS every token after the first is scored
  // Chunk 512: several windows per forward; 64: one window per forward; 7: windows in pieces.
  for (const char* chunk : {"512", "64", "7"}) {
    const json out = perplexity(llama(), {"--window", "50", "--prefill-chunk", chunk});
    EXPECT_EQ(out["tokens"].get<size_t>(), scored) << chunk;
    expect_relative(out["perplexity"].get<double>(), std::exp(sum / scored), 1e-6,
                    std::string("--window 50 --prefill-chunk ") + chunk);
  }
  // Windows lose context, so they differ from the whole text.
  EXPECT_NE(perplexity(llama())["perplexity"].get<double>(), std::exp(sum / scored));
}

TEST_F(Perplexity, WithoutBosTheFirstTokenOfEachWindowIsNotScored) {
  const std::vector<int32_t> ids = encode(gpt2());
  ASSERT_NE(ids[0], *Tokenizer::load(gpt2())->bos_id()) << "gpt2_bytelevel_bpe adds no BOS";
  const size_t N = 40;
  std::vector<std::vector<int32_t>> windows;
  for (size_t start = 0; start < ids.size(); start += N)
    if (ids.size() - start >= 2)  // a last window of one token has nothing to score
      windows.emplace_back(ids.begin() + start, ids.begin() + std::min(start + N, ids.size()));
  double sum = 0;
  size_t scored = 0;
  for (const auto& w : score_nll(gpt2(), windows))
    for (double x : w) {
      sum += x;
      ++scored;
    }
  const size_t window_count = (ids.size() + N - 1) / N;
  EXPECT_EQ(scored, ids.size() - window_count);
  const json out = perplexity(gpt2(), {"--window", "40", "--prefill-chunk", "100"});
  EXPECT_EQ(out["tokens"].get<size_t>(), scored);
  expect_relative(out["perplexity"].get<double>(), std::exp(sum / scored), 1e-6, "gpt2 --window 40");
}

TEST_F(Perplexity, BitsPerByteIsConsistent) {
  const json out = perplexity(llama(), {"--prefill-chunk", "64"});
  const double nll_sum = out["nll_sum"], ppl = out["perplexity"], bpb = out["bits_per_byte"];
  const int64_t tokens = out["tokens"], bytes = out["bytes"];
  EXPECT_EQ(bytes, static_cast<int64_t>(fs::file_size(text_file())));
  const std::string text = kText;
  const auto characters = std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
  EXPECT_GT(bytes, characters);  // bytes, not characters
  expect_relative(bpb, nll_sum / std::log(2.0) / bytes, 1e-12, "bits_per_byte");
  expect_relative(std::log(ppl) * tokens, nll_sum, 1e-9, "ln(perplexity) * tokens");

  // The plain-text report carries the same numbers.
  const auto r =
      test::run_jamba({"perplexity", "-m", llama(), "--text-file", text_file(), "--prefill-chunk", "64", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  char expected[64];
  std::snprintf(expected, sizeof expected, "perplexity:     %.6f\n", ppl);
  EXPECT_NE(r.out.find(expected), std::string::npos) << r.out;
  std::snprintf(expected, sizeof expected, "bits per byte:  %.6f", bpb);
  EXPECT_NE(r.out.find(expected), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens scored:  " + std::to_string(tokens)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
}

TEST_F(Perplexity, ContextLimit) {
  const int64_t n = static_cast<int64_t>(encode(llama()).size());
  // The whole text must fit; a window of N tokens needs N + 1 with its BOS.
  expect_error(1, {"perplexity", "-m", llama(), "--text-file", text_file(), "--ctx", std::to_string(n - 1)},
               {"more than the context", "--window"});
  EXPECT_EQ(perplexity(llama(), {"--ctx", std::to_string(n)})["tokens"].get<int64_t>(), n - 1);
  expect_error(1, {"perplexity", "-m", llama(), "--text-file", text_file(), "--ctx", "50", "--window", "50"},
               {"--window 50", "51 tokens", "context of 50"});
  EXPECT_EQ(perplexity(llama(), {"--ctx", "50", "--window", "49"})["tokens"].get<int64_t>(), n - 1);
}

TEST_F(Perplexity, HelpStatesWhichTokensAreScored) {
  const auto r = test::run_jamba({"perplexity", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* needle : {"tokenizer(text)", "every token after the first is scored", "preceded by the BOS",
                             "first token of each window is not scored", "bits per byte = sum NLL / ln 2"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << "\n" << r.out;
}

TEST_F(Perplexity, BadInputs) {
  const std::string m = llama();
  auto with_text = [&](const std::string& name, const std::string& contents) {
    test::write_file(work_file(name), contents);
    return work_file(name);
  };
  // Usage errors: exit 2.
  for (const char* window : {"1", "-3", "x", "2.5"})
    expect_error(2, {"perplexity", "-m", m, "--text-file", text_file(), "--window", window}, {"--window"});
  expect_error(2, {"perplexity", "-m", m, "--text-file", text_file(), "--bogus"}, {"--bogus"});
  expect_error(2, {"perplexity", "-m", m}, {"--text-file"});
  // Everything else: exit 1, naming the problem.
  expect_error(1, {"perplexity", "-m", dirs_->no_tokenizer.path(), "--text-file", text_file()},
               {"no tokenizer.json or tokenizer.model"});
  expect_error(1, {"perplexity", "-m", m, "--text-file", "/nonexistent/text.txt"}, {"/nonexistent/text.txt"});
  expect_error(1, {"perplexity", "-m", m, "--text-file", dirs_->work.path()}, {"not a regular file"});
  expect_error(1, {"perplexity", "-m", m, "--text-file", with_text("empty.txt", "")}, {"empty.txt", "empty"});
  expect_error(1, {"perplexity", "-m", m, "--text-file", with_text("bad.txt", "caf\xc3\xa9 \xff!")},
               {"bad.txt", "not valid UTF-8", "byte offset 6"});
  expect_error(1, {"perplexity", "-m", m, "--text-file", with_text("cut.txt", "ok \xe6\x97")},
               {"not valid UTF-8", "byte offset 3"});
  // gpt2_bytelevel_bpe adds no BOS: "a" is one token, nothing to score.
  expect_error(1, {"perplexity", "-m", gpt2(), "--text-file", with_text("one.txt", "a")},
               {"one.txt", "1 token", "at least 2"});
  expect_error(1, {"perplexity", "-m", dirs_->small_vocab.path(), "--text-file", text_file()},
               {"outside the model's vocabulary of 100", "tokenizer.json"});
  expect_error(1, {"perplexity", "-m", "/nonexistent/model", "--text-file", text_file()}, {"/nonexistent/model"});
}

}  // namespace
}  // namespace jamba
