// The few Unicode facts a Jinja template needs, defined the way Python's str defines them:
// code-point iteration over UTF-8, whitespace and line breaks as str.isspace()/str.splitlines()
// see them, printability for repr(), and simple one-to-one case mapping.
//
// Case mapping covers ASCII, Latin-1, Latin Extended-A/Additional, Greek, Cyrillic, Armenian and
// fullwidth Latin; other scripts are left unchanged, and one-to-many mappings (ß -> SS) keep the
// character. Chat templates apply upper/lower/title to role names and keys, so this is enough.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace jamba::chat_template {

// Decodes the code point at `pos` and advances past it. A byte that does not start a valid UTF-8
// sequence decodes as U+DC80+byte (Python's surrogateescape), which append_utf8 writes back as
// the same byte, so strings round-trip unchanged.
char32_t next_code_point(std::string_view text, size_t& pos);
void append_utf8(std::string& out, char32_t code_point);
std::u32string to_u32(std::string_view text);
std::string to_utf8(std::u32string_view text);
size_t code_point_count(std::string_view text);
// Offset of the first byte that is not valid UTF-8, or npos.
size_t invalid_utf8_offset(std::string_view text);

bool py_isspace(char32_t c);      // str.isspace(); also what Python's re `\s` matches
bool py_islinebreak(char32_t c);  // a boundary for str.splitlines()
bool py_isprintable(char32_t c);  // str.isprintable(), used by repr()
bool py_isalpha(char32_t c);
bool py_isdecimal(char32_t c);
bool py_isdigit(char32_t c);
bool py_isnumeric(char32_t c);
bool py_isalnum(char32_t c);
bool py_isword(char32_t c);  // Python's re `\w`
char32_t py_upper(char32_t c);
char32_t py_lower(char32_t c);
bool py_iscased(char32_t c);
bool py_isupper_char(char32_t c);
bool py_islower_char(char32_t c);

}  // namespace jamba::chat_template
