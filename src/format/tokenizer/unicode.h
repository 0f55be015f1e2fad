// UTF-8 and Unicode helpers for the tokenizer: code point iteration, the replacement policy of
// Rust's String::from_utf8_lossy (one U+FFFD per maximal ill-formed subpart, as HF `tokenizers`
// decodes bytes), and the character classes / normalization / case mapping the HF components
// use, answered by ICU rather than by hand-written tables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jamba::tok {

// One decoded code point of a valid UTF-8 string starting at byte `i`; advances `i`.
char32_t next_code_point(std::string_view s, size_t& i);
// Byte length of the UTF-8 sequence that starts with `lead` (1 for bytes that are not leads).
size_t utf8_sequence_length(unsigned char lead);
void append_utf8(std::string& out, char32_t c);
size_t utf8_length(char32_t c);
std::string utf8_of(char32_t c);
size_t count_code_points(std::string_view s);

// Returns the offset of the first byte that is not part of well-formed UTF-8, or npos.
size_t find_invalid_utf8(std::string_view s);
// Rust's String::from_utf8_lossy: each maximal ill-formed subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// Character classes, as Rust / the regex engines HF uses define them.
bool is_white_space(char32_t c);     // char::is_whitespace: the White_Space property
bool is_numeric(char32_t c);         // char::is_numeric: general category N*
bool is_punctuation(char32_t c);     // unicode_categories is_punctuation: P* (8.0)
bool is_ascii_punctuation(char32_t c);
bool is_rust_regex_word(char32_t c);  // Rust regex \w: Alphabetic, M, Nd, Pc, Join_Control
// HF's categories come from crates with Unicode 8.0 / 9.0 tables: these follow them (characters
// assigned later are not in any category).
bool is_combining_mark(char32_t c);   // general category M* (unicode-normalization, 9.0)
bool is_mark_nonspacing(char32_t c);  // Mn (unicode_categories, 8.0)
bool is_other(char32_t c);            // Cc, Cf, Co (unicode_categories' is_other, 8.0)
// Whether HF's normalization tables (Unicode 9.0) know `c`; later characters pass through
// NFC / NFD / NFKC / NFKD unchanged and act as starters.
bool known_to_hf_normalization(char32_t c);

enum class NormalForm { NFC, NFD, NFKC, NFKD };

// The (char, change) list that NormalizedString::transform takes to turn `s` into its normal
// form: per normalization segment, the first output chars replace input chars (0), surplus
// output chars are insertions (+1) and a shortfall is folded into the last output char (-n).
// Returns an empty list when `s` is already normalized (the transform would be the identity).
std::vector<std::pair<char32_t, int>> normalize_changes(std::string_view s, NormalForm form);
std::string normalize(std::string_view s, NormalForm form);

// Full lowercase mapping of one code point (Rust's char::to_lowercase: 'İ' -> "i̇").
std::u32string to_lowercase(char32_t c);

}  // namespace jamba::tok
