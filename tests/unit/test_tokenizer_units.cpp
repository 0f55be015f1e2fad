// Tokenizer building blocks (UTF-8 replacement policy, Oniguruma -> PCRE2 regexes), the public
// API on the fixture tokenizers, streaming detokenization, the SentencePiece path, and the
// `jamba tokenize` / `jamba detokenize` commands end to end.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "format/tokenizer/regex.h"
#include "format/tokenizer/tokenizer.h"
#include "format/tokenizer/unicode.h"
#include "support/test_support.h"

namespace jamba {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string fixture(const std::string& name) { return test::fixtures_dir() + "/tokenizers/" + name; }

std::vector<std::pair<size_t, size_t>> matches(const std::string& pattern, const std::string& text) {
  return tok::Regex::onig(pattern).find_all(text);
}

TEST(TokenizerUtf8, LossyDecodingReplacesMaximalSubparts) {
  // Rust's String::from_utf8_lossy / Python's errors="replace".
  EXPECT_EQ(tok::utf8_lossy("a\xff" "b"), "a\uFFFD" "b");
  EXPECT_EQ(tok::utf8_lossy("\xe4\xb8"), "\uFFFD");          // truncated 3-byte sequence: one
  EXPECT_EQ(tok::utf8_lossy("\xf0\x9f\x98"), "\uFFFD");      // truncated 4-byte sequence: one
  EXPECT_EQ(tok::utf8_lossy("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD");  // surrogate: three
  EXPECT_EQ(tok::utf8_lossy("\xc0\xaf"), "\uFFFD\uFFFD");    // overlong
  EXPECT_EQ(tok::utf8_lossy("\xf4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(tok::utf8_lossy("\xe4\xb8" "A"), "\uFFFD" "A");
  EXPECT_EQ(tok::utf8_lossy("\xe4\xb8\xad"), "\u4e2d");
  EXPECT_EQ(tok::find_invalid_utf8("ok\xe4\xb8\xad"), std::string::npos);
  EXPECT_EQ(tok::find_invalid_utf8("ok\xe4\xb8"), 2u);
}

TEST(TokenizerRegex, OnigurumaClassesKeepTheirMeaning) {
  // \s is White_Space (U+0085 and U+00A0 included), \w is Oniguruma's word class: marks, and
  // below U+0100 its Latin-1 table, where the superscripts and fractions count.
  EXPECT_EQ(matches(R"(\s)", "\u0085").size(), 1u);
  EXPECT_EQ(matches(R"(\s)", "\u00a0").size(), 1u);
  EXPECT_EQ(matches(R"(\s)", "\u200b").size(), 0u);
  EXPECT_EQ(matches(R"(\w+)", "x\u00b2\u0301y"), (std::vector<std::pair<size_t, size_t>>{{0, 6}}));
  EXPECT_EQ(matches(R"(\w)", "\u2460").size(), 0u);
  EXPECT_EQ(matches(R"(\d)", "\u0663").size(), 1u);  // Arabic-Indic three
  // \W inside a class, negated or not.
  EXPECT_EQ(matches(R"([\W\d]+)", "a!5b"), (std::vector<std::pair<size_t, size_t>>{{1, 3}}));
  EXPECT_EQ(matches(R"([^\W\d]+)", "a!5bc"), (std::vector<std::pair<size_t, size_t>>{{0, 1}, {3, 5}}));
  // \h is a hex digit in Oniguruma, \uHHHH an escape, (?m) makes . match newlines, ^ is per line.
  EXPECT_EQ(matches(R"(\h+)", "xDEADbeefz"), (std::vector<std::pair<size_t, size_t>>{{1, 9}}));
  EXPECT_EQ(matches(R"(\u00e9)", "caf\u00e9").size(), 1u);
  EXPECT_EQ(matches(R"((?m:a.b))", "a\nb").size(), 1u);
  EXPECT_EQ(matches(R"(a.b)", "a\nb").size(), 0u);
  EXPECT_EQ(matches(R"(^x)", "x\nx"), (std::vector<std::pair<size_t, size_t>>{{0, 1}, {2, 3}}));
}

TEST(TokenizerRegex, EmptyMatchesFollowTheOnigCrate) {
  // An empty match right after a match is skipped; the search then moves one char on.
  EXPECT_EQ(matches("a*", "baa"), (std::vector<std::pair<size_t, size_t>>{{0, 0}, {1, 3}}));
  EXPECT_EQ(matches("x*", "\u00e9"), (std::vector<std::pair<size_t, size_t>>{{0, 0}, {2, 2}}));
}

TEST(TokenizerRegex, UnsupportedConstructsAreErrors) {
  EXPECT_THROW(tok::Regex::onig("[a-z&&[^aeiou]]"), Error);
  EXPECT_THROW(tok::Regex::onig("[a[bc]]"), Error);
  EXPECT_THROW(tok::Regex::onig("(?W:x)"), Error);
  EXPECT_THROW(tok::Regex::onig("(unclosed"), Error);
  EXPECT_THROW(tok::Regex::onig("\\"), Error);
}

TEST(TokenizerApi, LlamaStyleTokenizer) {
  auto tok = Tokenizer::load(fixture("llama_spm_bpe"));
  EXPECT_EQ(tok->kind(), "tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), 3000u);
  EXPECT_EQ(tok->id_limit(), 3000);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->unk_id(), 3);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->token_to_id("<|bom|>"), 4);
  EXPECT_EQ(tok->id_to_token(4), "<|bom|>");
  EXPECT_TRUE(tok->is_special(4));
  EXPECT_FALSE(tok->is_special(818));
  EXPECT_FALSE(tok->has_id(3000));
  EXPECT_FALSE(tok->has_id(-1));
  // HF: encode("Hi<|endoftext|> there") (tests/fixtures/tokenizers/llama_spm_bpe/cases.jsonl).
  auto enc = tok->encode_with_pieces("Hi<|endoftext|> there");
  EXPECT_EQ(enc.ids, (std::vector<int32_t>{1, 818, 2366, 2, 274, 986, 281}));
  EXPECT_EQ(enc.pieces, (std::vector<std::string>{"<|startoftext|>", "\u2581H", "i", "<|endoftext|>", "\u2581\u2581", "the", "re"}));
  EXPECT_EQ(tok->encode("Hi<|endoftext|> there", /*add_special_tokens=*/false),
            (std::vector<int32_t>{818, 2366, 2, 274, 986, 281}));
  EXPECT_EQ(tok->decode(enc.ids), "<|startoftext|> Hi<|endoftext|>  there");
  EXPECT_EQ(tok->decode(enc.ids, true), "Hi  there");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{818, 99999, 2366}), "Hi");  // unknown ids are skipped, as HF
}

TEST(TokenizerApi, GptStyleTokenizer) {
  auto tok = Tokenizer::load(fixture("gpt2_bytelevel_bpe"));
  EXPECT_EQ(tok->vocab_size(), 2501u);
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), 2500);
  EXPECT_EQ(tok->eos_id(), 2500);
  const std::string text = "Hello w\u00f6rld \U0001F600<|endoftext|>";
  EXPECT_EQ(tok->decode(tok->encode(text)), text);
}

std::string stream(const Tokenizer& tok, const std::vector<int32_t>& ids, std::vector<std::string>* chunks = nullptr,
                   bool skip = false) {
  StreamDecoder s(tok, skip);
  std::string out;
  for (int32_t id : ids) {
    std::string c = s.push(id);
    EXPECT_EQ(tok::find_invalid_utf8(c), std::string::npos);
    if (chunks) chunks->push_back(c);
    out += c;
  }
  std::string rest = s.finish();
  if (chunks) chunks->push_back(rest);
  return out + rest;
}

TEST(TokenizerStream, ByteFallbackRunsWaitForACompleteCharacter) {
  auto tok = Tokenizer::load(fixture("llama_spm_bpe"));
  // <0xE4> <0xB8> <0xAD> is 中; nothing may come out before the last byte's run ends.
  std::vector<std::string> chunks;
  std::vector<int32_t> ids = {1, 818, 246, 202, 191, 818};
  EXPECT_EQ(stream(*tok, ids, &chunks), tok->decode(ids));
  EXPECT_EQ(chunks[2], "");
  EXPECT_EQ(chunks[3], "");
  EXPECT_EQ(chunks[4], "");
  EXPECT_EQ(chunks[5], "\u4e2d H");
  // A truncated sequence at the end is flushed by finish() as HF decodes it.
  chunks.clear();
  EXPECT_EQ(stream(*tok, {818, 246, 202}, &chunks), "H\uFFFD\uFFFD");
  EXPECT_EQ(chunks.back(), "\uFFFD\uFFFD");
}

TEST(TokenizerStream, FirstTokenRulesApplyOnlyOnce) {
  // Metaspace/Strip decoders drop the leading space of the whole text only: decoding token by
  // token would lose the spaces between words.
  auto tok = Tokenizer::load(fixture("llama_spm_bpe"));
  std::vector<int32_t> ids = tok->encode("Hello world, again and again", false);
  std::vector<std::string> chunks;
  EXPECT_EQ(stream(*tok, ids, &chunks), "Hello world, again and again");
  EXPECT_GT(std::count_if(chunks.begin(), chunks.end(), [](const std::string& c) { return !c.empty(); }), 3);
  auto uni = Tokenizer::load(fixture("unigram"));
  ids = uni->encode("one two three four five six seven");
  EXPECT_EQ(stream(*uni, ids), uni->decode(ids));
  EXPECT_EQ(stream(*uni, ids, nullptr, true), uni->decode(ids, true));
}

TEST(TokenizerStream, ByteLevelSplitsInsideCharacters) {
  auto tok = Tokenizer::load(fixture("gpt2_bytelevel_bpe"));
  const std::string text = "\u4e2d\u6587 \U0001F468\u200D\U0001F469\u200D\U0001F467 ok \u00e9\u00e8";
  std::vector<int32_t> ids = tok->encode(text);
  EXPECT_EQ(stream(*tok, ids), text);
  // Long streams keep working (the window is trimmed as text becomes final).
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word " + std::to_string(i) + " \u4e2d ";
  ids = tok->encode(long_text);
  EXPECT_EQ(stream(*tok, ids), long_text);
}

TEST(TokenizerSentencePiece, ModelOnlyDirectoryUsesLibsentencepiece) {
  test::TempDir dir;
  fs::copy_file(fixture("llama_spm_bpe") + "/tokenizer.model", dir.file("tokenizer.model"));
  auto tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok->kind(), "tokenizer.model");
  EXPECT_EQ(tok->vocab_size(), 3000u);
  EXPECT_EQ(tok->bos_id(), 1);  // from the model, without tokenizer_config.json
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->is_special(4));
  auto fast = Tokenizer::load(fixture("llama_spm_bpe"));
  for (const std::string text : {"Hi<|endoftext|> there", "  a  b\n\tc", "\u4e2d\u6587 \U0001F600 d\u00e9j\u00e0 123"}) {
    EXPECT_EQ(tok->encode(text), fast->encode(text)) << text;
    auto ids = fast->encode(text);
    EXPECT_EQ(tok->decode(ids), fast->decode(ids));
    EXPECT_EQ(tok->decode(ids, true), fast->decode(ids, true));
    EXPECT_EQ(stream(*tok, ids), tok->decode(ids));
  }
  test::write_file(dir.file("tokenizer_config.json"), R"({"add_bos_token": false, "add_eos_token": true, "eos_token": "<|endoftext|>"})");
  tok = Tokenizer::load(dir.path());
  std::vector<int32_t> ids = tok->encode("Hi");
  ASSERT_FALSE(ids.empty());
  EXPECT_NE(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
}

TEST(TokenizerSentencePiece, TokenizerJsonWinsWhenBothExist) {
  EXPECT_EQ(Tokenizer::load(fixture("llama_spm_bpe"))->kind(), "tokenizer.json");
}

// `jamba tokenize` / `jamba detokenize`, end to end.
TEST(TokenizerCli, TokenizeJsonMatchesHf) {
  auto r = test::run_jamba({"tokenize", "-m", fixture("llama_spm_bpe"), "-p", "Hi<|endoftext|> there", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  EXPECT_EQ(out["ids"], json({1, 818, 2366, 2, 274, 986, 281}));
  EXPECT_EQ(out["pieces"][1], "\u2581H");
  EXPECT_EQ(out.size(), 2u);
  // Every case of a fixture through the CLI would be slow; a handful of hard ones:
  for (const std::string name : {"added_tokens_bpe", "gpt2_bytelevel_bpe", "unigram"}) {
    std::ifstream in(fixture(name) + "/cases.jsonl");
    std::string line;
    for (int k = 0; k < 40 && std::getline(in, line); ++k) {
      json row = json::parse(line);
      if (row["text"].get<std::string>().empty()) continue;
      auto rr = test::run_jamba({"tokenize", "-m", fixture(name), "-p", row["text"], "--json"});
      ASSERT_EQ(rr.exit_code, 0) << rr.err;
      json got = json::parse(rr.out);
      EXPECT_EQ(got["ids"], row["ids"]) << name << " " << row["text"];
      EXPECT_EQ(got["pieces"], row["pieces"]) << name << " " << row["text"];
    }
  }
}

TEST(TokenizerCli, TokenizeTextFileAndReadableOutput) {
  test::TempDir dir;
  test::write_file(dir.file("in.txt"), "Hello\nworld");
  auto r = test::run_jamba({"tokenize", "-m", fixture("llama_spm_bpe"), "--text-file", dir.file("in.txt"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto tok = Tokenizer::load(fixture("llama_spm_bpe"));
  EXPECT_EQ(json::parse(r.out)["ids"], json(tok->encode("Hello\nworld")));
  r = test::run_jamba({"tokenize", "-m", fixture("llama_spm_bpe"), "-p", "Hi\n"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("'<0x0A>'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens"), std::string::npos);
}

TEST(TokenizerCli, DetokenizeJson) {
  auto r = test::run_jamba({"detokenize", "-m", fixture("llama_spm_bpe"), "--tokens", "1,818,2366,2,274,986,281", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json({{"text", "<|startoftext|> Hi<|endoftext|>  there"}}));
  r = test::run_jamba({"detokenize", "-m", fixture("llama_spm_bpe"), "--tokens", "1,818,2366,2,274,986,281", "--skip-special", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["text"], "Hi  there");
  // Byte tokens that make ill-formed UTF-8: U+FFFD, as HF, and the JSON stays valid.
  r = test::run_jamba({"detokenize", "-m", fixture("llama_spm_bpe"), "--tokens", "246,202", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["text"], "\uFFFD\uFFFD");
  r = test::run_jamba({"detokenize", "-m", fixture("gpt2_bytelevel_bpe"), "--tokens", "39,525,382"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello\n");
}

TEST(TokenizerCli, BadInputsAreOneLineErrors) {
  test::TempDir dir;
  test::write_file(dir.file("bad.txt"), "ok\xff");
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::string m = fixture("llama_spm_bpe");
  const std::vector<Case> cases = {
      {{"detokenize", "-m", m, "--tokens", "1,3000"}, "token id 3000 is not in the vocabulary"},
      {{"detokenize", "-m", m, "--tokens", "1,x"}, "--tokens"},
      {{"detokenize", "-m", m, "--tokens", ""}, "--tokens"},
      {{"tokenize", "-m", m}, "no text"},
      {{"tokenize", "-m", m, "-p", "x", "--text-file", dir.file("bad.txt")}, "not both"},
      {{"tokenize", "-m", m, "--text-file", dir.file("bad.txt")}, "bad.txt: the text is not valid UTF-8 (byte 2)"},
      {{"tokenize", "-m", m, "--text-file", dir.file("missing.txt")}, "missing.txt"},
      {{"tokenize", "-m", dir.path(), "-p", "x"}, "no tokenizer.json or tokenizer.model"},
  };
  for (const Case& c : cases) {
    auto r = test::run_jamba(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.needle << ": " << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  auto r = test::run_jamba({"detokenize", "-m", m});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // --tokens is required: a usage error
}

}  // namespace
}  // namespace jamba
