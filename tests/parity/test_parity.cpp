// Model parity against HF fixtures (tools/make_fixtures.py: HF transformers 5.17 in float64 on
// the storage-dtype weights), and self-consistency of the cache: chunked prefill,
// prefill-then-decode, batches of several sequences and snapshots all equal the one-shot forward.
//
// Tolerances: our reference backend computes in fp32 (fp64 sums), HF's "fp64" run still rounds
// norms/softmaxes through fp32 (hf_jamba.md G4), so agreement is ~1e-6; the bound is the
// contract's 1e-4 relative (|ours - HF| <= 1e-4 * max(1, |HF|)) per logprob. Cache-path variants
// of our own forward must agree to fp32 rounding: 1e-5 relative. Every test runs through "ref"
// and "cpu"; the cpu backend sums in fp32 (~4e-6 vs HF here). Its conv and scan give the same
// bits for any number of rows, its matmul too within each of its two kernels (decode: m <= 4
// rows, dot products along k; prefill: vectorised across outputs), but the two kernels sum in
// different orders, so a decode step and a prefill of the same token differ by fp32 rounding,
// which the layers carry to the logits: measured up to 1.3e-5 here. Builds with CUDA add "cuda"
// (the GPU forward with exact fp32 matmuls; skipped where no GPU is usable), whose kernels also
// change with the row count (GEMV, bf16x3 GEMM or SIMT tiles, step vs chunked scan): each variant
// stays within ~5e-6 of HF, two of them within 1.2e-5 of each other (measured on the H100). The
// cache-path variants through "cpu" and "cuda" are held to 5e-5 (path_tolerance); through "ref",
// 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "ops/cpu/cpu_backend.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/sampler.h"
#include "support/test_support.h"

#ifdef JAMBA_HAS_CUDA
#include "gpu/cuda_executor.h"
#include "ops/cuda/cuda_ops.h"
#endif

namespace jamba {
namespace {

using nlohmann::json;

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(test::fixtures_dir()))
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "reference.json"))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

struct Case {
  std::vector<int32_t> tokens;
  std::vector<std::vector<double>> logprobs;
};

struct Fixture {
  std::string dir;
  std::vector<Case> cases;
  std::vector<int32_t> greedy_prompt, greedy_tokens;
  std::vector<double> greedy_margins;
};

Fixture load_fixture(const std::string& name) {
  Fixture f;
  f.dir = test::fixtures_dir() + "/" + name;
  const json ref = json::parse(test::read_file(f.dir + "/reference.json"));
  for (const auto& c : ref.at("cases")) f.cases.push_back({c.at("tokens"), c.at("logprobs")});
  const auto& g = ref.at("greedy").at(0);
  f.greedy_prompt = g.at("prompt").get<std::vector<int32_t>>();
  f.greedy_tokens = g.at("tokens").get<std::vector<int32_t>>();
  f.greedy_margins = g.at("margins").get<std::vector<double>>();
  return f;
}

// "cuda" / "cuda-fast": the GPU forward with exact / fast matmuls; anything else: a CPU op table.
std::unique_ptr<Engine> make_engine(const std::string& dir, const std::string& backend) {
#ifdef JAMBA_HAS_CUDA
  if (backend == "cuda" || backend == "cuda-fast") {
    std::unique_ptr<Model> model = Model::load(dir);
    auto executor = gpu::cuda_executor(*model, backend == "cuda" ? gpu::MatmulMode::kExact : gpu::MatmulMode::kFast);
    return std::make_unique<Engine>(std::move(model), std::move(executor));
  }
#endif
  return std::make_unique<Engine>(Model::load(dir), ops::backend_by_name(backend));
}

// Why `backend` cannot run here ("" when it can).
std::string unavailable(const std::string& backend) {
  if (backend == "cpu-bf16") return ops::cpu_bf16_backend() ? "" : "no AVX512-BF16 here";
#ifdef JAMBA_HAS_CUDA
  std::string why;
  if (backend.rfind("cuda", 0) == 0 && !cuda::device_available(&why)) return "no CUDA device: " + why;
#endif
  return "";
}

std::vector<std::string> exact_backends() {
  std::vector<std::string> names = {"ref", "cpu"};
#ifdef JAMBA_HAS_CUDA
  names.push_back("cuda");
#endif
  return names;
}

std::vector<std::string> bf16_backends() {
  std::vector<std::string> names = {"cpu-bf16"};
#ifdef JAMBA_HAS_CUDA
  names.push_back("cuda-fast");
#endif
  return names;
}

// Logits of every token of `tokens` fed to a fresh sequence in the given chunk sizes (cycled).
std::vector<float> run_chunks(Engine& engine, const std::vector<int32_t>& tokens, const std::vector<size_t>& sizes) {
  const SeqId seq = engine.cache().create_sequence();
  std::vector<float> logits;
  size_t done = 0;
  for (size_t i = 0; done < tokens.size(); ++i) {
    const size_t n = std::min(sizes[i % sizes.size()], tokens.size() - done);
    auto out = engine.step({{seq, std::span<const int32_t>(tokens).subspan(done, n), true}});
    logits.insert(logits.end(), out[0].begin(), out[0].end());
    done += n;
  }
  engine.cache().release_sequence(seq);
  return logits;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double rel, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(std::isfinite(a[i]) && std::isfinite(b[i])) << what << ": non-finite at " << i;
    worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(double(b[i]))));
  }
  EXPECT_LE(worst, rel) << what;
}

// Each fixture through the reference backend and the default fast one ("cpu").
class Parity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  const std::string& fixture() const { return std::get<0>(GetParam()); }
  const std::string& backend() const { return std::get<1>(GetParam()); }
  // Cache-path variants (chunked, decode, batched) against the one-shot forward: see the top.
  double path_tolerance() const { return backend() == "ref" ? 1e-5 : 5e-5; }
  Fixture load() const { return load_fixture(fixture()); }
  std::unique_ptr<Engine> engine(const Fixture& f) const { return make_engine(f.dir, backend()); }
  void SetUp() override {
    if (const std::string why = unavailable(backend()); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_P(Parity, LogprobsMatchHuggingFace) {
  const Fixture f = load();
  auto engine = this->engine(f);
  const int64_t V = engine->config().vocab_size;
  double worst = 0;
  for (const Case& c : f.cases) {
    const SeqId seq = engine->cache().create_sequence();
    const std::vector<float> logits = engine->prefill(seq, c.tokens, 0, true);
    engine->cache().release_sequence(seq);
    ASSERT_EQ(logits.size(), c.tokens.size() * V);
    for (size_t t = 0; t < c.tokens.size(); ++t) {
      const std::vector<double> ours = log_softmax(logits.data() + t * V, V);
      ASSERT_EQ(static_cast<int64_t>(c.logprobs[t].size()), V);
      for (int64_t v = 0; v < V; ++v) {
        const double ref = c.logprobs[t][v];
        ASSERT_TRUE(std::isfinite(ours[v])) << "position " << t << " token " << v;
        worst = std::max(worst, std::fabs(ours[v] - ref) / std::max(1.0, std::fabs(ref)));
      }
      // The top token agrees wherever HF's top-2 gap is not a near-tie.
      std::vector<double> ref_sorted = c.logprobs[t];
      std::sort(ref_sorted.rbegin(), ref_sorted.rend());
      if (ref_sorted[0] - ref_sorted[1] > 1e-3) {
        const auto ref_top = std::max_element(c.logprobs[t].begin(), c.logprobs[t].end()) - c.logprobs[t].begin();
        EXPECT_EQ(argmax(logits.data() + t * V, V), ref_top) << "position " << t;
      }
    }
  }
  EXPECT_LE(worst, 1e-4);
  std::printf("[ %s / %s ] max relative logprob error vs HF fp64: %.3g\n", fixture().c_str(), backend().c_str(), worst);
}

TEST_P(Parity, GreedyContinuationMatchesHuggingFace) {
  const Fixture f = load();
  auto engine = this->engine(f);
  GenerationOptions options;
  options.max_new_tokens = static_cast<int64_t>(f.greedy_tokens.size());
  options.sampling.temperature = 0;
  options.prefill_chunk = 7;  // exercise chunked prefill on the way
  const GenerationResult result = generate(*engine, f.greedy_prompt, options);
  for (double m : f.greedy_margins) ASSERT_GT(m, 1e-3) << "fixture has a near-tie; regenerate it";
  EXPECT_EQ(result.tokens, f.greedy_tokens);
}

TEST_P(Parity, ChunkedPrefillEqualsOneShot) {
  const Fixture f = load();
  auto engine = this->engine(f);
  const std::vector<int32_t>& tokens = f.cases.back().tokens;  // the longest case
  ASSERT_GE(tokens.size(), 40u);
  const std::vector<float> one_shot = run_chunks(*engine, tokens, {tokens.size()});
  for (size_t chunk : {1, 3, 64})
    expect_close(run_chunks(*engine, tokens, {chunk}), one_shot, path_tolerance(),
                 "chunks of " + std::to_string(chunk));
  expect_close(run_chunks(*engine, tokens, {5, 1, 2, 13}), one_shot, path_tolerance(), "mixed chunks");
}

TEST_P(Parity, PrefillThenDecodeEqualsOneShot) {
  const Fixture f = load();
  auto engine = this->engine(f);
  std::vector<int32_t> tokens = f.cases.back().tokens;
  const std::vector<float> one_shot = run_chunks(*engine, tokens, {tokens.size()});
  // Prefill 30 tokens, then one decode step per remaining token.
  std::vector<size_t> sizes = {30};
  sizes.insert(sizes.end(), tokens.size() - 30, 1);
  expect_close(run_chunks(*engine, tokens, sizes), one_shot, path_tolerance(), "prefill 30 then decode");
}

TEST_P(Parity, BatchOfDifferentLengthsEqualsSeparateRuns) {
  const Fixture f = load();
  auto engine = this->engine(f);
  std::vector<std::vector<float>> separate;
  for (const Case& c : f.cases) separate.push_back(run_chunks(*engine, c.tokens, {c.tokens.size()}));
  std::vector<SequenceChunk> batch;
  for (const Case& c : f.cases) batch.push_back({engine->cache().create_sequence(), c.tokens, true});
  const auto together = engine->step(batch);
  for (size_t i = 0; i < f.cases.size(); ++i)
    expect_close(together[i], separate[i], path_tolerance(), "case " + std::to_string(i));
}

TEST_P(Parity, SnapshotRestoreAndForkReplayExactly) {
  const Fixture f = load();
  auto engine = this->engine(f);
  HybridCache& cache = engine->cache();
  const std::vector<int32_t>& tokens = f.cases.back().tokens;
  const std::span<const int32_t> head(tokens.data(), 20), tail(tokens.data() + 20, 10);
  const SeqId seq = cache.create_sequence();
  engine->step({{seq, head, false}});
  const CacheSnapshot snap = cache.snapshot(seq);
  const SeqId forked = cache.fork_sequence(seq);
  const auto first = engine->step({{seq, tail, true}})[0];
  cache.restore(seq, snap);
  EXPECT_EQ(cache.length(seq), 20);
  expect_close(engine->step({{seq, tail, true}})[0], first, 0, "after restore");
  expect_close(engine->step({{forked, tail, true}})[0], first, 0, "forked sequence");
}

// cpu-bf16 and cuda-fast (bf16 weights times bf16-rounded activations; cuda-fast rounds only
// where a matmul has more than 2 rows) against DESIGN.md's bf16-compute
// tier: the same top token wherever HF's top-2 margin exceeds 0.05, and logprobs within 5e-2 of
// HF — on average: on these random-weight fixtures single positions reach ~0.1, and one MoE
// routing decision that the rounding flips moves a whole distribution by up to ~1 (measured:
// mean 0.03, max 1.14 on gqa_moe_bf16), so the bound is on the mean and the max is printed.
class ParityBf16Compute : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ParityBf16Compute, LogprobsWithinBf16Tier) {
  const std::string& backend = std::get<1>(GetParam());
  if (const std::string why = unavailable(backend); !why.empty()) GTEST_SKIP() << why;
  const Fixture f = load_fixture(std::get<0>(GetParam()));
  auto engine_ptr = make_engine(f.dir, backend);
  Engine& engine = *engine_ptr;
  const int64_t V = engine.config().vocab_size;
  double worst = 0, total = 0;
  int64_t count = 0;
  for (const Case& c : f.cases) {
    const SeqId seq = engine.cache().create_sequence();
    const std::vector<float> logits = engine.prefill(seq, c.tokens, 0, true);
    engine.cache().release_sequence(seq);
    for (size_t t = 0; t < c.tokens.size(); ++t) {
      const std::vector<double> ours = log_softmax(logits.data() + t * V, V);
      for (int64_t v = 0; v < V; ++v) {
        ASSERT_TRUE(std::isfinite(ours[v])) << "position " << t << " token " << v;
        const double err = std::fabs(ours[v] - c.logprobs[t][v]);
        worst = std::max(worst, err);
        total += err;
        ++count;
      }
      std::vector<double> ref_sorted = c.logprobs[t];
      std::sort(ref_sorted.rbegin(), ref_sorted.rend());
      if (ref_sorted[0] - ref_sorted[1] > 0.05) {
        const auto ref_top = std::max_element(c.logprobs[t].begin(), c.logprobs[t].end()) - c.logprobs[t].begin();
        EXPECT_EQ(argmax(logits.data() + t * V, V), ref_top) << "position " << t;
      }
    }
  }
  EXPECT_LE(total / count, 5e-2);
  std::printf("[ %s / %s ] logprob error vs HF fp64: mean %.3g, max %.3g\n", std::get<0>(GetParam()).c_str(),
              backend.c_str(), total / count, worst);
}

// Test names may hold letters, digits and '_' only.
std::string test_name(const std::string& fixture, std::string backend) {
  std::replace(backend.begin(), backend.end(), '-', '_');
  return fixture + "_" + backend;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParityBf16Compute,
                         ::testing::Combine(::testing::ValuesIn(fixture_names()), ::testing::ValuesIn(bf16_backends())),
                         [](const auto& info) { return test_name(std::get<0>(info.param), std::get<1>(info.param)); });

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity,
                         ::testing::Combine(::testing::ValuesIn(fixture_names()), ::testing::ValuesIn(exact_backends())),
                         [](const auto& info) { return test_name(std::get<0>(info.param), std::get<1>(info.param)); });

}  // namespace
}  // namespace jamba
