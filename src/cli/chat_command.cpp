// `jamba chat`: an interactive multi-turn REPL over runtime/ChatSession. The cache survives
// between turns, so each turn prefills only its new tokens; timings after every turn show it.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/mapped_file.h"
#include "cli/commands.h"
#include "format/chat_template/chat_template.h"
#include "format/tokenizer/tokenizer.h"
#include "runtime/chat_session.h"

namespace jamba::cli {
namespace {

const char* kChatHelp =
    "commands: /reset (forget the conversation), /save FILE, /load FILE (a session with its cache), "
    "/quit (or end of input)";

double per_second(int64_t count, double ms) { return ms > 0 ? count * 1000.0 / ms : 0.0; }

}  // namespace

int run_chat(const CommonOptions& common, const ChatOptions& options) {
  auto engine = open_engine(common);
  const auto tokenizer = Tokenizer::load(common.model_dir);
  ModelChatTemplate chat_template = load_chat_template(common.model_dir, options.template_name);
  GenerationOptions gen = generation_options(options.sampling, common, *engine, tokenizer.get());
  ChatSession session(*engine, *tokenizer, std::move(chat_template), options.system_prompt);

  const bool interactive = ::isatty(STDIN_FILENO);
  if (interactive) std::fprintf(stderr, "%s\n", kChatHelp);
  std::string line;
  while (true) {
    if (interactive) {
      std::fprintf(stderr, "> ");
      std::fflush(stderr);
    }
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line[0] == '/') {
      const size_t space = line.find(' ');
      const std::string command = line.substr(0, space);
      const std::string argument = space == std::string::npos ? "" : line.substr(space + 1);
      // A failed command is reported and the chat goes on; only bad input to the program exits.
      try {
        if (command == "/quit" || command == "/exit") break;
        if (command == "/reset") {
          session.reset();
          std::fprintf(stderr, "[conversation reset]\n");
        } else if (command == "/save" && !argument.empty()) {
          session.save(argument);
          std::fprintf(stderr, "[saved %zu messages, %" PRId64 " cached tokens to %s]\n", session.messages().size(),
                       session.cached_tokens(), argument.c_str());
        } else if (command == "/load" && !argument.empty()) {
          session.load(argument);
          std::fprintf(stderr, "[loaded %zu messages, %" PRId64 " cached tokens from %s]\n", session.messages().size(),
                       session.cached_tokens(), argument.c_str());
        } else {
          std::fprintf(stderr, "[unknown command '%s'; %s]\n", line.c_str(), kChatHelp);
        }
      } catch (const Error& e) {
        std::fprintf(stderr, "[error: %s]\n", e.what());
      }
      continue;
    }
    const ChatTurnStats stats = session.user_turn(line, gen, [](const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    });
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr,
                 "[prefill: %" PRId64 " new tokens (%" PRId64 " reused of %" PRId64 ") in %.1f ms, %.1f tok/s | "
                 "decode: %" PRId64 " tokens in %.1f ms, %.1f tok/s | stop: %s]\n",
                 stats.prefilled_tokens, stats.reused_tokens, stats.prompt_tokens, stats.prefill_ms,
                 per_second(stats.prefilled_tokens, stats.prefill_ms), stats.generated_tokens, stats.decode_ms,
                 per_second(stats.generated_tokens > 0 ? stats.generated_tokens - 1 : 0, stats.decode_ms),
                 stats.finish_reason.c_str());
  }
  return 0;
}

int run_render_chat(const CommonOptions& common, const RenderChatOptions& options) {
  const nlohmann::ordered_json request =
      parse_ordered_json(read_text_file(options.messages_file), options.messages_file);
  const bool with_tools = request.is_object() && request.contains("tools") && !request["tools"].is_null();
  const ModelChatTemplate chat_template = load_chat_template(common.model_dir, options.template_name, with_tools);
  const nlohmann::ordered_json context =
      chat_context_from_request(chat_template, request, options.add_generation_prompt, options.messages_file);
  const std::string text = ChatTemplate(chat_template.source, chat_template.label).render(context);
  // As apply_chat_template(tokenize=True): the template wrote the special tokens itself.
  const std::vector<int32_t> ids = Tokenizer::load(common.model_dir)->encode(text, false);
  if (common.json) {
    const nlohmann::json doc = {{"text", text}, {"ids", ids}};
    std::printf("%s\n", doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
  }
  return 0;
}

}  // namespace jamba::cli
