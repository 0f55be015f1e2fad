// libFuzzer target: the Jinja chat-template parser and interpreter on arbitrary template source,
// rendered against a fixed conversation (system / user / assistant with tool calls / tool
// messages, a tools list, documents, special tokens, add_generation_prompt) and against an
// almost empty context (so Undefined flows through every construct).
//
// The render limits are set low so that runaway templates (loops over range(), string
// repetition, deep macro recursion) end as jamba::Error quickly instead of tripping libFuzzer's
// timeout or memory limit. jamba::Error is the expected way to reject input (syntax errors,
// runtime errors, raise_exception, the limits); any other exception, a crash, an out-of-bounds
// access, a leak, undefined behaviour or a hang is a finding, and so is a render that returns
// invalid UTF-8 or more bytes than the output limit.
//
// JAMBA_FUZZ_VERBOSE=1 prints each render's output or error (to check why a seed is rejected):
//   JAMBA_FUZZ_VERBOSE=1 build-fuzz/bin/fuzz_chat_template tests/fuzz/corpus/chat_template/*
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_utf8.h"
#include "base/error.h"
#include "format/chat_template/chat_template.h"

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr size_t kMaxOutputBytes = size_t{1} << 20;

ordered_json full_context() {
  jamba::ModelChatTemplate model;
  model.special_tokens = ordered_json::parse(R"({
    "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|unk|>",
    "pad_token": "<|pad|>",
    "additional_special_tokens": ["<|bom|>", "<|eom|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]
  })");
  const ordered_json messages = ordered_json::parse(R"([
    {"role": "system", "content": "You are a helpful assistant.\nBe brief."},
    {"role": "user", "content": "What's the weather in Paris? \u00e9\u4e2d\ud83d\udc4b\u0000\u0007"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function",
       "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 3}}},
      {"id": "call_2", "type": "function",
       "function": {"name": "get_time", "arguments": "{\"tz\": \"Europe/Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
     "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"},
    {"role": "tool", "tool_call_id": "call_2", "name": "get_time", "content": "12:00"},
    {"role": "assistant", "content": "<think>\nThe tool said 21.5.\n</think>\n\nIt is 21.5 \u00b0C and clear.",
     "reasoning_content": "The tool said 21.5."},
    {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}, {"type": "image", "url": "x.png"}]},
    {"role": "assistant", "content": "Probably sunny.", "weight": 0},
    {"role": "user", "content": "  Thanks!  \t"}
  ])");
  const ordered_json tools = ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.",
      "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7}},
      "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time.",
      "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": []}}}
  ])");
  const ordered_json documents = ordered_json::parse(R"([
    {"title": "Paris", "text": "Paris is the capital of France.", "source": "wiki"},
    {"text": "Weather is variable.", "id": 7, "score": 0.5}
  ])");
  const ordered_json extra = ordered_json::parse(R"({
    "enable_thinking": false, "max_tokens": 128, "temperature": 0.7, "date_string": "26 Jul 2024",
    "nothing": null, "keep": [1, 2.5, "three", true, null, {"k": "v"}]
  })");
  return jamba::make_chat_context(model, messages, tools, documents, true, extra);
}


const bool kVerbose = std::getenv("JAMBA_FUZZ_VERBOSE") != nullptr;

void render(const jamba::ChatTemplate& tmpl, const ordered_json& context, const jamba::ChatTemplateOptions& options) {
  std::string out;
  try {
    out = tmpl.render(context, options);
  } catch (const jamba::Error& e) {
    if (kVerbose) std::fprintf(stderr, "render error: %s\n", e.what());
    return;
  }
  if (kVerbose) {
    std::fprintf(stderr, "render output (%zu bytes):\n", out.size());
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fputc('\n', stderr);
  }
  if (out.size() > options.max_output_bytes) {
    std::fprintf(stderr, "fuzz_chat_template: render returned %zu bytes, over the limit of %zu\n", out.size(),
                 options.max_output_bytes);
    std::abort();
  }
  if (!jamba::fuzz::valid_utf8(out)) {
    std::fprintf(stderr, "fuzz_chat_template: render returned invalid UTF-8 (%zu bytes)\n", out.size());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ordered_json context = full_context();
  static const ordered_json bare = ordered_json::parse(R"({"messages": [], "add_generation_prompt": false})");
  jamba::ChatTemplateOptions options;
  options.now = 1721995200;  // 2024-07-26, so strftime_now is deterministic
  options.max_output_bytes = kMaxOutputBytes;
  options.max_steps = 200'000;

  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    const jamba::ChatTemplate tmpl(source, "fuzz.jinja");
    render(tmpl, context, options);
    render(tmpl, bare, options);
  } catch (const jamba::Error& e) {
    if (kVerbose) std::fprintf(stderr, "parse error: %s\n", e.what());
  }
  return 0;
}
