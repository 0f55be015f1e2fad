#include "format/tokenizer/byte_level.h"

#include <array>

#include "format/tokenizer/unicode.h"

namespace jamba::tok {

namespace {

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<int, 0x144> to_byte{};
  Tables() {
    to_byte.fill(-1);
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    char32_t n = 0;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = direct[b] ? static_cast<char32_t>(b) : 256 + n++;
      to_byte[to_char[b]] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t b) { return tables().to_char[b]; }

std::optional<uint8_t> char_to_byte(char32_t c) {
  if (c >= 0x144 || tables().to_byte[c] < 0) return std::nullopt;
  return static_cast<uint8_t>(tables().to_byte[c]);
}

Transformation byte_level_transformation(std::string_view s) {
  Transformation out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    next_code_point(s, i);
    for (size_t k = start; k < i; ++k)
      out.emplace_back(byte_to_char(static_cast<uint8_t>(s[k])), k > start ? 1 : 0);
  }
  return out;
}

const Regex& gpt2_regex() {
  static const Regex re = Regex::onig(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  return re;
}

}  // namespace jamba::tok
