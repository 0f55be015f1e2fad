// Chat templates: the Jinja templates Hugging Face models ship to turn a conversation into the
// prompt text, rendered here byte-for-byte as transformers' apply_chat_template(tokenize=False)
// renders them, by our own Jinja2 interpreter (src/format/chat_template/*), without Python.
//
// Supported: the Jinja2 3.1 language as chat templates use it — {{ }}, {% %}, {# #}, whitespace
// control ({%- -%} {{- -}} {%+ +%}), trim_blocks/lstrip_blocks, raw blocks, if/elif/else,
// for (tuple unpacking, loop.*, else, inline if-filter, break/continue), set (incl. namespaces
// and block sets), macros (defaults, varargs/kwargs, caller), call blocks, filter blocks, with,
// HF's generation blocks; every operator, literal, slice and test; the built-in filters (except
// pprint, random, striptags, urlencode, urlize, wordwrap and xmlattr), HF's tojson; the methods
// of str/dict/list that templates call; range, dict, namespace, joiner, raise_exception and
// strftime_now. Values behave as Python's do (str()/repr(), ==, <, truth, integer vs float,
// Undefined), inside HF's immutable sandbox (list.append & co. are refused, as there).
//
// Not supported (each is an error, never a silent difference): integers beyond 64 bits,
// "\N{name}" string escapes, recursive for-loops, include/extends/import/autoescape. Known
// cosmetic differences: dict.items()/keys()/values() print as lists, not dict_items([...]);
// upper/lower/title map ASCII, Latin, Greek, Cyrillic and Armenian letters only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace jamba {

namespace chat_template {
struct Template;
}

struct ChatTemplateOptions {
  // The clock strftime_now reads (local time); the real time when unset.
  std::optional<std::time_t> now;
  // Upper bounds that turn a runaway template into an error instead of a hang or an OOM.
  size_t max_output_bytes = size_t{64} << 20;
  uint64_t max_steps = 20'000'000;
};

// A parsed template, reusable for many renders (a chat re-renders every turn).
class ChatTemplate {
 public:
  // Parses `source`. Throws jamba::Error("<label>:<line>:<column>: <what>") on syntax errors,
  // unknown filters/tests and invalid UTF-8.
  ChatTemplate(const std::string& source, std::string label);

  // Renders with the members of `context` (an object) as the template's variables. Object keys
  // keep their order (tojson and dict iteration show it), so parse inputs as ordered_json.
  // Throws jamba::Error naming the label and line on runtime errors, including the template's
  // own raise_exception("...").
  std::string render(const nlohmann::ordered_json& context, const ChatTemplateOptions& options = {}) const;

  const std::string& label() const { return label_; }

 private:
  std::shared_ptr<const chat_template::Template> template_;
  std::string label_;
};

// Parse + render in one call.
std::string render_chat_template(const std::string& template_source, const nlohmann::ordered_json& context,
                                 const std::string& label, const ChatTemplateOptions& options = {});

// What a model directory says about chat formatting.
struct ModelChatTemplate {
  std::string source;  // the template text
  std::string label;   // where it came from, for error messages
  std::string name;    // "default", "tool_use", ... ("default" for a single template)
  // The named special tokens as transformers' special_tokens_map gives them to the template:
  // bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token (strings, only
  // those set) and additional_special_tokens (a list).
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
};

// Finds a model directory's chat template the way transformers does: chat_template.jinja (and
// additional_chat_templates/*.jinja) when present, else tokenizer_config.json's "chat_template"
// (a string, or a list of {"name", "template"}). With several templates, `name` picks one;
// without a name, "tool_use" is chosen when `with_tools` and it exists, else "default".
// Special tokens come from tokenizer_config.json (strings or {"content": ...} objects).
// `model_dir` may also be a GGUF file: tokenizer.chat_template (+ tokenizer.chat_template.<name>)
// and the tokenizer.ggml.*_token_id tokens.
// Throws jamba::Error naming the file when there is no template or a file is malformed.
ModelChatTemplate load_chat_template(const std::string& model_dir, const std::string& name = "",
                                     bool with_tools = false);

// The special tokens of a tokenizer_config.json (see ModelChatTemplate::special_tokens).
nlohmann::ordered_json read_special_tokens(const nlohmann::ordered_json& tokenizer_config, const std::string& label);

// The variables apply_chat_template gives the template: the special tokens, messages, tools,
// documents (null when absent) and add_generation_prompt, then `extra` (extra keyword arguments
// such as enable_thinking; they override the others, as in transformers).
nlohmann::ordered_json make_chat_context(const ModelChatTemplate& model, const nlohmann::ordered_json& messages,
                                         const nlohmann::ordered_json& tools, const nlohmann::ordered_json& documents,
                                         bool add_generation_prompt,
                                         const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

// A conversation as a messages file holds it: either a JSON array of messages, or an object with
// "messages" and optionally "tools", "documents", "add_generation_prompt" and any other template
// variables. `add_generation_prompt` (e.g. a CLI flag) turns the prompt on even when the file
// does not. Returns the render context. Throws jamba::Error naming `label` on malformed input.
nlohmann::ordered_json chat_context_from_request(const ModelChatTemplate& model, const nlohmann::ordered_json& request,
                                                 bool add_generation_prompt, const std::string& label);

// What `jamba render-chat` prints: the template of `model_dir` (load_chat_template, choosing
// "tool_use" when the request has tools) rendered for a request as chat_context_from_request
// reads it. Throws jamba::Error naming the file at fault.
std::string render_model_chat(const std::string& model_dir, const nlohmann::ordered_json& request,
                              bool add_generation_prompt, const std::string& request_label,
                              const ChatTemplateOptions& options = {});

// JSON text -> ordered_json, keeping object key order as Python's json.loads does. Errors
// (syntax with line/column, duplicate keys, nesting deeper than 256) name `label`.
nlohmann::ordered_json parse_ordered_json(const std::string& text, const std::string& label);

}  // namespace jamba
