// GPT-2's byte <-> printable character table (bytes_to_unicode) and its pre-tokenizing regex,
// shared by the ByteLevel normalizer, pre-tokenizer and decoder.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "format/tokenizer/normalized_string.h"
#include "format/tokenizer/regex.h"

namespace jamba::tok {

char32_t byte_to_char(uint8_t b);
std::optional<uint8_t> char_to_byte(char32_t c);
// Each byte of `s` as its printable char; the 2nd..nth byte of a UTF-8 char are insertions.
Transformation byte_level_transformation(std::string_view s);
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (Oniguruma meaning).
const Regex& gpt2_regex();

}  // namespace jamba::tok
