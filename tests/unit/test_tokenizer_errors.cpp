// A catalog of broken tokenizer files: each must throw one jamba::Error line naming the file and
// the field at fault, never crash or load silently.
#include <gtest/gtest.h>

#include "base/error.h"
#include "format/tokenizer/tokenizer.h"
#include "support/expect_error.h"
#include "support/test_support.h"

namespace jamba {
namespace {

using test::error_of;
using test::expect_error_contains;
using test::TempDir;

// A small valid BPE tokenizer.json, with parts replaceable by the cases below.
std::string tokenizer_json(const std::string& model = "", const std::string& extra = "") {
  const std::string default_model = R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3},
                                       "merges": ["a b"], "unk_token": null})";
  return R"({"version": "1.0", "added_tokens": [{"id": 3, "content": "<s>", "special": true, "normalized": false,
             "lstrip": false, "rstrip": false, "single_word": false}], )" +
         extra + R"("model": )" + (model.empty() ? default_model : model) + "}";
}

struct BadFile {
  const char* name;
  std::string text;
  std::vector<std::string> needles;  // besides the file name
};

std::vector<BadFile> bad_tokenizer_jsons() {
  return {
      {"not_json", "{\"model\": ", {"invalid JSON"}},
      {"top_level_array", "[1, 2]", {"top level"}},
      {"duplicate_key", R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "model": 1})", {"duplicate key", "'model'"}},
      {"missing_model", R"({"version": "1.0", "added_tokens": []})", {"missing field 'model'"}},
      {"bad_version", tokenizer_json("", R"("version": "2.0", )"), {"duplicate key"}},
      {"model_not_object", tokenizer_json("[1]"), {"'model'", "an object"}},
      {"model_without_type", tokenizer_json(R"({"vocab": {"a": 0}})"), {"'model'", "'type'"}},
      {"unknown_model_type", tokenizer_json(R"({"type": "Foo", "vocab": {}})"), {"'model.type'", "unknown model", "'Foo'"}},
      {"bpe_missing_vocab", tokenizer_json(R"({"type": "BPE", "merges": []})"), {"'model'", "'vocab'"}},
      {"bpe_missing_merges", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}})"), {"'model'", "'merges'"}},
      {"bpe_vocab_not_object", tokenizer_json(R"({"type": "BPE", "vocab": [1], "merges": []})"), {"'model.vocab'"}},
      {"bpe_id_string", tokenizer_json(R"({"type": "BPE", "vocab": {"a": "0"}, "merges": []})"), {"model.vocab['a']", "non-negative integer"}},
      {"bpe_id_negative", tokenizer_json(R"({"type": "BPE", "vocab": {"a": -1}, "merges": []})"), {"model.vocab['a']", "non-negative integer"}},
      {"bpe_id_too_large", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 4294967296}, "merges": []})"), {"model.vocab['a']"}},
      {"bpe_id_float", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 1.5}, "merges": []})"), {"model.vocab['a']"}},
      {"bpe_duplicate_id", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []})"), {"model.vocab", "already has it"}},
      {"merge_unknown_token", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "ab": 1}, "merges": ["a b"]})"),
       {"'model.merges[0]'", "'b'", "not in the vocabulary"}},
      {"merge_result_unknown", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]})"),
       {"'model.merges[0]'", "'ab'"}},
      {"merge_three_parts", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b c"]})"),
       {"'model.merges[0]'", "not two tokens"}},
      {"merge_mixed_forms", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"], "a b"]})"),
       {"'model.merges[1]'"}},
      {"merge_not_string", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": [7]})"), {"'model.merges[0]'"}},
      {"bpe_dropout", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": 0.5})"), {"'model.dropout'"}},
      {"bpe_flag_not_bool", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": "yes"})"),
       {"'model.byte_fallback'", "a boolean"}},
      {"unigram_bad_entry", tokenizer_json(R"({"type": "Unigram", "vocab": [["a"]]})"), {"'model.vocab[0]'"}},
      {"unigram_bad_score", tokenizer_json(R"({"type": "Unigram", "vocab": [["a", "x"]]})"), {"'model.vocab[0][1]'", "a number"}},
      {"unigram_unk_out_of_range", tokenizer_json(R"({"type": "Unigram", "vocab": [["a", -1.0]], "unk_id": 5})"),
       {"'model.unk_id'", "outside the vocabulary"}},
      {"unknown_normalizer", tokenizer_json("", R"("normalizer": {"type": "Frobnicate"}, )"), {"'normalizer.type'", "'Frobnicate'"}},
      {"normalizer_without_type", tokenizer_json("", R"("normalizer": {"foo": 1}, )"), {"'normalizer'", "'type'"}},
      {"unknown_in_sequence", tokenizer_json("", R"("normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "X"}]}, )"),
       {"'normalizer.normalizers[1].type'"}},
      {"replace_missing_content", tokenizer_json("", R"("normalizer": {"type": "Replace", "pattern": {"String": " "}}, )"),
       {"'normalizer'", "'content'"}},
      {"replace_bad_pattern", tokenizer_json("", R"("normalizer": {"type": "Replace", "pattern": {"Glob": "*"}, "content": ""}, )"),
       {"'normalizer.pattern'"}},
      {"precompiled", tokenizer_json("", R"("normalizer": {"type": "Precompiled", "precompiled_charsmap": ""}, )"),
       {"'normalizer.type'", "Precompiled"}},
      {"unknown_pre_tokenizer", tokenizer_json("", R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Nope"}]}, )"),
       {"'pre_tokenizer.pretokenizers[0].type'", "'Nope'"}},
      {"bad_regex", tokenizer_json("", R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false}, )"),
       {"'pre_tokenizer.pattern.Regex'", "cannot compile"}},
      {"bad_behavior", tokenizer_json("", R"("pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways", "invert": false}, )"),
       {"'pre_tokenizer.behavior'", "'Sideways'"}},
      {"split_missing_invert", tokenizer_json("", R"("pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated"}, )"),
       {"'pre_tokenizer'", "'invert'"}},
      {"metaspace_long_replacement", tokenizer_json("", R"("pre_tokenizer": {"type": "Metaspace", "replacement": "ab"}, )"),
       {"'pre_tokenizer.replacement'", "single character"}},
      {"metaspace_bad_scheme", tokenizer_json("", R"("pre_tokenizer": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "sometimes"}, )"),
       {"'pre_tokenizer.prepend_scheme'"}},
      {"metaspace_prefix_conflict", tokenizer_json("", R"("pre_tokenizer": {"type": "Metaspace", "replacement": "_", "add_prefix_space": false, "prepend_scheme": "always"}, )"),
       {"'pre_tokenizer.add_prefix_space'"}},
      {"bytelevel_missing_field", tokenizer_json("", R"("pre_tokenizer": {"type": "ByteLevel", "trim_offsets": true}, )"),
       {"'pre_tokenizer'", "'add_prefix_space'"}},
      {"unicode_scripts", tokenizer_json("", R"("pre_tokenizer": {"type": "UnicodeScripts"}, )"), {"'pre_tokenizer.type'", "UnicodeScripts"}},
      {"unknown_decoder", tokenizer_json("", R"("decoder": {"type": "Magic"}, )"), {"'decoder.type'", "'Magic'"}},
      {"strip_missing_stop", tokenizer_json("", R"("decoder": {"type": "Strip", "content": " ", "start": 1}, )"), {"'decoder'", "'stop'"}},
      {"strip_content_empty", tokenizer_json("", R"("decoder": {"type": "Strip", "content": "", "start": 1, "stop": 0}, )"),
       {"'decoder.content'", "single character"}},
      {"unknown_post_processor", tokenizer_json("", R"("post_processor": {"type": "Wrap"}, )"), {"'post_processor.type'", "'Wrap'"}},
      {"template_unknown_special", tokenizer_json("", R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "pair": [], "special_tokens": {}}, )"),
       {"'post_processor.single[0].SpecialToken.id'", "'<x>'"}},
      {"template_id_not_in_vocab", tokenizer_json("", R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [99], "tokens": ["<s>"]}}}, )"),
       {"'post_processor'", "99", "not in the vocabulary"}},
      {"template_ids_tokens_mismatch", tokenizer_json("", R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [3, 3], "tokens": ["<s>"]}}}, )"),
       {"'post_processor.special_tokens.<s>'", "2 ids but 1 tokens"}},
      {"template_single_uses_b", tokenizer_json("", R"("post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "B", "type_id": 0}}], "pair": [], "special_tokens": {}}, )"),
       {"'post_processor.single[0].Sequence.id'"}},
      {"added_token_id_mismatch", R"({"added_tokens": [{"id": 7, "content": "<s>", "special": true}],
          "model": {"type": "BPE", "vocab": {"a": 0, "<s>": 1}, "merges": []}})", {"'added_tokens[0].id'", "is 7", "gets id 1"}},
      {"added_token_new_id_mismatch", R"({"added_tokens": [{"id": 9, "content": "<x>", "special": true}],
          "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})", {"'added_tokens[0].id'", "gets id 2"}},
      {"added_token_content_not_string", R"({"added_tokens": [{"id": 1, "content": 5}],
          "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})", {"'added_tokens[0].content'", "a string"}},
      {"added_token_missing_id", R"({"added_tokens": [{"content": "x"}],
          "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})", {"'added_tokens[0]'", "'id'"}},
      {"added_tokens_not_array", R"({"added_tokens": {"x": 1}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       {"'added_tokens'", "an array"}},
      {"added_token_conflicting_repeat", R"({"added_tokens": [{"id": 1, "content": "<x>", "special": true}, {"id": 1, "content": "<x>", "special": false}],
          "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})", {"'added_tokens[1]'", "other flags"}},
      {"padding_pad_id_unknown", tokenizer_json("", R"("padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": null, "pad_id": 50, "pad_type_id": 0, "pad_token": "[PAD]"}, )"),
       {"'padding'", "pad_id 50"}},
      {"truncation_bad_strategy", tokenizer_json("", R"("truncation": {"max_length": 5, "stride": 0, "strategy": "Sometimes", "direction": "Right"}, )"),
       {"'truncation.strategy'"}},
      {"too_deep", std::string(100, '[') + std::string(100, ']'), {"nested deeper"}},
  };
}

TEST(TokenizerErrors, CatalogOfBrokenTokenizerJson) {
  for (const BadFile& bad : bad_tokenizer_jsons()) {
    SCOPED_TRACE(bad.name);
    TempDir dir;
    test::write_file(dir.file("tokenizer.json"), bad.text);
    std::string message = error_of([&] { Tokenizer::load(dir.path()); });
    expect_error_contains(message, bad.needles);
    expect_error_contains(message, {"tokenizer.json"});
  }
}

TEST(TokenizerErrors, BadVersionIsNamed) {
  TempDir dir;
  test::write_file(dir.file("tokenizer.json"), R"({"version": "2.0", "model": {"type": "BPE", "vocab": {}, "merges": []}})");
  expect_error_contains(error_of([&] { Tokenizer::load(dir.path()); }), {"tokenizer.json", "'version'", "2.0"});
}

TEST(TokenizerErrors, TokenizerConfig) {
  struct Case {
    const char* name;
    std::string config;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"not_json", "{bos", {"tokenizer_config.json", "invalid JSON"}},
      {"not_object", "\"x\"", {"tokenizer_config.json", "top level"}},
      {"bos_not_in_vocab", R"({"bos_token": "<bos>"})", {"tokenizer_config.json", "'bos_token'", "'<bos>'", "not in the vocabulary"}},
      {"eos_number", R"({"eos_token": 2})", {"tokenizer_config.json", "'eos_token'"}},
      {"eos_object_without_content", R"({"eos_token": {"id": 2}})", {"tokenizer_config.json", "'eos_token'", "'content'"}},
      {"add_bos_not_bool", R"({"add_bos_token": "yes"})", {"tokenizer_config.json", "'add_bos_token'", "a boolean"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    test::write_file(dir.file("tokenizer.json"), tokenizer_json());
    test::write_file(dir.file("tokenizer_config.json"), c.config);
    expect_error_contains(error_of([&] { Tokenizer::load(dir.path()); }), c.needles);
  }
}

TEST(TokenizerErrors, ConfigNamesSpecialTokens) {
  TempDir dir;
  test::write_file(dir.file("tokenizer.json"), tokenizer_json());
  test::write_file(dir.file("tokenizer_config.json"),
                   R"({"bos_token": "<s>", "eos_token": {"content": "<s>", "__type": "AddedToken"}, "pad_token": null})");
  auto tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok->bos_id(), 3);
  EXPECT_EQ(tok->eos_id(), 3);
  EXPECT_EQ(tok->bos_token(), "<s>");
  EXPECT_FALSE(tok->pad_id().has_value());
  EXPECT_FALSE(tok->unk_id().has_value());
}

TEST(TokenizerErrors, MissingOrUnreadableFiles) {
  TempDir dir;
  expect_error_contains(error_of([&] { Tokenizer::load(dir.path()); }), {dir.path(), "no tokenizer.json or tokenizer.model"});
  expect_error_contains(error_of([&] { Tokenizer::load(dir.file("nope")); }), {"not a directory"});
  test::write_file(dir.file("tokenizer.model"), "this is not a protobuf");
  expect_error_contains(error_of([&] { Tokenizer::load(dir.path()); }), {"tokenizer.model", "cannot load the SentencePiece model"});
}

TEST(TokenizerErrors, InvalidUtf8Text) {
  TempDir dir;
  test::write_file(dir.file("tokenizer.json"), tokenizer_json());
  auto tok = Tokenizer::load(dir.path());
  expect_error_contains(error_of([&] { tok->encode("ab\xff"); }), {"not valid UTF-8", "byte 2"});
  expect_error_contains(error_of([&] { tok->encode("\xe4\xb8"); }), {"not valid UTF-8"});
}

TEST(TokenizerErrors, UnigramWithoutUnkOnUnknownText) {
  // HF fails the same way (Unigram MissingUnkId); it must be an Error, not a crash.
  TempDir dir;
  test::write_file(dir.file("tokenizer.json"), R"({"model": {"type": "Unigram", "vocab": [["a", -1.0]]}})");
  auto tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok->encode("aa"), (std::vector<int32_t>{0, 0}));
  expect_error_contains(error_of([&] { tok->encode("ab"); }), {"unk_id"});
}

}  // namespace
}  // namespace jamba
