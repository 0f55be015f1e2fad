// Parity with HF `tokenizers` for the pipeline pieces the main fixtures do not exercise: every
// normalizer / pre-tokenizer / model / post-processor / decoder type we implement, Split
// behaviors and invert, truncation and padding, added-token flags under a normalizer. The
// expected values (test_tokenizer_exotic_data.cpp) were recorded from HF on the GPU machine.
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format/tokenizer/tokenizer.h"
#include "format/tokenizer/unicode.h"
#include "support/test_support.h"

namespace jamba::test {
extern const char* const kTokenizerExoticJson[];
extern const int kTokenizerExoticJsonParts;
}  // namespace jamba::test

namespace jamba {
namespace {

using nlohmann::json;

const json& exotic() {
  static const json doc = [] {
    std::string text;
    for (int i = 0; i < test::kTokenizerExoticJsonParts; ++i) text += test::kTokenizerExoticJson[i];
    return json::parse(text);
  }();
  return doc;
}

std::vector<std::string> config_names() {
  std::vector<std::string> names;
  for (const json& c : exotic()["configs"]) names.push_back(c["name"]);
  return names;
}

std::string show(const json& j) { return j.dump(-1, ' ', true, json::error_handler_t::replace); }

class ExoticTokenizer : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    for (const json& c : exotic()["configs"])
      if (c["name"] == GetParam()) config_ = &c;
    ASSERT_NE(config_, nullptr);
    json tj = (*config_)["tokenizer"];
    const json& model = exotic()["models"][(*config_)["model"].get<std::string>()];
    tj["model"] = model;
    // The vocabulary string of each id, as the data's compaction used it.
    if (model["type"] == "Unigram") {
      for (size_t i = 0; i < model["vocab"].size(); ++i) vocab_[static_cast<int32_t>(i)] = model["vocab"][i][0];
    } else {
      for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) vocab_[it.value().get<int32_t>()] = it.key();
    }
    for (const json& a : tj["added_tokens"]) vocab_[a["id"].get<int32_t>()] = a["content"];
    const std::string path = dir_.file("tokenizer.json");
    test::write_file(path, tj.dump());
    tokenizer_ = Tokenizer::from_tokenizer_json(path);
  }

  std::vector<std::string> expected_pieces(const json& row) const {
    std::vector<std::string> pieces;
    const auto ids = row["i"].get<std::vector<int32_t>>();
    for (size_t k = 0; k < ids.size(); ++k) {
      const std::string key = std::to_string(k);
      if (row.contains("p") && row["p"].contains(key)) {
        pieces.push_back(row["p"][key]);
      } else {
        auto it = vocab_.find(ids[k]);
        pieces.push_back(it == vocab_.end() ? "<?>" : it->second);
      }
    }
    return pieces;
  }

  test::TempDir dir_;
  const json* config_ = nullptr;
  std::map<int32_t, std::string> vocab_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_P(ExoticTokenizer, MatchesHf) {
  size_t failures = 0;
  auto report = [&](const std::string& what) {
    if (failures++ < 10) ADD_FAILURE() << GetParam() << ": " << what;
  };
  for (const json& row : (*config_)["cases"]) {
    const std::string text = row["t"];
    const auto ids = row["i"].get<std::vector<int32_t>>();
    const Tokenizer::Encoding enc = tokenizer_->encode_with_pieces(text);
    if (enc.ids != ids) {
      report("text " + show(text) + "\n  ours " + show(enc.ids) + " " + show(enc.pieces) + "\n  HF   " + show(ids) + " " +
             show(expected_pieces(row)));
      continue;
    }
    if (enc.pieces != expected_pieces(row))
      report("text " + show(text) + "\n  ours " + show(enc.pieces) + "\n  HF   " + show(expected_pieces(row)));
    if (row.contains("nd")) {
      // HF panics decoding these (its Strip decoder indexes past short tokens); ours must not fail.
      EXPECT_NO_THROW(tokenizer_->decode(ids, false));
      continue;
    }
    for (bool skip : {false, true}) {
      const std::string want = skip && row.contains("s") ? row["s"] : row["d"];
      const std::string got = tokenizer_->decode(ids, skip);
      if (got != want) report("decode " + show(ids) + " skip=" + std::to_string(skip) + "\n  ours " + show(got) + "\n  HF   " + show(want));
      StreamDecoder stream(*tokenizer_, skip);
      std::string streamed;
      for (int32_t id : ids) {
        std::string chunk = stream.push(id);
        EXPECT_EQ(tok::find_invalid_utf8(chunk), std::string::npos);
        streamed += chunk;
      }
      streamed += stream.finish();
      if (streamed != got) report("stream " + show(ids) + " skip=" + std::to_string(skip) + "\n  stream " + show(streamed) + "\n  decode " + show(got));
    }
  }
  for (const json& row : (*config_)["decodes"]) {
    const auto ids = row["i"].get<std::vector<int32_t>>();
    for (bool skip : {false, true}) {
      const std::string want = skip && row.contains("s") ? row["s"] : row["d"];
      const std::string got = tokenizer_->decode(ids, skip);
      if (got != want) report("decode " + show(ids) + " skip=" + std::to_string(skip) + "\n  ours " + show(got) + "\n  HF   " + show(want));
    }
  }
  EXPECT_EQ(failures, 0u) << GetParam();
  EXPECT_GE((*config_)["cases"].size(), 100u);
}

INSTANTIATE_TEST_SUITE_P(Hf, ExoticTokenizer, ::testing::ValuesIn(config_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace jamba
