// A multi-turn chat that keeps its cache between turns: each turn renders the whole
// conversation with the model's chat template, finds how much of it the cache already holds,
// and feeds only the rest. Mamba states cannot be un-done token by token, so the session keeps
// state checkpoints; when the re-rendered conversation differs from what the cache consumed
// (e.g. the template re-tokenizes the last reply), it rewinds to the
// newest checkpoint before the difference instead of starting over. Checkpoints sit where each
// user message ends and where each generation prompt ends, because templates often render a
// finished assistant turn differently from the generation prompt that opened it (<think>).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/chat_template/chat_template.h"
#include "format/tokenizer/tokenizer.h"
#include "runtime/engine.h"
#include "runtime/generation.h"

namespace jamba {

struct ChatTurnStats {
  int64_t prompt_tokens = 0;     // the rendered conversation, generation prompt included
  int64_t reused_tokens = 0;     // of those, already in the cache
  int64_t prefilled_tokens = 0;  // of those, fed this turn
  double prefill_ms = 0;
  int64_t generated_tokens = 0;
  double decode_ms = 0;
  std::string finish_reason;
  std::string reply;
};

class ChatSession {
 public:
  ChatSession(Engine& engine, const Tokenizer& tokenizer, ModelChatTemplate chat_template, std::string system_prompt);
  ~ChatSession();
  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;

  // Adds the user message, prefills what the cache lacks, generates the reply (its text streamed
  // through on_text as it becomes final) and adds it as the assistant message.
  ChatTurnStats user_turn(const std::string& text, const GenerationOptions& options,
                          const std::function<void(const std::string&)>& on_text);
  void reset();  // forget the conversation (the system prompt stays)

  // A session file: the messages, the tokens the cache consumed, and the cache itself (KV rows,
  // Mamba states, checkpoints), so a loaded session continues without re-processing anything.
  void save(const std::string& path) const;
  void load(const std::string& path);

  const nlohmann::ordered_json& messages() const { return messages_; }
  int64_t cached_tokens() const { return static_cast<int64_t>(cached_.size()); }

 private:
  std::vector<int32_t> render_prompt(bool add_generation_prompt) const;
  void rewind_to(size_t position);  // to the newest checkpoint at or before position
  nlohmann::ordered_json model_fingerprint() const;

  Engine& engine_;
  const Tokenizer& tokenizer_;
  ModelChatTemplate chat_template_;
  ChatTemplate parsed_template_;
  std::string system_prompt_;
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  SeqId seq_;
  std::vector<int32_t> cached_;              // the tokens the cache sequence has consumed
  std::vector<CacheSnapshot> checkpoints_;   // ascending lengths; the first is the empty sequence
};

}  // namespace jamba
