// config.json -> ModelConfig: HF defaults, aliases, legacy keys, generation_config.json, and a
// catalog of invalid configs, each of which must throw one line naming the file and the field.
#include <functional>

#include <gtest/gtest.h>

#include "base/error.h"
#include "format/model_config.h"
#include "support/expect_error.h"
#include "support/test_support.h"

namespace jamba {
namespace {

using test::TempDir;

ModelConfig parse(const std::string& text) { return parse_model_config_text(text, "config.json"); }

using test::error_of;
using test::expect_error_contains;

// Jamba-v0.1's config.json as published (remote-code keys included).
const char* kJambaV01 = R"({
  "architectures": ["JambaForCausalLM"],
  "attention_dropout": 0.0,
  "attn_layer_offset": 4,
  "attn_layer_period": 8,
  "auto_map": {"AutoConfig": "configuration_jamba.JambaConfig", "AutoModel": "modeling_jamba.JambaModel"},
  "bos_token_id": 1,
  "calc_logits_for_entire_prompt": false,
  "eos_token_id": 2,
  "expert_layer_offset": 1,
  "expert_layer_period": 2,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "mamba_conv_bias": true,
  "mamba_d_conv": 4,
  "mamba_d_state": 16,
  "mamba_dt_rank": 256,
  "mamba_expand": 2,
  "mamba_inner_layernorms": true,
  "mamba_proj_bias": false,
  "model_type": "jamba",
  "n_ctx": 262144,
  "num_attention_heads": 32,
  "num_experts": 16,
  "num_experts_per_tok": 2,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "output_router_logits": false,
  "pad_token_id": 0,
  "rms_norm_eps": 1e-06,
  "router_aux_loss_coef": 0.001,
  "sliding_window": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1",
  "use_cache": true,
  "use_mamba_kernels": true,
  "vocab_size": 65536
})";

// ---------------------------------------------------------------------------------------------

TEST(ModelConfigDefaults, EmptyObjectGivesHfDefaults) {
  const ModelConfig c = parse("{}");
  EXPECT_EQ(c.vocab_size, 65536);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_DOUBLE_EQ(c.initializer_range, 0.02);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_TRUE(c.use_cache);
  EXPECT_EQ(c.num_logits_to_keep, 1);
  EXPECT_FALSE(c.output_router_logits);
  EXPECT_DOUBLE_EQ(c.router_aux_loss_coef, 0.001);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.max_position_embeddings, 262144);
  EXPECT_DOUBLE_EQ(c.attention_dropout, 0.0);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_EQ(c.num_experts, 16);
  EXPECT_EQ(c.expert_layer_period, 2);
  EXPECT_EQ(c.expert_layer_offset, 1);
  EXPECT_EQ(c.attn_layer_period, 8);
  EXPECT_EQ(c.attn_layer_offset, 4);
  EXPECT_TRUE(c.use_mamba_kernels);
  EXPECT_EQ(c.mamba_d_state, 16);
  EXPECT_EQ(c.mamba_d_conv, 4);
  EXPECT_EQ(c.mamba_expand, 2);
  EXPECT_EQ(c.mamba_dt_rank, 256);  // "auto" with hidden 4096
  EXPECT_TRUE(c.mamba_conv_bias);
  EXPECT_FALSE(c.mamba_proj_bias);
  EXPECT_EQ(c.torch_dtype, "float32");
  EXPECT_EQ(c.d_inner(), 8192);
}

TEST(ModelConfigDefaults, PublishedV01ConfigAndLayout) {
  const ModelConfig c = parse(kJambaV01);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.max_position_embeddings, 262144);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  std::vector<int64_t> attention, moe;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    if (c.is_attention_layer(i)) attention.push_back(i);
    if (c.is_moe_layer(i)) moe.push_back(i);
  }
  EXPECT_EQ(attention, (std::vector<int64_t>{4, 12, 20, 28}));
  EXPECT_EQ(moe.size(), 16u);
  EXPECT_EQ(moe.front(), 1);
}

TEST(ModelConfigDefaults, EveryFieldIsRead) {
  const ModelConfig c = parse(R"({
    "vocab_size": 1000, "tie_word_embeddings": true, "hidden_size": 64, "intermediate_size": 96,
    "num_hidden_layers": 6, "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
    "initializer_range": 0.5, "rms_norm_eps": 1e-5, "use_cache": false, "num_logits_to_keep": 0,
    "output_router_logits": true, "router_aux_loss_coef": 0.25, "pad_token_id": 5, "bos_token_id": 6,
    "eos_token_id": [7, 8], "sliding_window": 128, "max_position_embeddings": 4096,
    "attention_dropout": 0.1, "num_experts_per_tok": 3, "num_experts": 5, "expert_layer_period": 3,
    "expert_layer_offset": 0, "attn_layer_period": 3, "attn_layer_offset": 2, "use_mamba_kernels": false,
    "mamba_d_state": 8, "mamba_d_conv": 3, "mamba_expand": 3, "mamba_dt_rank": 5,
    "mamba_conv_bias": false, "mamba_proj_bias": true, "torch_dtype": "float16"
  })");
  EXPECT_EQ(c.vocab_size, 1000);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 96);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.initializer_range, 0.5);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_FALSE(c.use_cache);
  EXPECT_EQ(c.num_logits_to_keep, 0);
  EXPECT_TRUE(c.output_router_logits);
  EXPECT_DOUBLE_EQ(c.router_aux_loss_coef, 0.25);
  EXPECT_EQ(c.pad_token_id, 5);
  EXPECT_EQ(c.bos_token_id, 6);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(c.sliding_window, 128);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.attention_dropout, 0.1);
  EXPECT_EQ(c.num_experts_per_tok, 3);
  EXPECT_EQ(c.num_experts, 5);
  EXPECT_EQ(c.expert_layer_period, 3);
  EXPECT_EQ(c.expert_layer_offset, 0);
  EXPECT_EQ(c.attn_layer_period, 3);
  EXPECT_EQ(c.attn_layer_offset, 2);
  EXPECT_FALSE(c.use_mamba_kernels);
  EXPECT_EQ(c.mamba_d_state, 8);
  EXPECT_EQ(c.mamba_d_conv, 3);
  EXPECT_EQ(c.mamba_expand, 3);
  EXPECT_EQ(c.mamba_dt_rank, 5);
  EXPECT_FALSE(c.mamba_conv_bias);
  EXPECT_TRUE(c.mamba_proj_bias);
  EXPECT_EQ(c.torch_dtype, "float16");
  EXPECT_EQ(c.d_inner(), 192);
  EXPECT_TRUE(c.is_attention_layer(2));
  EXPECT_TRUE(c.is_attention_layer(5));
  EXPECT_TRUE(c.is_moe_layer(0));
  EXPECT_FALSE(c.is_moe_layer(1));
}

TEST(ModelConfigDefaults, OneExpertMeansDenseEverywhere) {
  // Top-K 2 with a single expert is fine: no layer is MoE, so top-K is never used.
  const ModelConfig c = parse(R"({"num_experts": 1, "num_experts_per_tok": 2})");
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) EXPECT_FALSE(c.is_moe_layer(i));
}

TEST(ModelConfigDefaults, LegacyAndUnknownKeysAreIgnored) {
  const ModelConfig c = parse(R"({
    "calc_logits_for_entire_prompt": true, "mamba_inner_layernorms": true, "auto_map": {"a": "b"},
    "architectures": ["JambaForCausalLM"], "transformers_version": "4.40.1", "use_mambapy": true,
    "use_associative_scan": false, "layers_block_type": ["mamba", "attention"], "layer_types": [],
    "layers_num_experts": [1, 16], "quantization_config": {"bits": 4}, "some_future_key": [null, {}]
  })");
  EXPECT_EQ(c.hidden_size, 4096);
}

// ---------------------------------------------------------------------------------------------

TEST(ModelConfigAliases, NCtx) {
  EXPECT_EQ(parse(R"({"n_ctx": 1024})").max_position_embeddings, 1024);
  EXPECT_EQ(parse(R"({"n_ctx": 1024, "max_position_embeddings": 2048})").max_position_embeddings, 2048);
  EXPECT_EQ(parse(R"({"max_position_embeddings": 2048, "n_ctx": 1024})").max_position_embeddings, 2048);
  expect_error_contains(error_of([] { parse(R"({"n_ctx": "big"})"); }), {"config.json", "'n_ctx'", "integer"});
}

TEST(ModelConfigAliases, NumLocalExperts) {
  EXPECT_EQ(parse(R"({"num_local_experts": 8})").num_experts, 8);
  EXPECT_EQ(parse(R"({"num_local_experts": 8, "num_experts": 8})").num_experts, 8);
  expect_error_contains(error_of([] { parse(R"({"num_local_experts": 8, "num_experts": 4})"); }),
                        {"config.json", "'num_local_experts' is 8", "'num_experts' is 4", "aliases"});
}

TEST(ModelConfigAliases, DtRankAuto) {
  EXPECT_EQ(parse(R"({"hidden_size": 100, "num_attention_heads": 4, "num_key_value_heads": 2, "mamba_dt_rank": "auto"})").mamba_dt_rank, 7);
  EXPECT_EQ(parse(R"({"hidden_size": 128, "num_attention_heads": 2, "num_key_value_heads": 1})").mamba_dt_rank, 8);
  EXPECT_EQ(parse(R"({"hidden_size": 128, "num_attention_heads": 2, "num_key_value_heads": 1, "mamba_dt_rank": 3})").mamba_dt_rank, 3);
  expect_error_contains(error_of([] { parse(R"({"mamba_dt_rank": "AUTO"})"); }), {"'mamba_dt_rank'", "\"auto\"", "AUTO"});
  expect_error_contains(error_of([] { parse(R"({"mamba_dt_rank": null})"); }), {"'mamba_dt_rank'", "null"});
}

TEST(ModelConfigAliases, DtypeAndTorchDtype) {
  EXPECT_EQ(parse(R"({"dtype": "bfloat16"})").torch_dtype, "bfloat16");
  EXPECT_EQ(parse(R"({"torch_dtype": "float16"})").torch_dtype, "float16");
  EXPECT_EQ(parse(R"({"torch_dtype": "float16", "dtype": "bfloat16"})").torch_dtype, "bfloat16");
  EXPECT_EQ(parse(R"({"torch_dtype": null})").torch_dtype, "float32");
  expect_error_contains(error_of([] { parse(R"({"dtype": 16})"); }), {"'dtype'", "string"});
}

TEST(ModelConfigAliases, HiddenActSwishIsSilu) { EXPECT_EQ(parse(R"({"hidden_act": "swish"})").hidden_act, "silu"); }

TEST(ModelConfigNulls, KvHeadsHeadDimIdsWindow) {
  EXPECT_EQ(parse(R"({"num_key_value_heads": null})").num_key_value_heads, 32);
  EXPECT_EQ(parse(R"({"num_attention_heads": 16, "num_key_value_heads": null})").num_key_value_heads, 16);
  EXPECT_EQ(parse(R"({"head_dim": null})").head_dim, 128);
  EXPECT_EQ(parse(R"({"head_dim": 64})").head_dim, 64);
  // An explicit head_dim frees hidden_size from being a multiple of the head count.
  EXPECT_EQ(parse(R"({"hidden_size": 100, "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 32})").head_dim, 32);
  EXPECT_EQ(parse(R"({"pad_token_id": null})").pad_token_id, -1);
  EXPECT_EQ(parse(R"({"bos_token_id": null})").bos_token_id, -1);
  EXPECT_EQ(parse(R"({"pad_token_id": -1})").pad_token_id, -1);
  EXPECT_TRUE(parse(R"({"eos_token_id": null})").eos_token_ids.empty());
  EXPECT_TRUE(parse(R"({"eos_token_id": []})").eos_token_ids.empty());
  EXPECT_EQ(parse(R"({"sliding_window": null})").sliding_window, 0);
  EXPECT_EQ(parse(R"({"num_logits_to_keep": null})").num_logits_to_keep, 1);
}

TEST(ModelConfigNulls, EosForms) {
  EXPECT_EQ(parse(R"({"eos_token_id": 518})").eos_token_ids, std::vector<int64_t>{518});
  EXPECT_EQ(parse(R"({"eos_token_id": [2, 518]})").eos_token_ids, (std::vector<int64_t>{2, 518}));
  EXPECT_EQ(parse(R"({"eos_token_id": [518, 2, 518]})").eos_token_ids, (std::vector<int64_t>{518, 2}));
}

// ---------------------------------------------------------------------------------------------

TEST(ModelConfigFiles, LoadWithGenerationConfigMerge) {
  TempDir dir;
  test::write_file(dir.file("config.json"), R"({"eos_token_id": [2, 518]})");
  test::write_file(dir.file("generation_config.json"),
                   R"({"bos_token_id": 1, "eos_token_id": [518, 519, 2], "transformers_version": "4.41.2"})");
  EXPECT_EQ(load_model_config(dir.path()).eos_token_ids, (std::vector<int64_t>{2, 518, 519}));

  test::write_file(dir.file("generation_config.json"), R"({"eos_token_id": 7})");
  EXPECT_EQ(load_model_config(dir.path()).eos_token_ids, (std::vector<int64_t>{2, 518, 7}));
  test::write_file(dir.file("generation_config.json"), R"({"eos_token_id": null, "do_sample": true})");
  EXPECT_EQ(load_model_config(dir.path()).eos_token_ids, (std::vector<int64_t>{2, 518}));
  test::write_file(dir.file("generation_config.json"), R"({})");
  EXPECT_EQ(load_model_config(dir.path()).eos_token_ids, (std::vector<int64_t>{2, 518}));
}

TEST(ModelConfigFiles, NoGenerationConfig) {
  TempDir dir;
  test::write_file(dir.file("config.json"), kJambaV01);
  const ModelConfig c = load_model_config(dir.path());
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.hidden_size, 4096);
}

TEST(ModelConfigFiles, MissingConfig) {
  TempDir dir;
  expect_error_contains(error_of([&] { load_model_config(dir.path()); }), {dir.file("config.json") + ": cannot open"});
}

TEST(ModelConfigFiles, BrokenGenerationConfigNamesThatFile) {
  TempDir dir;
  test::write_file(dir.file("config.json"), "{}");
  const std::string gen = dir.file("generation_config.json");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {R"({"eos_token_id": "2"})", {"'eos_token_id'", "a string"}},
      {R"({"eos_token_id": [2, "x"]})", {"'eos_token_id'", "a string"}},
      {R"({"eos_token_id": 2.0})", {"'eos_token_id'", "a float"}},
      {R"({"eos_token_id": {"a": 1}})", {"'eos_token_id'", "an object"}},
      {R"({"eos_token_id": 65536})", {"'eos_token_id'", "65536", "vocabulary"}},
      {R"({"eos_token_id": [-3]})", {"'eos_token_id'", "-3"}},
      {R"([2])", {"top level must be a JSON object"}},
      {R"({"eos_token_id": )", {"invalid JSON"}},
  };
  for (const auto& [text, needles] : cases) {
    SCOPED_TRACE(text);
    test::write_file(gen, text);
    const std::string message = error_of([&] { load_model_config(dir.path()); });
    EXPECT_EQ(message.rfind(gen + ": ", 0), 0u) << message;
    expect_error_contains(message, needles);
  }
}

TEST(ModelConfigFiles, MergeText) {
  ModelConfig c;
  merge_generation_config_text(c, R"({"eos_token_id": [3, 2]})", "gen.json");
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{2, 3}));
}

// ---------------------------------------------------------------------------------------------

TEST(ModelConfigErrors, Syntax) {
  expect_error_contains(error_of([] { parse("{\n  \"hidden_size\": 64,\n  oops\n}"); }),
                        {"config.json: invalid JSON", "line 3"});
  expect_error_contains(error_of([] { parse(""); }), {"config.json: invalid JSON"});
  expect_error_contains(error_of([] { parse("{} {}"); }), {"config.json: invalid JSON"});
  expect_error_contains(error_of([] { parse(std::string(100000, '[') + std::string(100000, ']')); }),
                        {"config.json", "nested deeper"});
  expect_error_contains(error_of([] { parse(R"({"hidden_size": 64, "hidden_size": 128})"); }),
                        {"config.json", "duplicate key 'hidden_size'"});
}

TEST(ModelConfigErrors, NotAnObject) {
  for (const char* text : {"[]", "42", "\"jamba\"", "null", "true"}) {
    SCOPED_TRACE(text);
    expect_error_contains(error_of([&] { parse(text); }), {"config.json", "top level must be a JSON object"});
  }
  expect_error_contains(error_of([] { parse_model_config(nlohmann::json::array(), "x.json"); }), {"x.json", "an array"});
}

struct ErrorCase {
  const char* json;
  std::vector<std::string> needles;
};

TEST(ModelConfigErrors, Catalog) {
  const std::vector<ErrorCase> cases = {
      // Identity and activation.
      {R"({"model_type": "llama"})", {"'model_type'", "'llama'", "jamba"}},
      {R"({"model_type": 5})", {"'model_type'", "string"}},
      {R"({"hidden_act": "gelu"})", {"'hidden_act'", "'gelu'", "unsupported"}},
      // Sizes must be positive.
      {R"({"vocab_size": 0})", {"'vocab_size' is 0", "positive"}},
      {R"({"hidden_size": -1})", {"'hidden_size' is -1", "positive"}},
      {R"({"intermediate_size": 0})", {"'intermediate_size'", "positive"}},
      {R"({"num_hidden_layers": 0})", {"'num_hidden_layers'", "positive"}},
      {R"({"num_attention_heads": 0})", {"'num_attention_heads'", "positive"}},
      {R"({"num_key_value_heads": 0})", {"'num_key_value_heads'", "positive"}},
      {R"({"mamba_d_state": 0})", {"'mamba_d_state'", "positive"}},
      {R"({"mamba_d_conv": 0})", {"'mamba_d_conv'", "positive"}},
      {R"({"mamba_expand": 0})", {"'mamba_expand'", "positive"}},
      {R"({"mamba_dt_rank": 0})", {"'mamba_dt_rank'", "positive"}},
      {R"({"num_experts": 0})", {"'num_experts'", "positive"}},
      {R"({"num_local_experts": -2})", {"'num_experts' is -2", "positive"}},
      {R"({"num_experts_per_tok": 0})", {"'num_experts_per_tok'", "positive"}},
      {R"({"attn_layer_period": 0})", {"'attn_layer_period'", "positive"}},
      {R"({"expert_layer_period": 0})", {"'expert_layer_period'", "positive"}},
      {R"({"head_dim": 0})", {"'head_dim'", "positive"}},
      {R"({"max_position_embeddings": 0})", {"'max_position_embeddings'", "positive"}},
      // Offsets.
      {R"({"attn_layer_offset": 8})", {"'attn_layer_offset' is 8 but attn_layer_period is 8"}},
      {R"({"attn_layer_offset": -1})", {"'attn_layer_offset' is -1"}},
      {R"({"expert_layer_offset": 2})", {"'expert_layer_offset' is 2 but expert_layer_period is 2"}},
      {R"({"expert_layer_offset": -1})", {"'expert_layer_offset' is -1"}},
      // Relations.
      {R"({"hidden_size": 100, "num_attention_heads": 3, "num_key_value_heads": 1})",
       {"hidden_size 100 is not divisible by num_attention_heads 3"}},
      {R"({"num_attention_heads": 32, "num_key_value_heads": 5})",
       {"num_attention_heads 32 is not divisible by num_key_value_heads 5"}},
      {R"({"num_experts": 4, "num_experts_per_tok": 5})",
       {"field 'num_experts_per_tok' is 5 but num_experts is 4 (top-K cannot exceed the expert count)"}},
      // Token ids.
      {R"({"vocab_size": 100, "eos_token_id": 100})", {"'eos_token_id'", "100", "vocabulary"}},
      {R"({"vocab_size": 100, "eos_token_id": [2, 1000]})", {"'eos_token_id'", "1000"}},
      {R"({"eos_token_id": -1})", {"'eos_token_id'", "-1"}},
      {R"({"vocab_size": 100, "bos_token_id": 100})", {"'bos_token_id' is 100", "vocabulary"}},
      {R"({"vocab_size": 100, "pad_token_id": 200})", {"'pad_token_id' is 200"}},
      {R"({"pad_token_id": -2})", {"'pad_token_id' is -2"}},
      // Numbers.
      {R"({"rms_norm_eps": 0})", {"'rms_norm_eps'", "positive"}},
      {R"({"rms_norm_eps": -1e-6})", {"'rms_norm_eps'", "positive"}},
      {R"({"sliding_window": -4})", {"'sliding_window'"}},
      {R"({"num_logits_to_keep": -1})", {"'num_logits_to_keep'"}},
      // Absurd sizes.
      {R"({"hidden_size": 4294967296})", {"'hidden_size' is 4294967296", "maximum"}},
      {R"({"num_hidden_layers": 100001})", {"'num_hidden_layers' is 100001", "maximum 100000"}},
      {R"({"vocab_size": 18446744073709551615})", {"'vocab_size'", "out of range"}},
      {R"({"hidden_size": 1e300})", {"'hidden_size'", "integer"}},
      {R"({"hidden_size": 2147483648, "num_attention_heads": 1, "num_key_value_heads": 1, "intermediate_size": 2147483648})",
       {"parameters", "2^50"}},
      {R"({"num_experts": 2147483648, "num_hidden_layers": 100000})", {"parameters"}},
      // Wrong types.
      {R"({"hidden_size": "4096"})", {"'hidden_size' must be an integer", "a string \"4096\""}},
      {R"({"hidden_size": 4096.0})", {"'hidden_size' must be an integer", "a float 4096.0"}},
      {R"({"hidden_size": 4096.5})", {"'hidden_size' must be an integer"}},
      {R"({"hidden_size": null})", {"'hidden_size' must be an integer", "null"}},
      {R"({"hidden_size": true})", {"'hidden_size' must be an integer", "a boolean"}},
      {R"({"num_key_value_heads": [8]})", {"'num_key_value_heads' must be an integer", "an array"}},
      {R"({"tie_word_embeddings": 1})", {"'tie_word_embeddings' must be true or false"}},
      {R"({"use_mamba_kernels": "yes"})", {"'use_mamba_kernels' must be true or false"}},
      {R"({"mamba_conv_bias": null})", {"'mamba_conv_bias' must be true or false", "null"}},
      {R"({"rms_norm_eps": "1e-6"})", {"'rms_norm_eps' must be a number"}},
      {R"({"initializer_range": {}})", {"'initializer_range' must be a number", "an object"}},
      {R"({"hidden_act": 5})", {"'hidden_act' must be a string"}},
      {R"({"hidden_act": null})", {"'hidden_act' must be a string"}},
      {R"({"eos_token_id": "2"})", {"'eos_token_id'", "a string"}},
      {R"({"eos_token_id": [[2]]})", {"'eos_token_id'", "an array"}},
      {R"({"pad_token_id": 0.5})", {"'pad_token_id' must be an integer"}},
      {R"({"max_position_embeddings": 1.5, "n_ctx": 4})", {"'max_position_embeddings' must be an integer"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    const std::string message = error_of([&] { parse(c.json); });
    EXPECT_EQ(message.rfind("config.json: ", 0), 0u) << message;
    expect_error_contains(message, c.needles);
  }
}

}  // namespace
}  // namespace jamba
