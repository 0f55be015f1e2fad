#include "format/chat_template/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/chat_template/interpreter.h"
#include "format/gguf.h"
#include "format/chat_template/parser.h"
#include "format/chat_template/unicode.h"
#include "format/json_document.h"

namespace jamba {

namespace {

constexpr int kMaxRequestJsonDepth = 256;
constexpr size_t kMaxMessageChars = 2000;

// Messages from templates (raise_exception) and inputs go on one line: escape control characters.
std::string one_line(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= kMaxMessageChars) {
      out += "...";
      break;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static const char* hex = "0123456789abcdef";
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string located(const std::string& label, int line, int column) {
  std::string out = label;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  return out;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, std::string label) : label_(std::move(label)) {
  const size_t bad = chat_template::invalid_utf8_offset(source);
  if (bad != std::string::npos) fail(label_, ": chat template is not valid UTF-8 (byte offset ", bad, ")");
  try {
    template_ = chat_template::parse_template(source);
  } catch (const chat_template::TemplateError& error) {
    fail(located(label_, error.line, error.column), ": template syntax error: ", one_line(error.what()));
  }
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context, const ChatTemplateOptions& options) const {
  if (!context.is_object()) fail(label_, ": the render context must be a JSON object of template variables");
  chat_template::RenderLimits limits;
  limits.max_output_bytes = options.max_output_bytes;
  limits.max_steps = options.max_steps;
  chat_template::Interpreter interpreter(*template_, limits, options.now);
  try {
    std::vector<std::pair<std::string, chat_template::Value>> variables;
    for (const auto& [key, value] : context.items()) variables.emplace_back(key, chat_template::Value::from_json(value));
    return interpreter.render(variables);
  } catch (const chat_template::RaisedError& error) {
    fail(located(label_, error.line, 0), ": the template raised an error: ", one_line(error.what()));
  } catch (const chat_template::TemplateError& error) {
    fail(located(label_, error.line, error.column), ": ", one_line(error.what()));
  }
}

std::string render_chat_template(const std::string& template_source, const nlohmann::ordered_json& context,
                                 const std::string& label, const ChatTemplateOptions& options) {
  return ChatTemplate(template_source, label).render(context, options);
}

nlohmann::ordered_json parse_ordered_json(const std::string& text, const std::string& label) {
  return parse_strict_json<nlohmann::ordered_json>(text, label, kMaxRequestJsonDepth);
}

nlohmann::ordered_json read_special_tokens(const nlohmann::ordered_json& config, const std::string& label) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  if (!config.is_object()) return tokens;
  auto token_text = [&](const nlohmann::ordered_json& value, const std::string& field) -> std::string {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_object() && value.contains("content") && value["content"].is_string())
      return value["content"].get<std::string>();
    fail(label, ": field '", field, "' must be a string or an object with a string \"content\", found ",
         describe_json(nlohmann::json::parse(value.dump())));
  };
  static const char* const kNamed[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
  for (const char* field : kNamed) {
    if (!config.contains(field) || config[field].is_null()) continue;
    const std::string text = token_text(config[field], field);
    if (!text.empty()) tokens[field] = text;
  }
  if (config.contains("additional_special_tokens") && !config["additional_special_tokens"].is_null()) {
    const auto& list = config["additional_special_tokens"];
    if (!list.is_array()) fail(label, ": field 'additional_special_tokens' must be a list");
    nlohmann::ordered_json texts = nlohmann::ordered_json::array();
    for (const auto& item : list) texts.push_back(token_text(item, "additional_special_tokens"));
    if (!texts.empty()) tokens["additional_special_tokens"] = texts;
  }
  return tokens;
}

ModelChatTemplate load_chat_template(const std::string& model_dir, const std::string& name, bool with_tools) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  std::error_code ec;

  struct Candidate {
    std::string name, source, label;
  };
  std::vector<Candidate> templates;
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();

  if (fs::is_regular_file(dir, ec)) {
    // A GGUF model file: tokenizer.chat_template ("default") and tokenizer.chat_template.<name>,
    // special tokens by id from tokenizer.ggml.*_token_id.
    const GgufFile file(model_dir);
    const GgufMetadata m = file.metadata();
    const std::string prefix = "tokenizer.chat_template";
    for (const auto& [key, value] : file.header().metadata) {
      if (key.compare(0, prefix.size(), prefix) != 0 || value.type != GgufValueType::STRING) continue;
      if (key == prefix) templates.push_back({"default", value.str, model_dir + " (" + key + ")"});
      else if (key.size() > prefix.size() + 1 && key[prefix.size()] == '.')
        templates.push_back({key.substr(prefix.size() + 1), value.str, model_dir + " (" + key + ")"});
    }
    if (m.has("tokenizer.ggml.tokens")) {
      const std::vector<std::string>& tokens = m.string_array("tokenizer.ggml.tokens");
      const std::pair<const char*, const char*> keys[] = {{"bos_token", "tokenizer.ggml.bos_token_id"},
                                                          {"eos_token", "tokenizer.ggml.eos_token_id"},
                                                          {"unk_token", "tokenizer.ggml.unknown_token_id"},
                                                          {"pad_token", "tokenizer.ggml.padding_token_id"}};
      for (const auto& [token_name, key] : keys)
        if (const auto id = m.optional_integer(key, 0, static_cast<int64_t>(tokens.size()) - 1))
          special_tokens[token_name] = tokens[static_cast<size_t>(*id)];
    }
    if (templates.empty()) fail(model_dir, ": no chat template (the GGUF file has no tokenizer.chat_template)");
  } else if (!fs::is_directory(dir, ec)) {
    fail(model_dir, ": not a directory");
  }

  const fs::path jinja = dir / "chat_template.jinja";
  if (fs::is_directory(dir, ec) && fs::exists(jinja, ec)) templates.push_back({"default", read_text_file(jinja.string()), jinja.string()});
  const fs::path extra_dir = dir / "additional_chat_templates";
  if (fs::is_directory(dir, ec) && fs::is_directory(extra_dir, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(extra_dir, ec))
      if (entry.path().extension() == ".jinja") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) templates.push_back({file.stem().string(), read_text_file(file.string()), file.string()});
  }

  const fs::path config_path = dir / "tokenizer_config.json";
  if (fs::is_directory(dir, ec) && fs::exists(config_path, ec)) {
    const std::string label = config_path.string();
    const nlohmann::ordered_json config = parse_ordered_json(read_text_file(label), label);
    if (!config.is_object()) fail(label, ": expected a JSON object");
    special_tokens = read_special_tokens(config, label);
    const bool from_files = !templates.empty();  // the .jinja files replace the config's template
    if (!from_files && config.contains("chat_template") && !config["chat_template"].is_null()) {
      const auto& value = config["chat_template"];
      const std::string where = label + " (chat_template)";
      if (value.is_string()) {
        templates.push_back({"default", value.get<std::string>(), where});
      } else if (value.is_array()) {
        for (size_t i = 0; i < value.size(); ++i) {
          const auto& item = value[i];
          if (!item.is_object() || !item.contains("name") || !item["name"].is_string() ||
              !item.contains("template") || !item["template"].is_string())
            fail(label, ": chat_template[", i, "] must be an object with string fields \"name\" and \"template\"");
          const std::string item_name = item["name"].get<std::string>();
          templates.push_back({item_name, item["template"].get<std::string>(), label + " (chat_template '" + item_name + "')"});
        }
      } else {
        fail(label, ": field 'chat_template' must be a string or a list of {\"name\", \"template\"}, found ",
             describe_json(nlohmann::json::parse(value.dump())));
      }
    }
  }
  if (templates.empty())
    fail(model_dir, ": no chat template (looked for chat_template.jinja and the \"chat_template\" field of tokenizer_config.json)");

  auto find = [&](const std::string& wanted) -> const Candidate* {
    for (const auto& candidate : templates)
      if (candidate.name == wanted) return &candidate;
    return nullptr;
  };
  const Candidate* chosen = nullptr;
  if (!name.empty()) {
    chosen = find(name);
    if (!chosen) {
      std::string names;
      for (const auto& candidate : templates) names += (names.empty() ? "'" : ", '") + candidate.name + "'";
      fail(model_dir, ": no chat template named '", name, "' (available: ", names, ")");
    }
  } else if (templates.size() == 1) {
    chosen = &templates[0];
  } else {
    if (with_tools) chosen = find("tool_use");
    if (!chosen) chosen = find("default");
    if (!chosen)
      fail(model_dir, ": the model has several chat templates and none is named 'default'; choose one by name");
  }
  ModelChatTemplate result;
  result.source = chosen->source;
  result.label = chosen->label;
  result.name = chosen->name;
  result.special_tokens = std::move(special_tokens);
  return result;
}

nlohmann::ordered_json make_chat_context(const ModelChatTemplate& model, const nlohmann::ordered_json& messages,
                                         const nlohmann::ordered_json& tools, const nlohmann::ordered_json& documents,
                                         bool add_generation_prompt, const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  for (const auto& [key, value] : model.special_tokens.items()) context[key] = value;
  context["messages"] = messages;
  context["tools"] = tools;
  context["documents"] = documents;
  context["add_generation_prompt"] = add_generation_prompt;
  if (extra.is_object())
    for (const auto& [key, value] : extra.items()) context[key] = value;
  return context;
}

nlohmann::ordered_json chat_context_from_request(const ModelChatTemplate& model, const nlohmann::ordered_json& request,
                                                 bool add_generation_prompt, const std::string& label) {
  auto check_list_of_objects = [&](const nlohmann::ordered_json& value, const char* field) {
    if (value.is_null()) return;
    if (!value.is_array()) fail(label, ": \"", field, "\" must be a list of JSON objects or null");
    for (size_t i = 0; i < value.size(); ++i)
      if (!value[i].is_object()) fail(label, ": ", field, "[", i, "] must be a JSON object");
  };
  if (request.is_array()) {
    check_list_of_objects(request, "messages");
    return make_chat_context(model, request, nullptr, nullptr, add_generation_prompt);
  }
  if (!request.is_object())
    fail(label, ": expected a list of messages or an object with \"messages\"");
  if (!request.contains("messages")) fail(label, ": missing \"messages\"");
  const auto& messages = request["messages"];
  if (!messages.is_array()) fail(label, ": \"messages\" must be a list of JSON objects");
  check_list_of_objects(messages, "messages");
  nlohmann::ordered_json tools = request.contains("tools") ? request["tools"] : nlohmann::ordered_json();
  nlohmann::ordered_json documents = request.contains("documents") ? request["documents"] : nlohmann::ordered_json();
  check_list_of_objects(tools, "tools");
  check_list_of_objects(documents, "documents");
  bool prompt = add_generation_prompt;
  if (request.contains("add_generation_prompt")) {
    if (!request["add_generation_prompt"].is_boolean()) fail(label, ": \"add_generation_prompt\" must be true or false");
    prompt = prompt || request["add_generation_prompt"].get<bool>();
  }
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  for (const auto& [key, value] : request.items())
    if (key != "messages" && key != "tools" && key != "documents" && key != "add_generation_prompt") extra[key] = value;
  return make_chat_context(model, messages, tools, documents, prompt, extra);
}

std::string render_model_chat(const std::string& model_dir, const nlohmann::ordered_json& request,
                              bool add_generation_prompt, const std::string& request_label,
                              const ChatTemplateOptions& options) {
  const bool with_tools = request.is_object() && request.contains("tools") && !request["tools"].is_null();
  const ModelChatTemplate model = load_chat_template(model_dir, "", with_tools);
  const ChatTemplate tmpl(model.source, model.label);
  return tmpl.render(chat_context_from_request(model, request, add_generation_prompt, request_label), options);
}

}  // namespace jamba
