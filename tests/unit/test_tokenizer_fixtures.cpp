// Tokenizer parity with HF `tokenizers` on the fixtures of tests/fixtures/tokenizers (made by
// tools/make_tokenizer_fixtures.py): for every case of every fixture, ids, pieces, decode (with
// and without special tokens) and streaming decode must equal what HF recorded; where the
// fixture has a tokenizer.model, the SentencePiece path must give what sentencepiece recorded.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format/tokenizer/spm_tokenizer.h"
#include "format/tokenizer/tokenizer.h"
#include "format/tokenizer/unicode.h"
#include "support/test_support.h"

namespace jamba {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string tokenizer_fixtures() { return test::fixtures_dir() + "/tokenizers"; }

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tokenizer_fixtures(), ec))
    if (entry.is_directory() && fs::exists(entry.path() / "cases.jsonl")) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

std::string show(const std::string& s) { return json(s).dump(-1, ' ', true, json::error_handler_t::replace); }

template <typename T>
std::string show(const std::vector<T>& v) {
  return json(v).dump(-1, ' ', true, json::error_handler_t::replace);
}

// Streams `ids` one at a time; returns the concatenated output, and checks each chunk is valid UTF-8.
std::string stream_decode(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special, bool& chunks_ok) {
  StreamDecoder stream(tok, skip_special);
  std::string out;
  chunks_ok = true;
  for (int32_t id : ids) {
    std::string chunk = stream.push(id);
    if (tok::find_invalid_utf8(chunk) != std::string::npos) chunks_ok = false;
    out += chunk;
  }
  out += stream.finish();
  return out;
}

// Collects differences, prints the first few in full and the count at the end.
class Mismatches {
 public:
  explicit Mismatches(std::string what) : what_(std::move(what)) {}
  void add(const std::string& detail) {
    if (count_++ < 12) ADD_FAILURE() << what_ << ": " << detail;
  }
  ~Mismatches() {
    if (count_ > 12) ADD_FAILURE() << what_ << ": " << count_ << " mismatches in all";
  }
  size_t count() const { return count_; }

 private:
  std::string what_;
  size_t count_ = 0;
};

class TokenizerFixture : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return tokenizer_fixtures() + "/" + GetParam(); }
};

TEST_P(TokenizerFixture, EncodeAndDecodeEveryCase) {
  auto tok = Tokenizer::load(dir());
  ASSERT_EQ(tok->kind(), "tokenizer.json");
  auto rows = read_jsonl(dir() + "/cases.jsonl");
  ASSERT_GE(rows.size(), 2000u);
  Mismatches ids_bad(GetParam() + " ids"), pieces_bad(GetParam() + " pieces"), decode_bad(GetParam() + " decode"),
      stream_bad(GetParam() + " stream");
  for (const json& row : rows) {
    const std::string text = row["text"];
    const auto expected_ids = row["ids"].get<std::vector<int32_t>>();
    const auto expected_pieces = row["pieces"].get<std::vector<std::string>>();
    Tokenizer::Encoding enc = tok->encode_with_pieces(text);
    if (enc.ids != expected_ids)
      ids_bad.add("text " + show(text) + "\n  ours " + show(enc.ids) + "\n  HF   " + show(expected_ids) +
                  "\n  our pieces " + show(enc.pieces) + "\n  HF pieces  " + show(expected_pieces));
    else if (enc.pieces != expected_pieces)
      pieces_bad.add("text " + show(text) + "\n  ours " + show(enc.pieces) + "\n  HF   " + show(expected_pieces));
    for (bool skip : {false, true}) {
      const std::string expected = row[skip ? "decoded_skip_special" : "decoded"];
      const std::string got = tok->decode(expected_ids, skip);
      if (got != expected)
        decode_bad.add("ids " + show(expected_ids) + " skip=" + std::to_string(skip) + "\n  ours " + show(got) +
                       "\n  HF   " + show(expected));
      bool chunks_ok = true;
      const std::string streamed = stream_decode(*tok, expected_ids, skip, chunks_ok);
      if (streamed != got || !chunks_ok)
        stream_bad.add("ids " + show(expected_ids) + " skip=" + std::to_string(skip) + "\n  stream " + show(streamed) +
                       "\n  decode " + show(got) + (chunks_ok ? "" : " (a chunk was not valid UTF-8)"));
    }
  }
}

TEST_P(TokenizerFixture, DecodeCases) {
  const std::string path = dir() + "/decode_cases.jsonl";
  if (!fs::exists(path)) GTEST_SKIP() << "no decode_cases.jsonl";
  auto tok = Tokenizer::load(dir());
  Mismatches decode_bad(GetParam() + " decode"), stream_bad(GetParam() + " stream"), pieces_bad(GetParam() + " id_to_token");
  for (const json& row : read_jsonl(path)) {
    const auto ids = row["ids"].get<std::vector<int32_t>>();
    const auto pieces = row["pieces"].get<std::vector<std::string>>();
    for (size_t i = 0; i < ids.size(); ++i) {
      auto t = tok->id_to_token(ids[i]);
      if (!t || *t != pieces[i]) pieces_bad.add("id " + std::to_string(ids[i]) + ": ours " + show(t.value_or("<none>")) + " HF " + show(pieces[i]));
    }
    for (bool skip : {false, true}) {
      const std::string expected = row[skip ? "decoded_skip_special" : "decoded"];
      const std::string got = tok->decode(ids, skip);
      if (got != expected)
        decode_bad.add("ids " + show(ids) + " skip=" + std::to_string(skip) + "\n  ours " + show(got) + "\n  HF   " + show(expected));
      bool chunks_ok = true;
      const std::string streamed = stream_decode(*tok, ids, skip, chunks_ok);
      if (streamed != got || !chunks_ok)
        stream_bad.add("ids " + show(ids) + " skip=" + std::to_string(skip) + "\n  stream " + show(streamed) + "\n  decode " + show(got));
    }
  }
}

// Random id sequences (any ids of the vocabulary, special ones included): streaming must always
// reproduce decode exactly, in valid UTF-8 chunks.
TEST_P(TokenizerFixture, StreamingEqualsDecodeOnRandomIds) {
  auto tok = Tokenizer::load(dir());
  std::mt19937 rng(1234);
  const auto limit = static_cast<int32_t>(tok->id_limit());
  Mismatches bad(GetParam() + " random stream");
  for (int round = 0; round < 400; ++round) {
    std::vector<int32_t> ids(1 + rng() % 24);
    for (int32_t& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(limit));
    for (bool skip : {false, true}) {
      bool chunks_ok = true;
      const std::string streamed = stream_decode(*tok, ids, skip, chunks_ok);
      const std::string full = tok->decode(ids, skip);
      if (streamed != full || !chunks_ok)
        bad.add("ids " + show(ids) + " skip=" + std::to_string(skip) + "\n  stream " + show(streamed) + "\n  decode " + show(full));
    }
  }
}

// Fixtures that also ship the SentencePiece model.
std::vector<std::string> sentencepiece_fixture_names() {
  std::vector<std::string> names;
  for (const std::string& name : fixture_names())
    if (fs::exists(tokenizer_fixtures() + "/" + name + "/tokenizer.model")) names.push_back(name);
  return names;
}

class SentencePieceFixture : public TokenizerFixture {};

TEST_P(SentencePieceFixture, ModelMatchesSentencePiece) {
  const std::string model = dir() + "/tokenizer.model";
  tok::SpmTokenizer spm(model, dir() + "/tokenizer_config.json");
  auto rows = read_jsonl(dir() + "/spm_cases.jsonl");
  ASSERT_FALSE(rows.empty());
  Mismatches ids_bad(GetParam() + " spm ids"), decode_bad(GetParam() + " spm decode");
  for (const json& row : rows) {
    const std::string text = row["text"];
    const auto expected = row["ids"].get<std::vector<int32_t>>();
    // What sentencepiece gives: no special-token splitting, no BOS.
    auto plain = spm.encode_plain(text);
    if (plain != expected) ids_bad.add("text " + show(text) + "\n  ours " + show(plain) + "\n  spm  " + show(expected));
    auto with_specials = spm.encode(text, /*add_special_tokens=*/false);
    if (with_specials != expected) ids_bad.add("text " + show(text) + " (segmented)\n  ours " + show(with_specials) + "\n  spm  " + show(expected));
    const std::string decoded = row["decoded"];
    if (spm.decode(expected, false) != decoded)
      decode_bad.add("ids " + show(expected) + "\n  ours " + show(spm.decode(expected, false)) + "\n  spm  " + show(decoded));
  }
}

// The SentencePiece path against what HF's tokenizer.json gives for every case (special tokens
// inline and BOS included): both must agree, since the fixture's tokenizer.json is the legacy
// Llama conversion of the same model.
TEST_P(SentencePieceFixture, ModelMatchesTokenizerJson) {
  const std::string model = dir() + "/tokenizer.model";
  tok::SpmTokenizer spm(model, dir() + "/tokenizer_config.json");
  Mismatches ids_bad(GetParam() + " spm vs tokenizer.json ids"), decode_bad(GetParam() + " spm vs tokenizer.json decode");
  for (const json& row : read_jsonl(dir() + "/cases.jsonl")) {
    const std::string text = row["text"];
    const auto expected = row["ids"].get<std::vector<int32_t>>();
    auto ids = spm.encode(text);
    if (ids != expected) ids_bad.add("text " + show(text) + "\n  spm  " + show(ids) + "\n  json " + show(expected));
    for (bool skip : {false, true}) {
      const std::string want = row[skip ? "decoded_skip_special" : "decoded"];
      if (spm.decode(expected, skip) != want)
        decode_bad.add("ids " + show(expected) + "\n  spm  " + show(spm.decode(expected, skip)) + "\n  json " + show(want));
    }
  }
}

TEST(TokenizerFixtures, ArePresent) {
  EXPECT_GE(fixture_names().size(), 4u) << tokenizer_fixtures();
  EXPECT_GE(sentencepiece_fixture_names().size(), 1u) << tokenizer_fixtures();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerFixture, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Fixtures, SentencePieceFixture, ::testing::ValuesIn(sentencepiece_fixture_names()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TokenizerFixture);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SentencePieceFixture);

}  // namespace
}  // namespace jamba
