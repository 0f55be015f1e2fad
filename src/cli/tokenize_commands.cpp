// `jamba tokenize` and `jamba detokenize`: text <-> ids with the model directory's tokenizer
// (tokenizer.json or tokenizer.model; no weights needed), as HF encode / decode give them.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"
#include "format/json_document.h"
#include "format/tokenizer/tokenizer.h"
#include "format/tokenizer/unicode.h"

namespace jamba::cli {

namespace {

// JSON text that stays valid whatever the bytes (ill-formed UTF-8 becomes U+FFFD).
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open the text file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(path, ": cannot read the text file");
  return text.str();
}

}  // namespace

int run_tokenize(const CommonOptions& common, const TokenizeOptions& options) {
  if (options.prompt && !options.text_file.empty()) fail("give the text with -p or with --text-file, not both");
  if (!options.prompt && options.text_file.empty()) fail("no text: give -p TEXT or --text-file FILE");
  const std::string text = options.prompt ? *options.prompt : read_text_file(options.text_file);
  const std::string source = options.prompt ? std::string("-p") : options.text_file;
  if (size_t bad = tok::find_invalid_utf8(text); bad != std::string::npos)
    fail(source, ": the text is not valid UTF-8 (byte ", bad, ")");
  auto tokenizer = Tokenizer::load(common.model_dir);
  const Tokenizer::Encoding enc = tokenizer->encode_with_pieces(text);
  if (common.json) {
    nlohmann::json out = {{"ids", enc.ids}, {"pieces", enc.pieces}};
    std::printf("%s\n", dump(out).c_str());
    return 0;
  }
  for (size_t i = 0; i < enc.ids.size(); ++i)
    std::printf("%8d  %s\n", enc.ids[i], in_quotes(enc.pieces[i], 1000).c_str());
  std::printf("%zu tokens (%s)\n", enc.ids.size(), tokenizer->kind().c_str());
  return 0;
}

int run_detokenize(const CommonOptions& common, const DetokenizeOptions& options) {
  const std::vector<int32_t> ids = parse_token_list(options.tokens, "--tokens");
  auto tokenizer = Tokenizer::load(common.model_dir);
  for (size_t i = 0; i < ids.size(); ++i)
    if (!tokenizer->has_id(ids[i]))
      fail("--tokens: item ", i + 1, ": token id ", ids[i], " is not in the vocabulary of ", tokenizer->path(), " (",
           tokenizer->vocab_size(), " tokens)");
  const std::string text = tokenizer->decode(ids, options.skip_special);
  if (common.json) {
    std::printf("%s\n", dump(nlohmann::json{{"text", text}}).c_str());
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
  }
  return 0;
}

}  // namespace jamba::cli
