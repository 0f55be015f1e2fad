// `jamba quantize` end to end: the demo model to int8 / int4, then score and perplexity on the
// quantized copies (perplexity within stated bounds of the float model's), and bad invocations
// that must exit non-zero with one line on stderr.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace jamba {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string demo_model() { return std::string(JAMBA_MODELS_DIR) + "/jamba-demo"; }
std::string moby() { return test::fixtures_dir() + "/demo/moby_dick_opening.txt"; }

double perplexity(const std::string& model) {
  const auto r = test::run_jamba({"perplexity", "-m", model, "--text-file", moby(), "--json"}, 300);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out)["perplexity"].get<double>();
}

// Perplexity of the float / int8 / int4 demo model on the Moby-Dick opening (printed for the
// record). Bounds: int8 within 2% of the float model's, int4 (groups of 32) within 5%.
TEST(QuantizeCli, DemoModelPerplexity) {
  test::TempDir dir;
  const double base = perplexity(demo_model());
  for (const char* type : {"int8", "int4"}) {
    const std::string out = dir.file(type);
    const auto r = test::run_jamba({"quantize", "-m", demo_model(), "-o", out, "--type", type, "--json"}, 300);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json doc = json::parse(r.out);
    EXPECT_GT(doc["quantized"].get<int64_t>(), 0);
    EXPECT_LT(doc["bytes_out"].get<double>(), doc["bytes_in"].get<double>());
    for (const char* file : {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"})
      EXPECT_TRUE(fs::exists(out + "/" + file)) << file;
    const json config = json::parse(test::read_file(out + "/config.json"));
    EXPECT_EQ(config["quantization_config"]["quant_method"], "jamba.cpp");
    EXPECT_EQ(config["quantization_config"]["bits"], std::string(type) == "int8" ? 8 : 4);
    const auto info = test::run_jamba({"info", "-m", out});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    EXPECT_NE(info.out.find(std::string(type) == "int8" ? "in bf16, matrices int8" : "in bf16, matrices int4 (groups of 32)"),
              std::string::npos)
        << info.out;
    const double ppl = perplexity(out);
    std::printf("[ perplexity ] demo moby_dick_opening: float %.4f, %s %.4f (%+.2f%%)\n", base, type, ppl,
                100.0 * (ppl / base - 1));
    ASSERT_TRUE(std::isfinite(ppl));
    EXPECT_LE(std::fabs(ppl / base - 1), std::string(type) == "int8" ? 0.02 : 0.05) << type;
  }
}

TEST(QuantizeCli, BadInvocations) {
  test::TempDir dir;
  auto expect = [](const std::vector<std::string>& args, int code, const std::string& needle) {
    const auto r = test::run_jamba(args, 120);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  };
  const std::string fixture = test::fixtures_dir() + "/mamba_only_dense_f32";
  expect({"quantize", "-m", fixture, "-o", dir.file("a"), "--type", "int3"}, 2, "--type");
  expect({"quantize", "-m", fixture, "-o", dir.file("a"), "--type", "int4", "--group", "48"}, 2, "--group");
  expect({"quantize", "-m", fixture, "-o", dir.file("a"), "--type", "int8", "--group", "32"}, 1, "--group");
  expect({"quantize", "-m", fixture, "-o", fixture, "--type", "int8"}, 1, "must differ");
  expect({"quantize", "-m", dir.file("nowhere"), "-o", dir.file("b"), "--type", "int8"}, 1, "nowhere");
  ASSERT_EQ(test::run_jamba({"quantize", "-m", fixture, "-o", dir.file("q"), "--type", "int8"}).exit_code, 0);
  expect({"quantize", "-m", dir.file("q"), "-o", dir.file("c"), "--type", "int4"}, 1, "already quantized");
  // int4 with groups of 64 on a model whose rows are 32 wide: those matrices stay float, said so.
  const auto r = test::run_jamba({"quantize", "-m", fixture, "-o", dir.file("g64"), "--type", "int4", "--group", "64"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("not quantized (k is not a multiple of 64)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace jamba
