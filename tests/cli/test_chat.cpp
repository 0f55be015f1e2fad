// `jamba chat` end to end on a random model paired with a real-format tokenizer and a Jamba-1.5
// style chat template: later turns reuse the cache (only new tokens are prefilled, as the
// printed timings show), and a saved session continues exactly as the live one did.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "format/tokenizer/tokenizer.h"
#include "support/random_checkpoint.h"
#include "support/test_support.h"

namespace jamba {
namespace {

namespace fs = std::filesystem;

struct TurnTiming {
  int64_t prefilled, reused, prompt;
};

std::vector<TurnTiming> turn_timings(const std::string& err) {
  static const std::regex line(R"(\[prefill: (\d+) new tokens \((\d+) reused of (\d+)\))");
  std::vector<TurnTiming> turns;
  for (std::sregex_iterator it(err.begin(), err.end(), line), end; it != end; ++it)
    turns.push_back({std::stoll((*it)[1]), std::stoll((*it)[2]), std::stoll((*it)[3])});
  return turns;
}

class Chat : public ::testing::Test {
 protected:
  void SetUp() override { make_model("llama_spm_bpe"); }

  // A random model whose vocabulary fits the fixture tokenizer `name` (and its chat template).
  void make_model(const std::string& name) {
    const std::string tok = test::fixtures_dir() + "/tokenizers/" + name;
    for (const auto& f : fs::directory_iterator(tok))
      if (f.path().extension() != ".jsonl" && f.path().filename() != "chat_cases.json")
        fs::copy_file(f.path(), model_.file(f.path().filename().string()), fs::copy_options::overwrite_existing);
    const int64_t vocab = Tokenizer::load(model_.path())->id_limit();
    const nlohmann::json config = {
        {"model_type", "jamba"}, {"vocab_size", vocab}, {"hidden_size", 16}, {"intermediate_size", 16},
        {"num_hidden_layers", 4}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
        {"attn_layer_period", 2}, {"attn_layer_offset", 1}, {"expert_layer_period", 2},
        {"expert_layer_offset", 0}, {"num_experts", 2}, {"num_experts_per_tok", 1},
        {"mamba_d_state", 4}, {"mamba_d_conv", 3}, {"mamba_expand", 2}, {"mamba_dt_rank", 2},
        {"max_position_embeddings", 4096}, {"eos_token_id", 2}};
    test::write_random_checkpoint(model_.path(), config);
  }

  test::CommandResult chat(const std::string& input) {
    return test::run_jamba({"chat", "-m", model_.path(), "--temperature", "0", "-n", "6", "--system", "Be brief."}, 120,
                           input);
  }

  test::TempDir model_, work_;
};

TEST_F(Chat, LaterTurnsPrefillOnlyNewTokens) {
  const auto r = chat("hello there\nwhat comes next?\nand after that?\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto turns = turn_timings(r.err);
  ASSERT_EQ(turns.size(), 3u) << r.err;
  EXPECT_EQ(turns[0].reused, 0);
  EXPECT_EQ(turns[0].prefilled, turns[0].prompt);
  for (size_t i = 1; i < turns.size(); ++i) {
    // Everything the previous turn's prompt held is reused; only the reply and the new message
    // (at most) are prefilled.
    EXPECT_GE(turns[i].reused, turns[i - 1].prompt) << r.err;
    EXPECT_EQ(turns[i].reused + turns[i].prefilled, turns[i].prompt);
  }
}

// The ChatML template with <think> drops earlier turns' reasoning, so the re-rendered history
// differs from what the cache consumed: the session rewinds to the checkpoint before the last
// reply instead of re-processing the conversation.
TEST_F(Chat, TemplateThatRewritesHistoryRewindsToACheckpoint) {
  make_model("added_tokens_bpe");
  const auto r = chat("hello there\nwhat comes next?\nand after that?\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto turns = turn_timings(r.err);
  ASSERT_EQ(turns.size(), 3u) << r.err;
  for (size_t i = 1; i < turns.size(); ++i) {
    EXPECT_GT(turns[i].reused, 0) << r.err;
    EXPECT_EQ(turns[i].reused + turns[i].prefilled, turns[i].prompt);
  }
}

TEST_F(Chat, SavedSessionContinuesLikeTheLiveOne) {
  const std::string session = work_.file("s.session");
  const auto live = chat("hello there\nwhat comes next?\n/save " + session + "\nand after that?\n");
  ASSERT_EQ(live.exit_code, 0) << live.err;
  const auto resumed = chat("/load " + session + "\nand after that?\n");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  // The resumed process prints one reply: the live run's last.
  ASSERT_FALSE(resumed.out.empty());
  ASSERT_GE(live.out.size(), resumed.out.size());
  EXPECT_EQ(live.out.substr(live.out.size() - resumed.out.size()), resumed.out);
  const auto live_turns = turn_timings(live.err), resumed_turns = turn_timings(resumed.err);
  ASSERT_EQ(live_turns.size(), 3u);
  ASSERT_EQ(resumed_turns.size(), 1u);
  EXPECT_EQ(resumed_turns[0].reused, live_turns[2].reused);
  EXPECT_EQ(resumed_turns[0].prefilled, live_turns[2].prefilled);
}

TEST_F(Chat, ResetAndBadCommandsKeepTheChatAlive) {
  const auto r = chat("hello\n/load " + work_.file("missing.session") + "\n/bogus\n/reset\nhello\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("missing.session"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown command"), std::string::npos) << r.err;
  const auto turns = turn_timings(r.err);
  ASSERT_EQ(turns.size(), 2u);
  EXPECT_EQ(turns[1].reused, 0);  // reset: nothing is cached
  EXPECT_EQ(turns[1].prompt, turns[0].prompt);
}

TEST_F(Chat, SessionFromAnotherModelIsRejected) {
  const std::string session = work_.file("s.session");
  ASSERT_EQ(chat("hi\n/save " + session + "\n").exit_code, 0);
  // Same tokenizer, another shape of model.
  test::TempDir other;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(model_.file(f), other.file(f));
  nlohmann::json config = nlohmann::json::parse(test::read_file(model_.file("config.json")));
  config["hidden_size"] = 32;
  test::write_random_checkpoint(other.path(), config);
  const auto r = test::run_jamba({"chat", "-m", other.path(), "-n", "2"}, 60, "/load " + session + "\n");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("another model"), std::string::npos) << r.err;
}

TEST_F(Chat, GenerateFromTextPrintsText) {
  const auto r = test::run_jamba({"generate", "-m", model_.path(), "-p", "Hello world", "-n", "5", "--temperature", "0",
                                  "--ignore-eos", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  const auto tokenizer = Tokenizer::load(model_.path());
  const std::vector<int32_t> generated = doc["tokens"];
  ASSERT_EQ(generated.size(), 5u);
  EXPECT_EQ(doc["text"], tokenizer->decode(generated, true));
  EXPECT_EQ(doc["timings"]["prompt_tokens"], tokenizer->encode("Hello world").size());

  // Streaming prints the same text (StreamDecoder equals the full decode).
  test::write_file(work_.file("prompt.txt"), "Hello world");
  const auto streamed = test::run_jamba({"generate", "-m", model_.path(), "--prompt-file", work_.file("prompt.txt"), "-n",
                                         "5", "--temperature", "0", "--ignore-eos"});
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  std::vector<int32_t> all = tokenizer->encode("Hello world");
  all.insert(all.end(), generated.begin(), generated.end());
  EXPECT_EQ(streamed.out, tokenizer->decode(all, true) + "\n");  // the prompt, then the continuation

  const auto bare = test::run_jamba({"generate", "-m", model_.path(), "--prompt-file", work_.file("prompt.txt"), "-n",
                                     "5", "--temperature", "0", "--ignore-eos", "--no-display-prompt"});
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_EQ(bare.out, doc["text"].get<std::string>() + "\n");
}

// `jamba render-chat` reproduces HF apply_chat_template (text and ids) for every fixture
// conversation; conversations the template rejects fail with its message.
TEST(RenderChat, MatchesHuggingFaceFixtures) {
  test::TempDir work;
  int checked = 0;
  for (const char* name : {"llama_spm_bpe", "added_tokens_bpe"}) {
    const std::string dir = test::fixtures_dir() + "/tokenizers/" + name;
    // ordered_json: tools render with tojson in their original key order, as Python keeps it.
    for (const auto& c : nlohmann::ordered_json::parse(test::read_file(dir + "/chat_cases.json"))) {
      nlohmann::ordered_json request = {{"messages", c["messages"]}, {"tools", c["tools"]}, {"documents", c["documents"]}};
      test::write_file(work.file("request.json"), request.dump());
      std::vector<std::string> args = {"render-chat", "-m", dir, "--messages-file", work.file("request.json"), "--json"};
      if (c["add_generation_prompt"].get<bool>()) args.push_back("--add-generation-prompt");
      const auto r = test::run_jamba(args);
      if (c.contains("error")) {
        EXPECT_EQ(r.exit_code, 1) << c["name"];
        const std::string message = c["error"].get<std::string>();
        EXPECT_NE(r.err.find(message.substr(message.find(": ") + 2)), std::string::npos) << r.err;
        continue;
      }
      ASSERT_EQ(r.exit_code, 0) << c["name"] << ": " << r.err;
      const auto doc = nlohmann::json::parse(r.out);
      EXPECT_EQ(doc["text"], c["text"]) << name << " " << c["name"];
      EXPECT_EQ(doc["ids"], c["ids"]) << name << " " << c["name"];
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
}

TEST_F(Chat, ModelWithoutTemplateIsAnError) {
  test::TempDir bare;
  fs::copy_file(model_.file("tokenizer.json"), bare.file("tokenizer.json"));
  fs::copy_file(model_.file("config.json"), bare.file("config.json"));
  fs::copy_file(model_.file("model.safetensors"), bare.file("model.safetensors"));
  const auto r = test::run_jamba({"chat", "-m", bare.path()}, 60, "hi\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("template"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace jamba
