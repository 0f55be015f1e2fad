// libFuzzer target: the tokenizer.json reader (HF `tokenizers` pipeline: models, normalizers,
// pre-tokenizers, post-processors, decoders, added tokens) on arbitrary text. A file that loads
// then encodes fixed strings (ASCII, CJK, emoji, control characters, special-token-like text),
// decodes the ids and some arbitrary ids, and streams them through StreamDecoder.
//
// jamba::Error is the expected way to reject input (a bad file, or invalid UTF-8 to encode); any
// other exception, a crash, an out-of-bounds access, a leak, undefined behaviour or a hang is a
// finding. So are broken documented contracts: encode giving ids the vocabulary lacks or ids and
// pieces of different lengths, decode giving invalid UTF-8, StreamDecoder's pieces not adding up
// to decode(). Those abort with a message naming the string and ids.
//
// The loader reads a path (Tokenizer::from_tokenizer_json), so each input is written into a
// memfd and read back through /proc/self/fd/N: no disk traffic, nothing left behind.
//
// JAMBA_FUZZ_VERBOSE=1 prints the load error or the encodings (to check why a seed is rejected):
//   JAMBA_FUZZ_VERBOSE=1 build-fuzz/bin/fuzz_tokenizer tests/fuzz/corpus/tokenizer/*
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_utf8.h"
#include "base/error.h"
#include "format/tokenizer/tokenizer.h"

namespace {

// Where the current input lives while the loader reads it.
class InputFile {
 public:
  InputFile() {
    fd_ = memfd_create("tokenizer.json", 0);
    if (fd_ >= 0) {
      path_ = "/proc/self/fd/" + std::to_string(fd_);
    } else {
      const char* tmp = std::getenv("TMPDIR");
      std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/fuzz_tokenizer.XXXXXX";
      fd_ = mkstemp(templ.data());
      if (fd_ < 0) {
        std::perror("fuzz_tokenizer: cannot create a temporary file");
        std::abort();
      }
      path_ = templ;
      unlink_path_ = true;
    }
  }
  ~InputFile() {
    if (unlink_path_) unlink(path_.c_str());
  }
  const std::string& write(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
  bool unlink_path_ = false;
};

const bool kVerbose = std::getenv("JAMBA_FUZZ_VERBOSE") != nullptr;

std::string show(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "]";
}

[[noreturn]] void finding(const std::string& what, std::string_view text, const std::vector<int32_t>& ids) {
  std::fprintf(stderr, "fuzz_tokenizer: %s\n  text: \"%s\"\n  ids: %s\n", what.c_str(), show(text).c_str(),
               show(ids).c_str());
  std::abort();
}

// decode() must give valid UTF-8, and StreamDecoder's output, concatenated, must equal it.
void check_decode(const jamba::Tokenizer& tokenizer, std::string_view text, const std::vector<int32_t>& ids) {
  for (bool skip : {false, true}) {
    const std::string whole = tokenizer.decode(ids, skip);
    if (!jamba::fuzz::valid_utf8(whole)) finding("decode gave invalid UTF-8: \"" + show(whole) + "\"", text, ids);
    jamba::StreamDecoder stream(tokenizer, skip);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = stream.push(id);
      if (!jamba::fuzz::valid_utf8(piece)) finding("StreamDecoder::push gave invalid UTF-8: \"" + show(piece) + "\"", text, ids);
      streamed += piece;
    }
    streamed += stream.finish();
    if (streamed != whole)
      finding(std::string("StreamDecoder (skip_special=") + (skip ? "true" : "false") + ") gave \"" + show(streamed) +
                  "\", decode gave \"" + show(whole) + "\"",
              text, ids);
  }
}

// Fixed texts to encode: the cases real prompts hit and the ones tokenizers get wrong.
constexpr char kControl[] = "ctl \x00\x01\x1f\x7f end\xC2\x85\xE2\x80\xA8\xE2\x80\xA9\xEF\xBB\xBF";

const std::vector<std::string_view>& sample_texts() {
  static const std::vector<std::string_view> texts = {
      "",
      "Hello, world! The quick brown fox jumps over the lazy dog.",
      "  leading  and trailing spaces  \n\n\tTabs\tand\r\nCRLF ",
      "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6\xEF\xBC\x8C\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE"
      "\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x80\x81\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
      "emoji \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD family \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D"
      "\xF0\x9F\x91\xA7 flag \xF0\x9F\x87\xBA\xF0\x9F\x87\xB8",
      std::string_view(kControl, sizeof kControl - 1),
      "<|im_start|>user\nhi<|im_end|><s></s><unk><pad><|endoftext|><|startoftext|><|bom|><|eom|><mask> <sep>  "
      "<|both|> [CLS] [SEP] [UNK]",
      "caf\xC3\xA9 cafe\xCC\x81 \xC3\x85 \xE2\x84\xA6 \xEF\xAC\x81 \xE2\x91\xA0 \xC2\xBD \xC4\xB0 \xC3\x9F "
      "don\xE2\x80\x99t ACME ACMEcorp New York",
      "\xE2\x96\x81\xE2\x96\x81 \xC4\xA0\xC4\xA0 ## <0x41><0xE4><0xFF> \\u0000",
      "1234567890 3.14159 -42 x=y+z; f(a,b) {}[]",
      "supercalifragilisticexpialidocious_antidisestablishmentarianism_pneumonoultramicroscopicsilicovolcanoconiosis"
      "_supercalifragilisticexpialidocious_antidisestablishmentarianism",
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4"
      "\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87 \xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0"
      "\xB8\xB5 \xCE\xB3\xCE\xB5\xCE\xB9\xCE\xAC",
  };
  return texts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static InputFile file;
  std::unique_ptr<jamba::Tokenizer> tokenizer;
  try {
    tokenizer = jamba::Tokenizer::from_tokenizer_json(file.write(data, size));
  } catch (const jamba::Error& e) {
    if (kVerbose) std::fprintf(stderr, "load error: %s\n", e.what());
    return 0;
  }

  const int64_t limit = tokenizer->id_limit();
  (void)tokenizer->vocab_size();

  // Encode the fixed texts; decode what comes back.
  for (std::string_view text : sample_texts()) {
    for (bool add_special : {true, false}) {
      jamba::Tokenizer::Encoding enc;
      try {
        enc = tokenizer->encode_with_pieces(text, add_special);
      } catch (const jamba::Error& e) {
        if (kVerbose) std::fprintf(stderr, "encode error: %s\n", e.what());
        continue;  // e.g. a Split regex that fails to match (PCRE2 match limit)
      }
      if (kVerbose)
        std::fprintf(stderr, "encode(\"%s\", %d) = %s\n", show(text).c_str(), add_special, show(enc.ids).c_str());
      if (enc.ids.size() != enc.pieces.size())
        finding("encode gave " + std::to_string(enc.ids.size()) + " ids but " + std::to_string(enc.pieces.size()) +
                    " pieces",
                text, enc.ids);
      for (int32_t id : enc.ids)
        if (!tokenizer->has_id(id))
          finding("encode gave id " + std::to_string(id) + ", not in the vocabulary", text, enc.ids);
      check_decode(*tokenizer, text, enc.ids);
    }
  }
  // Invalid UTF-8 must be refused with jamba::Error.
  try {
    tokenizer->encode("bad \xFF\xFE utf-8 \xED\xA0\x80");
  } catch (const jamba::Error&) {
  }

  // Arbitrary ids: the first ones, the edges, unknown ones, byte tokens in runs (partial UTF-8
  // sequences), and ids picked by the input bytes.
  std::vector<int32_t> ids;
  std::vector<int32_t> byte_tokens;
  for (int64_t id = 0; id < std::min<int64_t>(limit, 512); ++id) {
    const auto i = static_cast<int32_t>(id);
    if (id < 48) ids.push_back(i);
    if (byte_tokens.size() < 12 && tokenizer->is_byte_token(i)) byte_tokens.push_back(i);
    (void)tokenizer->is_special(i);
    if (auto token = tokenizer->id_to_token(i)) (void)tokenizer->token_to_id(*token);
  }
  for (int64_t id : {limit - 1, limit, int64_t{-1}, int64_t{std::numeric_limits<int32_t>::max()},
                     int64_t{std::numeric_limits<int32_t>::min()}})
    if (id >= std::numeric_limits<int32_t>::min() && id <= std::numeric_limits<int32_t>::max())
      ids.push_back(static_cast<int32_t>(id));
  for (int32_t b : byte_tokens) ids.push_back(b);
  for (size_t k = 0; k < byte_tokens.size(); k += 2)
    ids.insert(ids.begin() + static_cast<std::ptrdiff_t>(std::min(k * 3, ids.size())), byte_tokens[k]);
  if (limit > 0 && size > 0)
    for (size_t k = 0; k < 24; ++k) {
      const uint32_t pick = uint32_t{data[(k * 131) % size]} * 257u + uint32_t{data[(k * 17 + 5) % size]};
      ids.push_back(static_cast<int32_t>(pick % static_cast<uint64_t>(limit)));
    }
  for (int32_t id : ids) {
    (void)tokenizer->has_id(id);
    (void)tokenizer->is_special(id);
    if (auto token = tokenizer->id_to_token(id)) (void)tokenizer->token_to_id(*token);
  }
  check_decode(*tokenizer, "<arbitrary ids>", ids);
  return 0;
}
