#include "format/json_document.h"

#include <set>
#include <vector>

#include "base/error.h"

namespace jamba {

template <typename Json>
Json parse_strict_json(const std::string& text, const std::string& label, int max_depth) {
  // One key set per open object, innermost last. nlohmann's DOM parser is iterative, so the
  // depth cap is about what callers do with the document, not about parsing itself.
  std::vector<std::set<std::string>> open_objects;
  auto on_event = [&](int depth, typename Json::parse_event_t event, Json& parsed) {
    using Event = typename Json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (depth >= max_depth) fail(label, ": JSON nested deeper than ", max_depth, " levels");
        if (event == Event::object_start) open_objects.emplace_back();
        break;
      case Event::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Event::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.template get<std::string>()).second)
          fail(label, ": duplicate key ", in_quotes(parsed.template get<std::string>()), " in a JSON object");
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), on_event, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    fail(label, ": invalid JSON: ", json_error_text(e));
  }
}

template nlohmann::json parse_strict_json<nlohmann::json>(const std::string&, const std::string&, int);
template nlohmann::ordered_json parse_strict_json<nlohmann::ordered_json>(const std::string&, const std::string&, int);

nlohmann::json parse_json_document(const std::string& text, const std::string& label) {
  return parse_strict_json<nlohmann::json>(text, label, kMaxJsonDepth);
}

std::string json_error_text(const std::exception& error) {
  std::string text = error.what();
  if (text.rfind("[json.exception.", 0) == 0) {
    size_t close = text.find("] ");
    if (close != std::string::npos) text = text.substr(close + 2);
  }
  // The token nlohmann quotes ("last read: ...") may hold raw bytes of a broken file, such as
  // ill-formed UTF-8: escape everything outside printable ASCII to keep the message one clean line.
  static const char* hex = "0123456789abcdef";
  std::string clean;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      clean += static_cast<char>(c);
    } else {
      clean += "\\x";
      clean += hex[c >> 4];
      clean += hex[c & 15];
    }
  }
  return clean;
}

std::string describe_json(const nlohmann::json& value) {
  auto shown = [&] {
    std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    for (char& c : s)
      if (c == '\n' || c == '\r') c = ' ';
    return s;
  };
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return cat("a boolean ", shown());
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return cat("an integer ", shown());
    case nlohmann::json::value_t::number_float: return cat("a float ", shown());
    case nlohmann::json::value_t::string: return cat("a string ", shown());
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    default: return "a binary value";
  }
}

std::string in_quotes(const std::string& text, size_t max_chars) {
  static const char* hex = "0123456789abcdef";
  std::string out = "'";
  size_t shown = 0;
  for (unsigned char c : text) {
    if (shown == max_chars) {
      out += "...";
      break;
    }
    ++shown;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);  // printable ASCII and UTF-8 bytes pass through
    }
  }
  out += "'";
  return out;
}

}  // namespace jamba
