// Sampler behaviour and the memory plan on the seed's worked examples (Jamba-v0.1).
#include <gtest/gtest.h>

#include "base/error.h"
#include "format/model_config.h"
#include "model/layer_plan.h"
#include "model/memory_plan.h"
#include "runtime/sampler.h"
#include "support/test_support.h"

namespace jamba {
namespace {

TEST(Sampler, GreedyAndFilters) {
  const std::vector<float> logits = {0.5f, 3.0f, 2.9f, -1.0f, 3.0f};
  Sampler greedy({0.0f, 0, 1.0f, 1});
  EXPECT_EQ(greedy.sample(logits.data(), 5), 1);  // tie -> lowest id
  Sampler top1({1.0f, 1, 1.0f, 7});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(top1.sample(logits.data(), 5), 1);
  Sampler nucleus({1.0f, 0, 1e-6f, 7});  // tiny top-p keeps only the best token
  for (int i = 0; i < 20; ++i) EXPECT_EQ(nucleus.sample(logits.data(), 5), 1);
  Sampler top3({5.0f, 3, 1.0f, 3});
  for (int i = 0; i < 200; ++i) {
    const int32_t t = top3.sample(logits.data(), 5);
    EXPECT_TRUE(t == 1 || t == 2 || t == 4) << t;
  }
}

TEST(Sampler, SameSeedSameDraws) {
  const auto logits = test::random_floats(50, 3);
  Sampler a({1.0f, 0, 1.0f, 42}), b({1.0f, 0, 1.0f, 42}), c({1.0f, 0, 1.0f, 43});
  std::vector<int32_t> da, db, dc;
  for (int i = 0; i < 64; ++i) {
    da.push_back(a.sample(logits.data(), 50));
    db.push_back(b.sample(logits.data(), 50));
    dc.push_back(c.sample(logits.data(), 50));
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(Sampler, RejectsNanLogitsAndBadParams) {
  const std::vector<float> logits = {0.0f, NAN};
  Sampler s({1.0f, 0, 1.0f, 1});
  EXPECT_THROW(s.sample(logits.data(), 2), Error);
  EXPECT_THROW(Sampler({-1.0f, 0, 1.0f, 1}), Error);
  EXPECT_THROW(Sampler({1.0f, 0, 0.0f, 1}), Error);
}

TEST(MemoryPlan, JambaV01WorkedExample) {
  const ModelConfig c = load_model_config(test::fixtures_dir() + "/configs/jamba-v0.1");
  const LayerPlan plan = LayerPlan::from_config(c);
  EXPECT_EQ(plan.layers.size(), 32u);
  EXPECT_EQ(plan.attention_layers, 4);
  EXPECT_EQ(plan.mamba_layers, 28);
  EXPECT_EQ(plan.moe_layers, 16);
  const MemoryPlan m = plan_memory(c, 2, 2, 262144, 1);
  EXPECT_NEAR(m.params.total() / 1e9, 51.57, 0.01);
  EXPECT_NEAR(m.params.active() / 1e9, 12.11, 0.01);
  EXPECT_EQ(m.kv_bytes_per_token, 16 * 1024);
  EXPECT_EQ(m.kv_bytes_total, int64_t{4} << 30);
  // 28 Mamba layers x (3 x 8192 bf16 conv inputs + 8192 x 16 fp32 SSM state).
  EXPECT_EQ(m.state_bytes_per_sequence, 28 * (3 * 8192 * 2 + 8192 * 16 * 4));

  const ModelConfig all = load_model_config(test::fixtures_dir() + "/configs/jamba-v0.1-all-attention");
  const MemoryPlan ma = plan_memory(all, 2, 2, 262144, 1);
  EXPECT_EQ(ma.kv_bytes_per_token, 8 * m.kv_bytes_per_token);
  EXPECT_EQ(ma.state_bytes_per_sequence, 0);
}

}  // namespace
}  // namespace jamba
