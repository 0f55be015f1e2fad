#include "runtime/chat_session.h"

#include <algorithm>
#include <chrono>
#include <fstream>

#include "base/binary_io.h"
#include "base/error.h"

namespace jamba {
namespace {

using ordered_json = nlohmann::ordered_json;
constexpr char kSessionMagic[] = "JAMBA-CHAT-SESSION\n";
constexpr uint64_t kSessionVersion = 1;
constexpr uint64_t kMaxHeaderBytes = uint64_t{1} << 30;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ChatSession::ChatSession(Engine& engine, const Tokenizer& tokenizer, ModelChatTemplate chat_template,
                         std::string system_prompt)
    : engine_(engine),
      tokenizer_(tokenizer),
      chat_template_(std::move(chat_template)),
      parsed_template_(chat_template_.source, chat_template_.label),
      system_prompt_(std::move(system_prompt)),
      seq_(engine.cache().create_sequence()) {
  reset();
}

ChatSession::~ChatSession() { engine_.cache().release_sequence(seq_); }

void ChatSession::reset() {
  HybridCache& cache = engine_.cache();
  cache.release_sequence(seq_);
  seq_ = cache.create_sequence();
  cached_.clear();
  checkpoints_ = {cache.snapshot(seq_)};
  messages_ = ordered_json::array();
  if (!system_prompt_.empty()) messages_.push_back({{"role", "system"}, {"content", system_prompt_}});
}

std::vector<int32_t> ChatSession::render_prompt(bool add_generation_prompt) const {
  const ordered_json context = make_chat_context(chat_template_, messages_, nullptr, nullptr, add_generation_prompt);
  // The template writes BOS and the other special tokens itself, as apply_chat_template does.
  return tokenizer_.encode(parsed_template_.render(context), false);
}

void ChatSession::rewind_to(size_t position) {
  while (checkpoints_.size() > 1 && static_cast<size_t>(checkpoints_.back().length) > position) checkpoints_.pop_back();
  engine_.cache().restore(seq_, checkpoints_.back());
  cached_.resize(static_cast<size_t>(checkpoints_.back().length));
}

ChatTurnStats ChatSession::user_turn(const std::string& text, const GenerationOptions& options,
                                     const std::function<void(const std::string&)>& on_text) {
  messages_.push_back({{"role", "user"}, {"content", text}});
  std::vector<int32_t> prompt, history;
  try {
    prompt = render_prompt(true);
    try {
      history = render_prompt(false);  // only for an extra checkpoint: a template may refuse it
    } catch (const Error&) {
      history.clear();
    }
    if (prompt.empty()) fail(chat_template_.label, ": the chat template rendered no tokens");
    if (static_cast<int64_t>(prompt.size()) >= engine_.max_context())
      fail("the conversation has ", prompt.size(), " tokens, more than the context of ", engine_.max_context(),
           " leaves room for (--ctx); /reset to start over");
    for (int32_t id : prompt)
      if (id >= engine_.config().vocab_size)
        fail("the tokenizer gave id ", id, ", outside the model's vocabulary of ", engine_.config().vocab_size);
  } catch (...) {
    messages_.erase(messages_.end() - 1);
    throw;
  }

  ChatTurnStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  // Longest prefix the cache already holds; at least one token must be fed to get logits.
  size_t same = 0;
  while (same < cached_.size() && same < prompt.size() && cached_[same] == prompt[same]) ++same;
  same = std::min(same, prompt.size() - 1);
  if (same < cached_.size()) rewind_to(same);
  stats.reused_tokens = static_cast<int64_t>(cached_.size());

  // Feed up to the end of the user message first (when the generation prompt only appends to
  // it), checkpoint there, then the generation prompt, and checkpoint again.
  std::vector<size_t> stops;
  if (history.size() > cached_.size() && history.size() < prompt.size() &&
      std::equal(history.begin(), history.end(), prompt.begin()))
    stops.push_back(history.size());
  stops.push_back(prompt.size());
  stats.prefilled_tokens = static_cast<int64_t>(prompt.size() - cached_.size());
  const auto start = std::chrono::steady_clock::now();
  std::vector<float> logits;
  for (size_t stop : stops) {
    const size_t from = cached_.size();
    logits = engine_.prefill(seq_, std::span<const int32_t>(prompt).subspan(from, stop - from), options.prefill_chunk,
                             false);
    cached_.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(stop));
    checkpoints_.push_back(engine_.cache().snapshot(seq_));
  }
  stats.prefill_ms = ms_since(start);

  StreamDecoder decoder(tokenizer_, true);
  const auto& eos = options.eos_token_ids;
  auto is_eos = [&](int32_t id) { return std::find(eos.begin(), eos.end(), id) != eos.end(); };
  GenerationResult result = continue_generation(engine_, seq_, std::move(logits), options, [&](int32_t id) {
    if (!is_eos(id)) on_text(decoder.push(id));
  });
  on_text(decoder.finish());
  // Every generated token but the last was fed to the cache.
  if (!result.tokens.empty()) cached_.insert(cached_.end(), result.tokens.begin(), result.tokens.end() - 1);

  std::vector<int32_t> reply_ids = result.tokens;
  if (!reply_ids.empty() && is_eos(reply_ids.back())) reply_ids.pop_back();
  stats.reply = tokenizer_.decode(reply_ids, true);
  stats.generated_tokens = result.timings.generated_tokens;
  stats.decode_ms = result.timings.decode_ms;
  stats.finish_reason = result.finish_reason;
  messages_.push_back({{"role", "assistant"}, {"content", stats.reply}});
  return stats;
}

ordered_json ChatSession::model_fingerprint() const {
  const ModelConfig& c = engine_.config();
  return {{"layers", c.num_hidden_layers}, {"hidden_size", c.hidden_size}, {"vocab_size", c.vocab_size},
          {"d_inner", c.d_inner()},        {"d_state", c.mamba_d_state},   {"d_conv", c.mamba_d_conv},
          {"kv_heads", c.num_key_value_heads}, {"head_dim", c.head_dim},
          {"attn_layer_period", c.attn_layer_period}, {"attn_layer_offset", c.attn_layer_offset}};
}

void ChatSession::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, ": cannot open for writing");
  const ordered_json header = {{"model", model_fingerprint()},
                               {"messages", messages_},
                               {"tokens", cached_},
                               {"checkpoints", checkpoints_.size()}};
  const std::string header_text = header.dump();
  out.write(kSessionMagic, sizeof kSessionMagic - 1);
  write_u64(out, kSessionVersion);
  write_u64(out, header_text.size());
  out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  engine_.cache().write_sequence(seq_, out);
  for (const CacheSnapshot& cp : checkpoints_) engine_.cache().write_snapshot(cp, out);
  out.flush();
  if (!out) fail(path, ": write failed");
}

void ChatSession::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  std::string magic(sizeof kSessionMagic - 1, '\0');
  if (!in.read(magic.data(), static_cast<std::streamsize>(magic.size())) || magic != kSessionMagic)
    fail(path, ": not a jamba chat session file");
  if (const uint64_t version = read_u64(in, path); version != kSessionVersion)
    fail(path, ": session format version ", version, " is not supported (this build reads ", kSessionVersion, ")");
  const uint64_t header_size = read_u64(in, path);
  if (header_size > kMaxHeaderBytes) fail(path, ": header of ", header_size, " bytes is too large");
  std::string header_text(header_size, '\0');
  if (!in.read(header_text.data(), static_cast<std::streamsize>(header_size))) fail(path, ": file is truncated");
  const ordered_json header = parse_ordered_json(header_text, path);
  if (!header.is_object() || !header.contains("model") || !header.contains("messages") || !header.contains("tokens") ||
      !header.contains("checkpoints"))
    fail(path, ": session header lacks model / messages / tokens / checkpoints");
  if (header["model"] != model_fingerprint())
    fail(path, ": the session was saved with another model (", header["model"].dump(), ")");

  std::vector<int32_t> tokens;
  ordered_json messages;
  uint64_t checkpoint_count = 0;
  try {
    tokens = header["tokens"].get<std::vector<int32_t>>();
    messages = header["messages"];
    checkpoint_count = header["checkpoints"].get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": malformed session header: ", e.what());
  }
  if (!messages.is_array()) fail(path, ": 'messages' must be a list");
  if (checkpoint_count == 0 || checkpoint_count > tokens.size() + 1) fail(path, ": bad checkpoint count");

  HybridCache& cache = engine_.cache();
  const SeqId loaded = cache.read_sequence(in, path);
  std::vector<CacheSnapshot> checkpoints;
  try {
    if (cache.length(loaded) != static_cast<int64_t>(tokens.size()))
      fail(path, ": the cache holds ", cache.length(loaded), " tokens but the header lists ", tokens.size());
    for (uint64_t i = 0; i < checkpoint_count; ++i) {
      checkpoints.push_back(cache.read_snapshot(in, path));
      if (checkpoints.back().length > static_cast<int64_t>(tokens.size()) ||
          (i > 0 && checkpoints.back().length <= checkpoints[i - 1].length))
        fail(path, ": checkpoint positions are out of order");
    }
  } catch (...) {
    cache.release_sequence(loaded);
    throw;
  }
  cache.release_sequence(seq_);
  seq_ = loaded;
  cached_ = std::move(tokens);
  messages_ = std::move(messages);
  checkpoints_ = std::move(checkpoints);
}

}  // namespace jamba
