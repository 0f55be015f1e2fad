// `jamba bench`: the JSON contract (the form the speed checks use), random weights of a config's
// shape, and its argument errors. Speed itself is measured, not tested.
#include <gtest/gtest.h>

#include <cstdlib>

#include <cmath>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace jamba {
namespace {

using nlohmann::json;

const json kConfig = {{"model_type", "jamba"},     {"hidden_size", 64},         {"num_hidden_layers", 4},
                      {"num_attention_heads", 4},  {"num_key_value_heads", 2},  {"intermediate_size", 96},
                      {"vocab_size", 300},         {"num_experts", 4},          {"num_experts_per_tok", 2},
                      {"expert_layer_period", 2},  {"expert_layer_offset", 1},  {"attn_layer_period", 4},
                      {"attn_layer_offset", 2},    {"mamba_d_state", 8},        {"mamba_d_conv", 4},
                      {"mamba_expand", 2},         {"mamba_dt_rank", 8}};

// Parameters of kConfig, counted by hand: what weight_bytes must be in bf16.
int64_t expected_params() {
  const int64_t H = 64, V = 300, I = 96, Di = 128, N = 8, K = 4, R = 8, E = 4;
  const int64_t attention = H * 64 + 2 * H * 32 + 64 * H;  // q, k, v (2 kv heads of 16), o
  const int64_t mamba = 2 * Di * H + Di * (R + 2 * N) + Di * R + Di * H;  // in, x, dt, out
  const int64_t ffn = 3 * H * I;
  (void)N, (void)K;
  // Layers 0,1,3 Mamba, 2 attention; FFN MoE on 1 and 3.
  return 2 * V * H + attention + 3 * mamba + 2 * ffn + 2 * (E * ffn + E * H);
}

TEST(Bench, RandomWeightsJsonContract) {
  test::TempDir dir;
  test::write_file(dir.file("config.json"), kConfig.dump());
  // No checkpoint is needed, not even the default model: a missing $JAMBA_MODEL must not matter.
  ASSERT_EQ(setenv("JAMBA_MODEL", "/nonexistent/env-model", 1), 0);
  const auto r = test::run_jamba({"bench", "--config", dir.file("config.json"), "--random-weights", "--dtype", "bf16",
                                  "--prompt", "16", "--gen", "3", "--json", "-t", "1", "--bandwidth-mib", "64"},
                                 120);
  unsetenv("JAMBA_MODEL");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  for (const char* key : {"prefill_tok_per_s", "decode_tok_per_s", "decode_floor_tok_per_s", "decode_fraction_of_floor",
                          "bandwidth_gb_per_s"}) {
    ASSERT_TRUE(doc.contains(key)) << key;
    const double v = doc[key];
    EXPECT_TRUE(std::isfinite(v) && v > 0) << key << " = " << v;
  }
  EXPECT_EQ(doc["weight_bytes"].get<int64_t>(), 2 * expected_params());
  EXPECT_GT(doc["peak_rss_bytes"].get<int64_t>(), 0);
  ASSERT_EQ(doc["prefill"].size(), 1u);
  EXPECT_EQ(doc["prefill"][0]["tokens"], 16);
  ASSERT_EQ(doc["decode"].size(), 1u);  // with --prompt: batch 1 at the prompt's length
  EXPECT_EQ(doc["decode"][0]["batch"], 1);
  EXPECT_EQ(doc["decode"][0]["context"], 16);
  EXPECT_EQ(doc["decode"][0]["tokens"], 3);
}

// --dtype int8 / int4: the bf16 random weights quantized before loading; fewer weight bytes.
TEST(Bench, QuantizedRandomWeights) {
  test::TempDir dir;
  test::write_file(dir.file("config.json"), kConfig.dump());
  int64_t previous = 2 * expected_params();
  for (const char* dtype : {"int8", "int4"}) {
    const auto r = test::run_jamba({"bench", "--config", dir.file("config.json"), "--random-weights", "--dtype", dtype,
                                    "--prompt", "16", "--gen", "2", "--json", "-t", "1", "--bandwidth-mib", "64"},
                                   120);
    ASSERT_EQ(r.exit_code, 0) << dtype << ": " << r.err;
    const json doc = json::parse(r.out);
    const int64_t bytes = doc["weight_bytes"].get<int64_t>();
    EXPECT_LT(bytes, previous) << dtype;
    EXPECT_GT(bytes, expected_params() / 2) << dtype;
    previous = bytes;
    EXPECT_GT(doc["decode_tok_per_s"].get<double>(), 0) << dtype;
  }
}

TEST(Bench, SweepsBatchesAndContexts) {
  test::TempDir dir;
  test::write_file(dir.file("config.json"), kConfig.dump());
  const auto r = test::run_jamba({"bench", "--config", dir.file("config.json"), "--random-weights", "--prompt", "8,24",
                                  "--batch", "1,3", "--context", "40,100", "--gen", "2", "--json", "-t", "1", "--bandwidth-mib", "64"},
                                 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["prefill"].size(), 2u);
  ASSERT_EQ(doc["decode"].size(), 4u);
  // More context means more K/V to read: the floor's bytes per step grow with it.
  EXPECT_LT(doc["decode"][0]["bytes_per_step"].get<double>(), doc["decode"][2]["bytes_per_step"].get<double>());
  EXPECT_EQ(doc["decode"][3]["tokens"], 6);
}

TEST(Bench, BadArguments) {
  test::TempDir dir;
  test::write_file(dir.file("config.json"), kConfig.dump());
  test::write_file(dir.file("broken.json"), "{\"hidden_size\": 64,");
  const auto expect = [](const std::vector<std::string>& args, int code, const std::string& needle) {
    const auto r = test::run_jamba(args);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  };
  expect({"bench", "--random-weights"}, 1, "--config");
  expect({"bench", "--config", dir.file("config.json")}, 1, "--random-weights");
  expect({"bench", "--config", dir.file("config.json"), "--random-weights", "--dtype", "q3"}, 2, "--dtype");
  expect({"bench", "--config", dir.file("broken.json"), "--random-weights"}, 1, "broken.json");
  expect({"bench", "--config", dir.file("missing.json"), "--random-weights"}, 1, "missing.json");
  expect({"bench", "--config", dir.file("config.json"), "--random-weights", "--batch", "0"}, 2, "--batch");
  expect({"bench", "-m", dir.path(), "--config", dir.file("config.json"), "--random-weights"}, 1, "exclude");
}

TEST(RandomModel, WritesALoadableCheckpointOfTheShape) {
  test::TempDir dir;
  test::write_file(dir.file("config.json"), kConfig.dump());
  const std::string out = dir.file("model");
  const auto r = test::run_jamba({"random-model", "--config", dir.file("config.json"), "-o", out, "--dtype", "f16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto info = test::run_jamba({"info", "-m", out, "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const json doc = json::parse(info.out);
  EXPECT_EQ(doc["weight_dtype"], "f16");
  // info counts every stored tensor (norms, conv taps, A, D, biases too), bench the matrices.
  EXPECT_GT(doc["weight_bytes"].get<int64_t>(), 2 * expected_params());
  EXPECT_LT(doc["weight_bytes"].get<int64_t>(), 2 * expected_params() * 21 / 20);
  const auto gen = test::run_jamba({"generate", "-m", out, "--tokens", "1,2,3", "-n", "4", "--json", "-t", "1"});
  EXPECT_EQ(gen.exit_code, 0) << gen.err;
  // Never over an existing checkpoint.
  const auto again = test::run_jamba({"random-model", "--config", dir.file("config.json"), "-o", out});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already holds"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace jamba
