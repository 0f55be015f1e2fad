// Chat templates as models ship them: formats written for these tests in the style of Jamba 1.5
// (<|bom|>/<|eom|> turns with tool and document sections), Jamba Reasoning 3B (ChatML with a
// <think> prefix), Llama 3, Mistral and Qwen 2.5 (tools); then every case of the tokenizer
// fixtures (tests/fixtures/tokenizers/*/chat_cases.json, rendered by transformers'
// apply_chat_template) byte for byte; then how a model directory's template, special tokens and a
// messages file are found and checked.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/chat_template/chat_template.h"
#include "support/expect_error.h"
#include "support/test_support.h"

namespace jamba {
namespace {

using nlohmann::ordered_json;
using test::error_of;
using test::expect_error_contains;
using test::TempDir;
using test::write_file;

const char* kJamba15 = R"T({#- A Jamba 1.5-style template written for these tests: <|bom|><|role|> content<|eom|> turns,
    an always-present system turn, tool definitions in the system turn, documents in a system
    turn before the last user message, tool calls as a JSON list. -#}
{%- set bom = '<|bom|>' -%}
{%- set eom = '<|eom|>' -%}
{%- if messages and messages[0].role == 'system' -%}
  {%- set system = messages[0].content -%}
  {%- set rest = messages[1:] -%}
{%- else -%}
  {%- set system = '' -%}
  {%- set rest = messages -%}
{%- endif -%}
{{- bos_token -}}
{{- bom + '<|system|> ' + system -}}
{%- if tools -%}
  {{- ('\n\n' if system else '') + '<tool_definitions>\n# Tools\n\n## Functions' -}}
  {%- for tool in tools -%}
    {{- '\n\n' + ((tool.function if tool.type == 'function' else tool) | tojson(indent=2)) -}}
  {%- endfor -%}
  {{- '\n</tool_definitions>' -}}
{%- endif -%}
{%- set ns = namespace(last_user=-1) -%}
{%- for m in rest -%}
  {%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}
{%- endfor -%}
{%- for m in rest -%}
  {%- if loop.index0 == ns.last_user and documents -%}
    {{- eom + bom + '<|system|> <documents>\n# Documents' -}}
    {%- for doc in documents -%}
      {{- '\n\n## Document ID: ' ~ loop.index0 -}}
      {%- if doc.title is defined -%}{{- '\nTitle: ' + doc.title -}}{%- endif -%}
      {%- for key, value in doc.items() if key not in ['title', 'text'] -%}
        {{- '\n' + key | title + ': ' + value | string -}}
      {%- endfor -%}
      {{- '\nText: ' + doc.text -}}
    {%- endfor -%}
    {{- '\n</documents>' -}}
  {%- endif -%}
  {{- eom + bom + '<|' + m.role + '|> ' + (m.content or '') -}}
  {%- if m.role == 'assistant' and m.tool_calls -%}
    {{- '<tool_calls>[' -}}
    {%- for call in m.tool_calls -%}
      {{- ('' if loop.first else ', ') + {'name': call.function.name, 'arguments': call.function.arguments} | tojson -}}
    {%- endfor -%}
    {{- ']</tool_calls>' -}}
  {%- endif -%}
{%- endfor -%}
{{- eom -}}
{%- if add_generation_prompt -%}{{- bom + '<|assistant|>' -}}{%- endif -%}
)T";

const char* kChatmlThink = R"T({#- A ChatML template with a thinking prefix, in the style of Jamba Reasoning 3B. #}
{%- if bos_token is defined and bos_token %}{{- bos_token }}{% endif %}
{%- if messages and messages[0].role == 'system' %}
  {%- set system = messages[0].content %}
{%- else %}
  {%- set system = 'You are a helpful assistant. Think inside <think></think> before answering.' %}
{%- endif %}
{{- '<|im_start|>system\n' + system + '<|im_end|>\n' }}
{%- for m in messages if m.role != 'system' %}
  {%- set content = m.content or '' %}
  {%- if m.role == 'assistant' and '</think>' in content and not loop.last %}
    {%- set content = content.split('</think>')[-1].lstrip('\n') %}
  {%- endif %}
  {{- '<|im_start|>' + m.role + '\n' + content + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
  {{- '<|im_start|>assistant\n<think>\n' }}
{%- endif %}
)T";

const char* kLlama3 = R"T({%- set loop_messages = messages -%}
{{- bos_token -}}
{%- for message in loop_messages -%}
  {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
)T";

const char* kMistral = R"T({{- bos_token }}
{%- if messages[0].role == 'system' %}
  {%- set system = messages[0].content %}
  {%- set rest = messages[1:] %}
{%- else %}
  {%- set system = none %}
  {%- set rest = messages %}
{%- endif %}
{%- for message in rest %}
  {%- if (message.role == 'user') != (loop.index0 % 2 == 0) %}
    {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
  {%- endif %}
  {%- if message.role == 'user' %}
    {%- if loop.first and system is not none %}
      {{- '[INST] ' + system + '\n\n' + message.content + ' [/INST]' }}
    {%- else %}
      {{- '[INST] ' + message.content + ' [/INST]' }}
    {%- endif %}
  {%- else %}
    {{- ' ' + message.content + eos_token }}
  {%- endif %}
{%- endfor %}
)T";

const char* kQwenTools = R"T({%- if tools %}
  {{- '<|im_start|>system\n' }}
  {%- if messages[0].role == 'system' %}{{- messages[0].content }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
  {{- '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n<tools>' }}
  {%- for tool in tools %}
    {{- '\n' }}
    {{- tool | tojson }}
  {%- endfor %}
  {{- '\n</tools>\n\nReturn each call as a JSON object inside <tool_call></tool_call> tags.<|im_end|>\n' }}
{%- elif messages[0].role == 'system' %}
  {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
  {%- if message.role == 'user' or (message.role == 'system' and not loop.first) or (message.role == 'assistant' and not message.tool_calls) %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
  {%- elif message.role == 'assistant' %}
    {{- '<|im_start|>assistant' }}
    {%- if message.content %}{{- '\n' + message.content }}{%- endif %}
    {%- for call in message.tool_calls %}
      {%- set fn = call.function if call.function is defined else call %}
      {{- '\n<tool_call>\n{"name": "' + fn.name + '", "arguments": ' + (fn.arguments if fn.arguments is string else fn.arguments | tojson) + '}\n</tool_call>' }}
    {%- endfor %}
    {{- '<|im_end|>\n' }}
  {%- elif message.role == 'tool' %}
    {%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
    {{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
    {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\n' }}{%- endif %}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
)T";

const char* kWeatherTool = R"({"type": "function", "function": {"name": "get_weather", "description": "Current weather",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})";

ordered_json context(const char* messages, bool add_generation_prompt, const char* tools = "null",
                     const char* documents = "null") {
  return ordered_json{{"bos_token", "<|startoftext|>"},
                      {"eos_token", "<|endoftext|>"},
                      {"messages", ordered_json::parse(messages)},
                      {"tools", ordered_json::parse(tools)},
                      {"documents", ordered_json::parse(documents)},
                      {"add_generation_prompt", add_generation_prompt}};
}

std::string render(const char* source, const ordered_json& variables) {
  return render_chat_template(source, variables, "model.jinja");
}

TEST(ChatTemplateModels, Jamba15SingleUserTurn) {
  // The format AI21 documents: an empty system turn, a space after each role tag.
  EXPECT_EQ(render(kJamba15, context(R"([{"role": "user", "content": "Hello, how are you?"}])", true)),
            "<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> Hello, how are you?<|eom|><|bom|><|assistant|>");
  EXPECT_EQ(render(kJamba15, context(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                       {"role": "assistant", "content": "Hello!"}])", false)),
            "<|startoftext|><|bom|><|system|> Be brief.<|eom|><|bom|><|user|> Hi<|eom|><|bom|><|assistant|> Hello!<|eom|>");
}

TEST(ChatTemplateModels, Jamba15ToolsDocumentsAndToolCalls) {
  const std::string tools = std::string("[") + kWeatherTool + "]";
  const ordered_json variables = context(
      R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"},
          {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
          {"role": "tool", "content": "21C"}, {"role": "user", "content": "Thanks"}])",
      false, tools.c_str(), R"([{"title": "Guide", "text": "Paris is mild.", "source": "wiki"}])");
  const std::string expected =
      "<|startoftext|><|bom|><|system|> Be brief.\n\n<tool_definitions>\n# Tools\n\n## Functions\n\n"
      "{\n  \"name\": \"get_weather\",\n  \"description\": \"Current weather\",\n  \"parameters\": {\n"
      "    \"type\": \"object\",\n    \"properties\": {\n      \"city\": {\n        \"type\": \"string\"\n      }\n"
      "    },\n    \"required\": [\n      \"city\"\n    ]\n  }\n}\n</tool_definitions>"
      "<|eom|><|bom|><|user|> Weather?"
      "<|eom|><|bom|><|assistant|> <tool_calls>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</tool_calls>"
      "<|eom|><|bom|><|tool|> 21C"
      "<|eom|><|bom|><|system|> <documents>\n# Documents\n\n## Document ID: 0\nTitle: Guide\nSource: wiki\nText: Paris is mild.\n</documents>"
      "<|eom|><|bom|><|user|> Thanks<|eom|>";
  EXPECT_EQ(render(kJamba15, variables), expected);
}

TEST(ChatTemplateModels, ChatmlWithThinkingPrefix) {
  ordered_json variables = context(R"([{"role": "user", "content": "2+2?"}])", true);
  variables.erase("bos_token");
  EXPECT_EQ(render(kChatmlThink, variables),
            "<|im_start|>system\nYou are a helpful assistant. Think inside <think></think> before answering.<|im_end|>\n"
            "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n");
  // Earlier turns lose their reasoning; the last assistant turn keeps it.
  variables = context(R"([{"role": "system", "content": "Sys"}, {"role": "user", "content": "Q1"},
                          {"role": "assistant", "content": "<think>\nwork\n</think>\n\nA1"}, {"role": "user", "content": "Q2"},
                          {"role": "assistant", "content": "<think>\nmore\n</think>\nA2"}])", false);
  variables["bos_token"] = "<s>";
  EXPECT_EQ(render(kChatmlThink, variables),
            "<s><|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\nmore\n</think>\nA2<|im_end|>\n");
}

TEST(ChatTemplateModels, Llama3TrimsContent) {
  ordered_json variables = context(R"([{"role": "system", "content": "Be brief. "}, {"role": "user", "content": " Hi"}])", true);
  variables["bos_token"] = "<|begin_of_text|>";
  EXPECT_EQ(render(kLlama3, variables),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateModels, MistralAlternationAndItsError) {
  ordered_json variables = context(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "A"},
                                       {"role": "assistant", "content": "B"}, {"role": "user", "content": "C"}])", true);
  variables["bos_token"] = "<s>";
  variables["eos_token"] = "</s>";
  EXPECT_EQ(render(kMistral, variables), "<s>[INST] S\n\nA [/INST] B</s>[INST] C [/INST]");
  variables["messages"] = ordered_json::parse(R"([{"role": "user", "content": "A"}, {"role": "user", "content": "B"}])");
  expect_error_contains(error_of([&] { render(kMistral, variables); }),
                        {"model.jinja:11", "the template raised an error: Conversation roles must alternate user/assistant/user/assistant/..."});
}

TEST(ChatTemplateModels, QwenToolCallsAndGroupedToolResponses) {
  const std::string tools = std::string("[") + kWeatherTool + "]";
  ordered_json variables = context(
      R"([{"role": "user", "content": "Weather in Oslo and Rome?"},
          {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
          {"role": "tool", "content": "-3C"}, {"role": "tool", "content": "18C"}])",
      true, tools.c_str());
  EXPECT_EQ(render(kQwenTools, variables),
            "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", "
            "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>\n\n"
            "Return each call as a JSON object inside <tool_call></tool_call> tags.<|im_end|>\n"
            "<|im_start|>user\nWeather in Oslo and Rome?<|im_end|>\n<|im_start|>assistant\n"
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n"
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call><|im_end|>\n"
            "<|im_start|>user\n<tool_response>\n-3C\n</tool_response>\n<tool_response>\n18C\n</tool_response><|im_end|>\n"
            "<|im_start|>assistant\n");
  variables = context(R"([{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}])", false);
  EXPECT_EQ(render(kQwenTools, variables), "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

// ---------------------------------------------------------------------------------------------
// Fixtures: transformers' renderings of the fixture tokenizers' templates.

std::vector<std::filesystem::path> chat_fixture_dirs() {
  std::vector<std::filesystem::path> dirs;
  const std::filesystem::path root = std::filesystem::path(JAMBA_FIXTURES_DIR) / "tokenizers";
  if (!std::filesystem::is_directory(root)) return dirs;
  for (const auto& entry : std::filesystem::directory_iterator(root))
    if (std::filesystem::exists(entry.path() / "chat_cases.json")) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(ChatTemplateFixtures, EveryCaseRendersByteForByte) {
  const auto dirs = chat_fixture_dirs();
  ASSERT_GE(dirs.size(), 2u) << "expected chat fixtures under " << JAMBA_FIXTURES_DIR << "/tokenizers";
  size_t rendered = 0, errors = 0;
  for (const auto& dir : dirs) {
    SCOPED_TRACE(dir.string());
    const std::string cases_path = (dir / "chat_cases.json").string();
    // Key order matters (tojson of tools), so the cases are read as ordered JSON.
    const ordered_json cases = parse_ordered_json(read_text_file(cases_path), cases_path);
    ASSERT_TRUE(cases.is_array());
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) {
      const bool with_tools = c.contains("tools") && !c["tools"].is_null();
      const ModelChatTemplate model = load_chat_template(dir.string(), "", with_tools);
      const ChatTemplate tmpl(model.source, model.label);
      const ordered_json variables = make_chat_context(model, c["messages"], c["tools"], c["documents"],
                                                       c["add_generation_prompt"].get<bool>());
      SCOPED_TRACE(c.value("name", std::string("?")) + (c["add_generation_prompt"].get<bool>() ? " +prompt" : ""));
      if (c.contains("error")) {
        // "TemplateError: <message from raise_exception>"
        std::string wanted = c["error"].get<std::string>();
        const size_t colon = wanted.find(": ");
        if (colon != std::string::npos) wanted = wanted.substr(colon + 2);
        const std::string message = error_of([&] { tmpl.render(variables); });
        expect_error_contains(message, {model.label, "the template raised an error", wanted});
        ++errors;
        continue;
      }
      EXPECT_EQ(tmpl.render(variables), c["text"].get<std::string>());
      ++rendered;
    }
  }
  EXPECT_GT(rendered, 0u);
  EXPECT_GT(errors, 0u);
}

// ---------------------------------------------------------------------------------------------
// Finding a model's template

TEST(ChatTemplateLoading, TokenizerConfigStringAndSpecialTokens) {
  TempDir dir;
  write_file(dir.file("tokenizer_config.json"), R"({
    "bos_token": {"__type": "AddedToken", "content": "<|startoftext|>", "lstrip": false},
    "eos_token": "<|endoftext|>", "pad_token": null, "unk_token": "",
    "additional_special_tokens": ["<|bom|>", {"content": "<|eom|>"}],
    "model_max_length": 1000000000000000019884624838656,
    "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}{{ pad_token is defined }}{{ additional_special_tokens }}"
  })");
  const ModelChatTemplate model = load_chat_template(dir.path());
  EXPECT_EQ(model.name, "default");
  EXPECT_NE(model.label.find("tokenizer_config.json"), std::string::npos);
  EXPECT_EQ(model.special_tokens.dump(),
            R"({"bos_token":"<|startoftext|>","eos_token":"<|endoftext|>","additional_special_tokens":["<|bom|>","<|eom|>"]})");
  const ordered_json variables = make_chat_context(model, ordered_json::parse(R"([{"role": "user", "content": "hi"}])"),
                                                   nullptr, nullptr, false);
  EXPECT_EQ(ChatTemplate(model.source, model.label).render(variables),
            "<|startoftext|>hi<|endoftext|>False['<|bom|>', '<|eom|>']");
}

TEST(ChatTemplateLoading, JinjaFileWinsOverTheConfig) {
  TempDir dir;
  write_file(dir.file("tokenizer_config.json"), R"({"eos_token": "</s>", "chat_template": "from config"})");
  write_file(dir.file("chat_template.jinja"), "from file {{ eos_token }}\n");
  const ModelChatTemplate model = load_chat_template(dir.path());
  EXPECT_EQ(model.source, "from file {{ eos_token }}\n");
  EXPECT_NE(model.label.find("chat_template.jinja"), std::string::npos);
  EXPECT_EQ(ChatTemplate(model.source, model.label).render(make_chat_context(model, ordered_json::array(), nullptr, nullptr, false)),
            "from file </s>");
}

TEST(ChatTemplateLoading, JinjaFileWithoutConfig) {
  TempDir dir;
  write_file(dir.file("chat_template.jinja"), "only {{ messages | length }}");
  const ModelChatTemplate model = load_chat_template(dir.path());
  EXPECT_TRUE(model.special_tokens.empty());
  EXPECT_EQ(model.source, "only {{ messages | length }}");
}

TEST(ChatTemplateLoading, NamedTemplates) {
  TempDir dir;
  write_file(dir.file("tokenizer_config.json"), R"({"chat_template": [
    {"name": "default", "template": "plain"}, {"name": "tool_use", "template": "with tools"}, {"name": "rag", "template": "rag"}]})");
  EXPECT_EQ(load_chat_template(dir.path()).source, "plain");
  EXPECT_EQ(load_chat_template(dir.path(), "", true).source, "with tools");
  EXPECT_EQ(load_chat_template(dir.path(), "rag").source, "rag");
  expect_error_contains(error_of([&] { load_chat_template(dir.path(), "nope"); }),
                        {"no chat template named 'nope'", "'default', 'tool_use', 'rag'"});
}

TEST(ChatTemplateLoading, AdditionalTemplateFiles) {
  TempDir dir;
  write_file(dir.file("chat_template.jinja"), "main");
  std::filesystem::create_directory(dir.file("additional_chat_templates"));
  write_file(dir.file("additional_chat_templates/tool_use.jinja"), "tools");
  EXPECT_EQ(load_chat_template(dir.path()).source, "main");
  EXPECT_EQ(load_chat_template(dir.path(), "", true).source, "tools");
  EXPECT_EQ(load_chat_template(dir.path(), "tool_use").name, "tool_use");
}

TEST(ChatTemplateLoading, MissingOrMalformedFilesAreNamedErrors) {
  TempDir empty;
  expect_error_contains(error_of([&] { load_chat_template(empty.path()); }), {empty.path(), "no chat template"});
  expect_error_contains(error_of([&] { load_chat_template(empty.file("absent")); }), {"absent", "not a directory"});

  TempDir no_template;
  write_file(no_template.file("tokenizer_config.json"), R"({"bos_token": "<s>"})");
  expect_error_contains(error_of([&] { load_chat_template(no_template.path()); }), {"no chat template"});

  TempDir broken;
  write_file(broken.file("tokenizer_config.json"), "{\"chat_template\": \"x\",");
  expect_error_contains(error_of([&] { load_chat_template(broken.path()); }), {"tokenizer_config.json", "invalid JSON"});

  TempDir duplicate;
  write_file(duplicate.file("tokenizer_config.json"), R"({"chat_template": "a", "chat_template": "b"})");
  expect_error_contains(error_of([&] { load_chat_template(duplicate.path()); }), {"tokenizer_config.json", "duplicate key"});

  TempDir wrong_type;
  write_file(wrong_type.file("tokenizer_config.json"), R"({"chat_template": 5})");
  expect_error_contains(error_of([&] { load_chat_template(wrong_type.path()); }), {"tokenizer_config.json", "'chat_template'", "integer"});

  TempDir bad_list;
  write_file(bad_list.file("tokenizer_config.json"), R"({"chat_template": [{"name": "default"}]})");
  expect_error_contains(error_of([&] { load_chat_template(bad_list.path()); }), {"chat_template[0]", "\"template\""});

  TempDir bad_token;
  write_file(bad_token.file("tokenizer_config.json"), R"({"bos_token": 1, "chat_template": "x"})");
  expect_error_contains(error_of([&] { load_chat_template(bad_token.path()); }), {"tokenizer_config.json", "'bos_token'"});

  TempDir no_default;
  write_file(no_default.file("tokenizer_config.json"), R"({"chat_template": [{"name": "a", "template": "x"}, {"name": "b", "template": "y"}]})");
  expect_error_contains(error_of([&] { load_chat_template(no_default.path()); }), {"none is named 'default'"});
}

TEST(ChatTemplateLoading, TemplateErrorsNameTheFile) {
  TempDir dir;
  write_file(dir.file("tokenizer_config.json"), R"({"chat_template": "line one\n{% if %}"})");
  const ModelChatTemplate model = load_chat_template(dir.path());
  expect_error_contains(error_of([&] { ChatTemplate(model.source, model.label); }),
                        {"tokenizer_config.json (chat_template):2:7", "template syntax error"});
}

// ---------------------------------------------------------------------------------------------
// Messages files

TEST(ChatTemplateRequests, ListOrObject) {
  ModelChatTemplate model;
  model.source = "{{ messages | length }} {{ tools | length if tools else 'none' }} {{ documents is none }} {{ add_generation_prompt }} {{ enable_thinking }} {{ bos_token }}";
  model.special_tokens = {{"bos_token", "<s>"}};
  const ChatTemplate tmpl(model.source, "m");
  const ordered_json list = parse_ordered_json(R"([{"role": "user", "content": "a"}])", "list.json");
  EXPECT_EQ(tmpl.render(chat_context_from_request(model, list, false, "list.json")), "1 none True False  <s>");
  EXPECT_EQ(tmpl.render(chat_context_from_request(model, list, true, "list.json")), "1 none True True  <s>");
  const ordered_json object = parse_ordered_json(
      R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
          "tools": [{"type": "function", "function": {"name": "f"}}], "add_generation_prompt": true,
          "enable_thinking": false, "bos_token": "<override>"})",
      "object.json");
  EXPECT_EQ(tmpl.render(chat_context_from_request(model, object, false, "object.json")), "2 1 True True False <override>");
}

TEST(ChatTemplateRequests, MalformedRequestsAreNamedErrors) {
  ModelChatTemplate model;
  auto bad = [&](const char* text) {
    return error_of([&] { chat_context_from_request(model, parse_ordered_json(text, "req.json"), false, "req.json"); });
  };
  expect_error_contains(bad("5"), {"req.json", "list of messages"});
  expect_error_contains(bad(R"({"tools": []})"), {"req.json", "missing \"messages\""});
  expect_error_contains(bad(R"({"messages": {}})"), {"req.json", "\"messages\" must be a list"});
  expect_error_contains(bad(R"([1])"), {"req.json", "messages[0] must be a JSON object"});
  expect_error_contains(bad(R"({"messages": [], "tools": "x"})"), {"req.json", "\"tools\""});
  expect_error_contains(bad(R"({"messages": [], "documents": [1]})"), {"req.json", "documents[0]"});
  expect_error_contains(bad(R"({"messages": [], "add_generation_prompt": "yes"})"), {"req.json", "add_generation_prompt"});
  expect_error_contains(error_of([] { parse_ordered_json("[1, 2", "req.json"); }), {"req.json", "invalid JSON"});
  expect_error_contains(error_of([] { parse_ordered_json(R"({"a": 1, "a": 2})", "req.json"); }), {"req.json", "duplicate key 'a'"});
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "[";
  expect_error_contains(error_of([&] { parse_ordered_json(deep, "req.json"); }), {"req.json", "nested deeper"});
}

TEST(ChatTemplateRequests, RenderModelChatMatchesTheFixtures) {
  // The path `jamba render-chat` takes: a request object and the model directory.
  for (const auto& dir : chat_fixture_dirs()) {
    SCOPED_TRACE(dir.string());
    const std::string cases_path = (dir / "chat_cases.json").string();
    const ordered_json cases = parse_ordered_json(read_text_file(cases_path), cases_path);
    size_t checked = 0;
    for (const auto& c : cases) {
      if (c.contains("error")) continue;
      ordered_json request = {{"messages", c["messages"]}, {"tools", c["tools"]}, {"documents", c["documents"]}};
      EXPECT_EQ(render_model_chat(dir.string(), request, c["add_generation_prompt"].get<bool>(), "request.json"),
                c["text"].get<std::string>());
      ++checked;
    }
    EXPECT_GT(checked, 0u);
  }
}

TEST(ChatTemplateRequests, OrderedParsingKeepsKeyOrder) {
  const ordered_json value = parse_ordered_json(R"({"z": 1, "a": {"y": 2, "b": 3}})", "order.json");
  EXPECT_EQ(value.dump(), R"({"z":1,"a":{"y":2,"b":3}})");
}

}  // namespace
}  // namespace jamba
