// HybridCache on its own: KV rows that grow past their first allocation, commits, snapshots,
// forks, saved images, and the memory it runs on (a CacheMemory that counts and checks every
// allocation stands in for a GPU's).
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "base/error.h"
#include "cache/hybrid_cache.h"
#include "format/model_config.h"
#include "model/layer_plan.h"

namespace jamba {
namespace {

ModelConfig small_config() {
  // 4 layers, attention at 1 and 3: 2 KV slots of nkv*hd = 2*4 floats a row; 2 Mamba slots.
  return parse_model_config_text(
      R"({"model_type": "jamba", "hidden_size": 8, "num_hidden_layers": 4, "num_attention_heads": 2,
          "num_key_value_heads": 2, "attn_layer_period": 2, "attn_layer_offset": 1, "num_experts": 1,
          "intermediate_size": 16, "vocab_size": 32, "mamba_d_state": 3, "mamba_d_conv": 4,
          "mamba_expand": 2, "mamba_dt_rank": 2})",
      "test config");
}

// Host memory that remembers what it handed out and refuses pointers it did not.
class CheckedMemory final : public CacheMemory {
 public:
  float* allocate(int64_t floats) override {
    float* p = new float[static_cast<size_t>(floats)]();
    live_[p] = floats;
    ++allocations_;
    return p;
  }
  void release(float* p) noexcept override {
    live_.erase(p);
    delete[] p;
  }
  void fill_zero(float* p, int64_t floats) override {
    check(p, floats);
    std::fill_n(p, floats, 0.0f);
  }
  void copy(float* dst, const float* src, int64_t floats) override {
    check(dst, floats);
    check(src, floats);
    std::copy_n(src, floats, dst);
    ++copies_;
  }
  void upload(float* dst, const float* host, int64_t floats) override {
    check(dst, floats);
    std::copy_n(host, floats, dst);
    ++uploads_;
  }
  void download(float* host, const float* src, int64_t floats) const override {
    check(src, floats);
    std::copy_n(src, floats, host);
  }
  size_t live() const { return live_.size(); }
  int allocations_ = 0, copies_ = 0, uploads_ = 0;

 private:
  // The range [p, p + floats) must lie inside one live allocation.
  void check(const float* p, int64_t floats) const {
    for (const auto& [base, size] : live_)
      if (p >= base && p + floats <= base + size) return;
    ADD_FAILURE() << "pointer outside the cache's memory";
  }
  std::map<const float*, int64_t> live_;
};

std::vector<float> rows_of(int64_t first, int64_t rows, int64_t width) {
  std::vector<float> v(static_cast<size_t>(rows * width));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(first * width + static_cast<int64_t>(i));
  return v;
}

TEST(HybridCache, KvRowsSurviveGrowthAndMatchWhatWasAppended) {
  const ModelConfig config = small_config();
  const LayerPlan plan = LayerPlan::from_config(config);
  auto memory = std::make_shared<CheckedMemory>();
  {
    HybridCache cache(config, plan, 1000, memory);
    const int64_t W = cache.kv_row_floats();
    ASSERT_EQ(W, 8);
    const SeqId seq = cache.create_sequence();
    int64_t done = 0;
    for (int64_t n : {7, 1, 300, 5}) {  // 313 rows: past the first allocation of 256
      for (int64_t slot = 0; slot < 2; ++slot) {
        const std::vector<float> k = rows_of(done, n, W);
        std::vector<float> v = k;
        for (float& x : v) x = -x;
        // The forward appends from the cache's own memory: stage the rows there first.
        float* staged_k = memory->allocate(n * W);
        float* staged_v = memory->allocate(n * W);
        std::copy(k.begin(), k.end(), staged_k);
        std::copy(v.begin(), v.end(), staged_v);
        cache.append_kv(seq, slot, staged_k, staged_v, n);
        memory->release(staged_k);
        memory->release(staged_v);
      }
      cache.commit(seq, n);
      done += n;
    }
    EXPECT_EQ(cache.length(seq), 313);
    EXPECT_EQ(cache.kv_bytes(), 2 * 2 * 313 * W * 4);
    for (int64_t slot = 0; slot < 2; ++slot)
      for (int64_t i = 0; i < 313 * W; ++i) {
        ASSERT_EQ(cache.keys(seq, slot)[i], static_cast<float>(i)) << i;
        ASSERT_EQ(cache.values(seq, slot)[i], -static_cast<float>(i)) << i;
      }
  }
  EXPECT_EQ(memory->live(), 0u);  // the cache gave back everything it took
}

TEST(HybridCache, CommitChecksTheRowsAndAppendChecksTheContext) {
  const ModelConfig config = small_config();
  HybridCache cache(config, LayerPlan::from_config(config), 10);
  const SeqId seq = cache.create_sequence();
  const std::vector<float> rows = rows_of(0, 11, cache.kv_row_floats());
  cache.append_kv(seq, 0, rows.data(), rows.data(), 3);
  EXPECT_THROW(cache.commit(seq, 3), Error);  // slot 1 got no rows
  EXPECT_THROW(cache.append_kv(seq, 1, rows.data(), rows.data(), 11), Error);
  EXPECT_THROW(cache.append_kv(seq, 2, rows.data(), rows.data(), 1), Error);  // no such slot
  EXPECT_THROW(cache.length(seq + 1), Error);
}

TEST(HybridCache, SnapshotRestoreForkAndSavedImagesThroughAnyMemory) {
  const ModelConfig config = small_config();
  const LayerPlan plan = LayerPlan::from_config(config);
  auto memory = std::make_shared<CheckedMemory>();
  HybridCache cache(config, plan, 64, memory);
  const int64_t W = cache.kv_row_floats();
  const SeqId seq = cache.create_sequence();
  auto append = [&](SeqId s, int64_t first, int64_t n) {
    const std::vector<float> k = rows_of(first, n, W);
    for (int64_t slot = 0; slot < 2; ++slot) cache.append_kv_from_host(s, slot, k.data(), k.data(), n);
    cache.commit(s, n);
  };
  auto set_states = [&](SeqId s, float value) {
    for (int64_t m = 0; m < 2; ++m) {
      const MambaStateRef st = cache.mamba(s, m);
      st.conv[0] = value;
      st.ssm[5] = value + 1;
    }
  };
  append(seq, 0, 5);
  set_states(seq, 7);
  const CacheSnapshot snap = cache.snapshot(seq);
  ASSERT_EQ(snap.mamba.size(), 2u);
  EXPECT_EQ(snap.mamba[1].conv[0], 7);
  EXPECT_EQ(snap.mamba[1].ssm[5], 8);
  const SeqId forked = cache.fork_sequence(seq);

  append(seq, 5, 4);
  set_states(seq, 9);
  cache.restore(seq, snap);
  EXPECT_EQ(cache.length(seq), 5);
  EXPECT_EQ(cache.mamba(seq, 0).conv[0], 7);
  EXPECT_EQ(cache.mamba(seq, 1).ssm[5], 8);
  EXPECT_EQ(cache.mamba(forked, 0).conv[0], 7);  // the fork kept its own copy
  EXPECT_EQ(cache.length(forked), 5);
  EXPECT_EQ(cache.keys(forked, 1)[4 * W + 3], static_cast<float>(4 * W + 3));

  std::stringstream image;
  cache.write_sequence(seq, image);
  const SeqId loaded = cache.read_sequence(image, "image");
  EXPECT_EQ(cache.length(loaded), 5);
  EXPECT_EQ(cache.mamba(loaded, 1).ssm[5], 8);
  EXPECT_EQ(cache.values(loaded, 0)[5 * W - 1], static_cast<float>(5 * W - 1));
  std::stringstream cut(image.str().substr(0, image.str().size() / 2));
  EXPECT_THROW(cache.read_sequence(cut, "cut image"), Error);

  CacheSnapshot wrong = snap;
  wrong.mamba[0].ssm.pop_back();
  EXPECT_THROW(cache.restore(seq, wrong), Error);
  append(seq, 5, 1);
  const CacheSnapshot later = cache.snapshot(seq);
  cache.restore(seq, snap);
  EXPECT_THROW(cache.restore(seq, later), Error);  // cannot restore forward
  EXPECT_GT(memory->uploads_, 0);
  EXPECT_GT(memory->copies_, 0);
}

TEST(HybridCache, MambaPoolKeepsStatesAcrossGrowthAndReusesFreedIndices) {
  const ModelConfig config = small_config();
  auto memory = std::make_shared<CheckedMemory>();
  HybridCache cache(config, LayerPlan::from_config(config), 16, memory);
  std::vector<SeqId> seqs;
  for (int i = 0; i < 9; ++i) {  // past the first pool of 4 and the second of 8
    seqs.push_back(cache.create_sequence());
    for (int64_t m = 0; m < 2; ++m) {
      const MambaStateRef st = cache.mamba(seqs.back(), m);
      EXPECT_EQ(st.conv[0], 0.0f);  // a new sequence starts from zero states
      st.conv[0] = static_cast<float>(10 * i + m);
      st.ssm[1] = static_cast<float>(-10 * i - m);
    }
  }
  std::set<int64_t> indices;
  for (int i = 0; i < 9; ++i) {
    indices.insert(cache.state_index(seqs[i]));
    for (int64_t m = 0; m < 2; ++m) {
      const MambaPool pool = cache.mamba_pool(m);
      const int64_t at = cache.state_index(seqs[i]);
      EXPECT_EQ(pool.conv[at * pool.conv_stride], static_cast<float>(10 * i + m));
      EXPECT_EQ(pool.ssm[at * pool.ssm_stride + 1], static_cast<float>(-10 * i - m));
    }
  }
  EXPECT_EQ(indices.size(), 9u);
  const int64_t freed = cache.state_index(seqs[3]);
  cache.release_sequence(seqs[3]);
  const SeqId again = cache.create_sequence();
  EXPECT_EQ(cache.state_index(again), freed);
  EXPECT_EQ(cache.mamba(again, 1).ssm[1], 0.0f);  // cleared on reuse
  EXPECT_EQ(cache.state_bytes(), 9 * 2 * (3 * 16 + 16 * 3) * 4);  // Di 16: conv 3 x 16, SSM 16 x 3
}

TEST(HybridCache, FailedForkTakesNoState) {
  const ModelConfig config = small_config();
  HybridCache cache(config, LayerPlan::from_config(config), 16);
  for (int i = 0; i < 3; ++i) cache.create_sequence();  // indices 0..2 of the first pool of 4
  EXPECT_THROW(cache.fork_sequence(999), Error);
  EXPECT_EQ(cache.state_index(cache.create_sequence()), 3);  // index 3 was not lost to the failed fork
}

}  // namespace
}  // namespace jamba
