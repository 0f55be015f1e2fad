// Weight-only quantized checkpoints (`jamba quantize`, model/quantize.h): quality against the
// unquantized model and the bad-input catalog of the loader.
//
// Quality: per model, the next-token distributions of one sequence (real text for the demo
// model, fixed pseudo-random ids for the fixtures) through the float model and its int8 / int4
// copies on the "cpu" backend: top-1 agreement and mean KL(p_float || p_quant). Bounds, set
// with margin over the measured values (printed by the test): on the demo model (a trained
// model, so distributions are peaked and meaningful) int8 top-1 >= 0.95 and mean KL <= 0.01,
// int4 top-1 >= 0.75 and mean KL <= 0.1. The fixtures are random-weight models whose
// distributions are nearly flat (argmax margins tiny), so only int8 is bounded there (KL <= 0.01)
// and the numbers are printed. NaN never passes: every logit is checked finite.
#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "format/safetensors.h"
#include "format/tokenizer/tokenizer.h"
#include "model/model.h"
#include "model/quantize.h"
#include "runtime/engine.h"
#include "support/test_support.h"

namespace jamba {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string demo_model() { return std::string(JAMBA_MODELS_DIR) + "/jamba-demo"; }

std::vector<float> all_logits(const std::string& dir, const std::vector<int32_t>& tokens) {
  Engine engine(Model::load(dir), ops::backend_by_name("cpu"));
  const SeqId seq = engine.cache().create_sequence();
  return engine.prefill(seq, tokens, 64, true);
}

struct Quality {
  double top1 = 0, mean_kl = 0;
};

Quality compare(const std::vector<float>& want, const std::vector<float>& got, int64_t V) {
  EXPECT_EQ(want.size(), got.size());
  const int64_t T = static_cast<int64_t>(want.size()) / V;
  Quality q;
  for (int64_t t = 0; t < T; ++t) {
    const float* a = want.data() + t * V;
    const float* b = got.data() + t * V;
    double ma = -INFINITY, mb = -INFINITY;
    int64_t arg_a = 0, arg_b = 0;
    for (int64_t i = 0; i < V; ++i) {
      EXPECT_TRUE(std::isfinite(a[i]) && std::isfinite(b[i])) << "position " << t << " id " << i;
      if (!std::isfinite(b[i])) return {0, INFINITY};
      if (a[i] > ma) ma = a[i], arg_a = i;
      if (b[i] > mb) mb = b[i], arg_b = i;
    }
    double za = 0, zb = 0;
    for (int64_t i = 0; i < V; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    const double lza = std::log(za) + ma, lzb = std::log(zb) + mb;
    double kl = 0;
    for (int64_t i = 0; i < V; ++i) {
      const double la = a[i] - lza, lb = b[i] - lzb;
      kl += std::exp(la) * (la - lb);
    }
    q.mean_kl += kl / T;
    q.top1 += (arg_a == arg_b) ? 1.0 / T : 0.0;
  }
  return q;
}

std::vector<int32_t> pseudo_random_tokens(int64_t V, int n) {
  std::vector<int32_t> ids;
  uint32_t s = 12345;
  for (int i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    ids.push_back(static_cast<int32_t>((s >> 8) % V));
  }
  return ids;
}

class QuantizedQuality : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizedQuality, Int8AndInt4AgainstFloat) {
  const bool demo = GetParam() == "jamba-demo";
  const std::string dir = demo ? demo_model() : test::fixtures_dir() + "/" + GetParam();
  const ModelConfig config = Model::load(dir)->config;
  std::vector<int32_t> tokens;
  if (demo) {
    tokens = Tokenizer::load(dir)->encode(test::read_file(test::fixtures_dir() + "/demo/moby_dick_opening.txt"));
    if (tokens.size() > 256) tokens.resize(256);
  } else {
    tokens = pseudo_random_tokens(config.vocab_size, 48);
  }
  const std::vector<float> base = all_logits(dir, tokens);
  test::TempDir tmp;
  struct Variant {
    const char* name;
    int bits;
    int64_t group;
  };
  for (Variant v : {Variant{"int8", 8, 0}, Variant{"int4-g32", 4, 32}, Variant{"int4-g64", 4, 64}}) {
    const std::string out = tmp.file(v.name);
    const QuantizeResult r = quantize_checkpoint(dir, out, v.bits, v.group);
    if (v.bits == 8) {  // int4: a fixture's rows may all be narrower than a group
      EXPECT_GT(r.quantized, 0);
    }
    const Quality q = compare(base, all_logits(out, tokens), config.vocab_size);
    std::printf("[ quality ] %s %s: %zu positions, top-1 agreement %.4f, mean KL %.3g, %" PRIu64 " -> %" PRIu64
                " bytes, %zu matrices left unquantized\n",
                GetParam().c_str(), v.name, tokens.size(), q.top1, q.mean_kl, r.bytes_in, r.bytes_out,
                r.skipped.size());
    ASSERT_TRUE(std::isfinite(q.mean_kl));
    if (v.bits == 8) {
      EXPECT_LE(q.mean_kl, 0.01) << v.name;
      if (demo) {
        EXPECT_GE(q.top1, 0.95) << v.name;
      }
    } else if (demo) {
      EXPECT_LE(q.mean_kl, 0.1) << v.name;
      EXPECT_GE(q.top1, 0.75) << v.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, QuantizedQuality,
                         ::testing::Values("mamba_only_dense_f32", "attention_only_moe_sharded_f32", "gqa_moe_bf16",
                                           "jamba_layout_bf16_sharded", "mqa_tied_bias_f16", "jamba-demo"),
                         [](const auto& info) { return info.param == "jamba-demo" ? std::string("demo") : info.param; });

// The row quantizers: int8 rounds to the nearest level of max|row| / 127 (error <= s / 2);
// int4's searched scale never does worse (squared error per group) than plain max|group| / 7;
// zeros stay zero; NaN / Inf are refused.
TEST(QuantizeRows, ErrorBoundsAndNonFinite) {
  const int64_t k = 256;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::vector<float> w = test::random_floats(k, seed, seed % 2 ? 1.0f : 1e-3f);
    if (seed == 3) w.assign(k, 0.0f);
    std::vector<int8_t> q8(k);
    float s8 = 0;
    ASSERT_TRUE(quantize_row_q8(w.data(), k, q8.data(), &s8));
    for (int64_t i = 0; i < k; ++i) ASSERT_LE(std::fabs(w[i] - q8[i] * s8), 0.5f * s8 * 1.0001f + 1e-30f) << i;
    for (int64_t group : {32, 64}) {
      std::vector<uint8_t> q4(k / 2);
      std::vector<float> s4(k / group);
      ASSERT_TRUE(quantize_row_q4(w.data(), k, group, q4.data(), s4.data()));
      for (int64_t g = 0; g < k / group; ++g) {
        float amax = 0;
        for (int64_t i = 0; i < group; ++i) amax = std::max(amax, std::fabs(w[g * group + i]));
        double err = 0, plain = 0;
        for (int64_t i = 0; i < group; ++i) {
          const int64_t t = g * group + i;
          const int level = ((t % 2 == 0) ? (q4[t / 2] & 0x0f) : (q4[t / 2] >> 4)) - 8;
          err += std::pow(w[t] - level * s4[g], 2);
          const float s = amax / 7;
          const float p = s > 0 ? std::clamp(std::nearbyint(w[t] / s), -8.0f, 7.0f) * s : 0.0f;
          plain += std::pow(w[t] - p, 2);
        }
        EXPECT_LE(err, plain * (1 + 1e-6) + 1e-30) << "seed " << seed << " group " << group << " g " << g;
        if (seed == 3) {
          EXPECT_EQ(err, 0.0);
        }
      }
    }
  }
  std::vector<float> bad(64, 1.0f);
  bad[17] = NAN;
  std::vector<int8_t> q8(64);
  std::vector<uint8_t> q4(32);
  float s[2];
  EXPECT_FALSE(quantize_row_q8(bad.data(), 64, q8.data(), s));
  bad[17] = INFINITY;
  EXPECT_FALSE(quantize_row_q4(bad.data(), 64, 32, q4.data(), s));
}

// ---- Bad quantized checkpoints: each load fails with an Error naming the problem. --------------

class QuantizedBadInput : public ::testing::Test {
 protected:
  // An int8 (or int4) copy of the smallest fixture, rewritten by `edit` (tensors) and `edit_config`.
  std::string broken(int bits, const std::function<void(std::vector<TensorToWrite>&)>& edit,
                     const std::function<void(json&)>& edit_config = nullptr) {
    const std::string src = test::fixtures_dir() + "/mamba_only_dense_f32";
    const std::string q = tmp_.file("q" + std::to_string(bits) + "_" + std::to_string(count_++));
    quantize_checkpoint(src, q, bits, bits == 8 ? 0 : 32);
    const TensorStore store = TensorStore::open(q);
    std::vector<TensorToWrite> tensors;
    for (const std::string& name : store.names()) {
      const TensorView t = store.get(name);
      const auto* p = static_cast<const std::byte*>(t.data);
      tensors.push_back({name, t.dtype, t.shape, std::vector<std::byte>(p, p + view_bytes(t))});
    }
    std::stable_sort(tensors.begin(), tensors.end(),
                     [](const auto& a, const auto& b) { return dtype_size(a.dtype) > dtype_size(b.dtype); });
    edit(tensors);
    fs::remove(q + "/model.safetensors");
    write_safetensors(q + "/model.safetensors", tensors);
    if (edit_config) {
      json c = json::parse(test::read_file(q + "/config.json"));
      edit_config(c);
      test::write_file(q + "/config.json", c.dump());
    }
    return q;
  }
  static std::string error_of(const std::string& dir) {
    try {
      Model::load(dir);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static void erase(std::vector<TensorToWrite>& t, const std::string& name) {
    const size_t before = t.size();
    std::erase_if(t, [&](const TensorToWrite& x) { return x.name == name; });
    ASSERT_EQ(t.size() + 1, before) << name;
  }
  test::TempDir tmp_;
  int count_ = 0;
};

const std::string kInProj = "model.layers.0.mamba.in_proj.weight";

TEST_F(QuantizedBadInput, GoodCopyLoads) { EXPECT_EQ(error_of(broken(8, [](auto&) {})), ""); }

TEST_F(QuantizedBadInput, MissingScale) {
  const std::string e = error_of(broken(8, [](auto& t) { erase(t, kInProj + "_scale"); }));
  EXPECT_NE(e.find("has no scale tensor '" + kInProj + "_scale'"), std::string::npos) << e;
}

TEST_F(QuantizedBadInput, ScaleOfWrongShape) {
  const std::string e = error_of(broken(4, [](auto& t) {
    for (auto& x : t)
      if (x.name == kInProj + "_scale") x.shape = {x.shape[1], x.shape[0]};
  }));
  EXPECT_NE(e.find("scale tensor '" + kInProj + "_scale' has shape"), std::string::npos) << e;
}

TEST_F(QuantizedBadInput, ScaleNotF32) {
  const std::string e = error_of(broken(8, [](auto& t) {
    for (auto& x : t)
      if (x.name == kInProj + "_scale") x.dtype = DType::I32;
  }));
  EXPECT_NE(e.find("expected F32"), std::string::npos) << e;
}

TEST_F(QuantizedBadInput, NanScale) {
  const std::string e = error_of(broken(8, [](auto& t) {
    for (auto& x : t)
      if (x.name == kInProj + "_scale") {
        const float nan = NAN;
        std::memcpy(x.bytes.data(), &nan, 4);
      }
  }));
  EXPECT_NE(e.find("NaN"), std::string::npos) << e;
}

TEST_F(QuantizedBadInput, BitsMismatch) {
  const std::string e = error_of(broken(8, [](auto&) {}, [](json& c) {
    c["quantization_config"]["bits"] = 4;
    c["quantization_config"]["group_size"] = 32;
  }));
  EXPECT_NE(e.find("I8 (8-bit) but config.json's quantization_config says bits 4"), std::string::npos) << e;
}

TEST_F(QuantizedBadInput, BadConfigEntries) {
  EXPECT_NE(error_of(broken(8, [](auto&) {}, [](json& c) { c["quantization_config"]["quant_method"] = "gptq"; }))
                .find("only 'jamba.cpp'"),
            std::string::npos);
  EXPECT_NE(error_of(broken(4, [](auto&) {}, [](json& c) { c["quantization_config"]["group_size"] = 48; }))
                .find("group_size must be 32 or 64"),
            std::string::npos);
  EXPECT_NE(error_of(broken(8, [](auto&) {}, [](json& c) { c["quantization_config"]["bits"] = 3; })).find("bits"),
            std::string::npos);
}

TEST_F(QuantizedBadInput, QuantizedTensorOfWrongShape) {
  const std::string e = error_of(broken(8, [](auto& t) {
    for (auto& x : t)
      if (x.name == kInProj) {
        x.shape = {x.shape[0] / 2, x.shape[1]};
        x.bytes.resize(x.bytes.size() / 2);
      }
  }));
  EXPECT_NE(e.find(kInProj), std::string::npos) << e;
}

TEST_F(QuantizedBadInput, OrphanScaleAndQuantizedNorm) {
  std::string e = error_of(broken(8, [](auto& t) {
    t.push_back({"model.layers.0.input_layernorm.weight_scale", DType::F32, {1}, std::vector<std::byte>(4)});
  }));
  EXPECT_NE(e.find("is not used by this config"), std::string::npos) << e;
  // A norm stored as I8 (with a scale) is not a matrix the loader accepts quantized.
  e = error_of(broken(8, [](auto& t) {
    for (auto& x : t)
      if (x.name == "model.final_layernorm.weight") {
        const int64_t n = x.shape[0];
        x.dtype = DType::I8;
        x.shape = {1, n};
        x.bytes.assign(n, std::byte{1});
      }
    t.push_back({"model.final_layernorm.weight_scale", DType::F32, {1}, std::vector<std::byte>(4)});
  }));
  EXPECT_NE(e.find("model.final_layernorm.weight"), std::string::npos) << e;
}

TEST_F(QuantizedBadInput, QuantizeRejectsItsOwnOutputAndBadArguments) {
  const std::string src = test::fixtures_dir() + "/mamba_only_dense_f32";
  const std::string q = broken(8, [](auto&) {});
  EXPECT_THROW(quantize_checkpoint(q, tmp_.file("again"), 8, 0), Error);
  EXPECT_THROW(quantize_checkpoint(src, tmp_.file("x"), 4, 48), Error);
  EXPECT_THROW(quantize_checkpoint(src, tmp_.file("y"), 5, 0), Error);
}

}  // namespace
}  // namespace jamba
