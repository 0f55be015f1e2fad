// The Jinja2 subset interpreter behind chat templates (src/format/chat_template/): every language
// feature chat templates use, Python's value semantics, Hugging Face's environment (trim_blocks,
// lstrip_blocks, tojson without HTML escaping, loop controls, raise_exception, strftime_now), and
// the errors and limits that keep malformed or hostile templates from crashing or hanging.
//
// The expected strings in the tables below are what Jinja2 3.1.6 renders for the same template
// and context in transformers' environment (ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True) + loopcontrols + HF's tojson/raise_exception/strftime_now, the clock fixed
// at 2023-11-14 22:13:20 UTC), recorded once from Jinja2 itself.
#include <cstdlib>
#include <ctime>
#include <string>

#include <gtest/gtest.h>

#include "base/error.h"
#include "format/chat_template/chat_template.h"
#include "support/expect_error.h"

namespace jamba {
namespace {

using test::error_of;
using test::expect_error_contains;

constexpr std::time_t kFixedNow = 1700000000;  // 2023-11-14 22:13:20 UTC

// The variables every table case renders with.
const char* kContext = R"json({
  "messages": [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1, "y": "é"}}}]}, {"role": "tool", "content": "42"}, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]}],
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
  "documents": [{"title": "T1", "text": "Doc one"}, {"text": "Doc two", "source": "web"}],
  "add_generation_prompt": true,
  "bos_token": "<s>",
  "eos_token": "</s>",
  "d": {"b": 1, "a": 2, "C": 3},
  "n": null,
  "t": true,
  "f": false,
  "i": 42,
  "x": 3.5,
  "neg": -7,
  "s": "Hello World",
  "u": "héllo wörld ß",
  "e": "",
  "l": [3, 1, 2],
  "ll": [],
  "nested": {"a": {"b": [1, {"c": "deep"}]}},
  "users": [{"name": "bob", "age": 30, "admin": true}, {"name": "Alice", "age": 25, "admin": false}, {"name": "carol", "age": 35}]
})json";

struct RenderCase {
  const char* name;
  const char* source;
  const char* expected;
};

struct ErrorCase {
  const char* name;
  const char* source;
  const char* needle;  // part of the error message
};

// strftime_now reads local time; the expectations were recorded in UTC.
class UtcClock {
 public:
  UtcClock() {
    const char* old = std::getenv("TZ");
    had_tz_ = old != nullptr;
    if (had_tz_) old_tz_ = old;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  ~UtcClock() {
    if (had_tz_) setenv("TZ", old_tz_.c_str(), 1);
    else unsetenv("TZ");
    tzset();
  }

 private:
  bool had_tz_ = false;
  std::string old_tz_;
};

std::string render(const std::string& source, const nlohmann::ordered_json& context = nlohmann::ordered_json::parse(kContext)) {
  ChatTemplateOptions options;
  options.now = kFixedNow;
  return render_chat_template(source, context, "test.jinja", options);
}

template <size_t N>
void expect_renders(const RenderCase (&cases)[N]) {
  UtcClock utc;
  const auto context = nlohmann::ordered_json::parse(kContext);
  for (const RenderCase& c : cases) {
    SCOPED_TRACE(c.name);
    try {
      EXPECT_EQ(render(c.source, context), c.expected) << "template: " << c.source;
    } catch (const Error& e) {
      ADD_FAILURE() << "threw: " << e.what() << "\ntemplate: " << c.source;
    }
  }
}

const RenderCase kWhitespaceCases[] = {
    {"trim_blocks_removes_newline_after_block",
     R"(a
{% if t %}
b
{% endif %}
c
)",
     R"(a
b
c)"},
    {"lstrip_blocks_removes_indentation",
     R"(a
  {% if t %}
  b
  {% endif %}
  c)",
     R"(a
  b
  c)"},
    {"minus_strips_both_sides",
     "  {%- if t %} x {% endif -%}  \n y",
     " x y"},
    {"no_lstrip_after_output_on_same_line",
     "{{ s }}   {% if t %}X{% endif %}",
     "Hello World   X"},
    {"plus_disables_lstrip",
     "x  {%+ if t %}y{% endif %}",
     "x  y"},
    {"plus_disables_trim",
     R"(x
  {%+ if t +%}
y{% endif %})",
     "x\n  \ny"},
    {"comment_whitespace_control",
     "a {#- comment -#} b",
     "ab"},
    {"comment_line_removed",
     R"(a
  {# comment #}
b)",
     R"(a
b)"},
    {"multiline_comment_line_removed",
     "a\n    {# comment\nmulti #}   \nb",
     "a\n   \nb"},
    {"raw_block",
     "{% raw %}{{ not evaluated }}{% endraw %}",
     "{{ not evaluated }}"},
    {"raw_block_whitespace_control",
     "  {% raw -%}   {{ x }}  {%- endraw %}  end",
     "{{ x }}  end"},
    {"crlf_and_cr_become_newlines",
     "line1\r\nline2\rline3\n",
     R"(line1
line2
line3)"},
    {"one_trailing_newline_dropped",
     R"(trailing

)",
     R"(trailing
)"},
    {"output_minus_strips",
     "<  {{- s -}}  >",
     "<Hello World>"},
    {"braces_in_strings_and_dicts",
     "{{ '{{' }} {{ '}}' }} {{ {'a': {'b': 1}} }} {% set x = \"%}\" %}{{ x }}",
     "{{ }} {'a': {'b': 1}} %}"},
    {"loop_with_minus_everywhere",
     R"({%- for m in messages -%}
  {{ m.role }}
{%- endfor %})",
     "systemuserassistanttooluser"},
    {"loop_with_trim_and_lstrip",
     R"({% for m in messages %}
    {{ m.role }}
{% endfor %})",
     R"(    system
    user
    assistant
    tool
    user
)"},
    {"block_tag_alone_on_line",
     "{% if t %}   \n{% endif %}",
     "   \n"},
    {"minus_inside_markers",
     R"(<{% if t -%}
   a
{%- endif %}>)",
     "<a>"},
    {"set_block_keeps_inner_whitespace",
     R"({% set x %}
  body
{% endset %}[{{ x }}])",
     R"([  body
])"},
    {"tab_and_ideographic_space_are_lstripped",
     "\t{% if t %}tab{% endif %}\n\u3000{% if t %}ideo{% endif %}",
     "tabideo"},
    {"data_newlines_kept",
     R"(a{% if t %}

b{% endif %})",
     R"(a
b)"},
    {"comment_then_output",
     R"({#- c #}
{{ 1 }}
{# c #}
{{ 2 }})",
     R"(1
2)"},
    {"mixed_markers",
     R"({%- set x = 1 -%}
  {%- if x == 1 -%}
    one
  {%- elif x == 2 -%}
    two
  {%- endif -%}
)",
     "one"},
    {"line_statement_syntax_is_plain_text",
     R"(# for x in l
{{ x }}
## done)",
     R"(# for x in l
3.5
## done)"},
    {"comment_hides_tags",
     "{# {{ x }} {% if %} #}ok",
     "ok"},
    {"macro_body_whitespace",
     R"({% macro m(a) -%}
   X{{ a }}
{%- endmacro %}[{{ m(1) }}])",
     "[X1]"},
};

const RenderCase kLiteralsCases[] = {
    {"integers",
     "{{ 7 }} {{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 00 }}",
     "7 1000 31 5 15 0"},
    {"floats",
     "{{ 1.5e3 }} {{ 1e-3 }} {{ 0.5 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 3.0 }} {{ 1_000.5 }}",
     "1500.0 0.001 0.5 1e+16 1000000000000000.0 0.0001 1e-05 3.0 1000.5"},
    {"float_repr",
     "{{ [0.1, 1/3, 2/3, 1e22, 1.5e-10, 123456789012345678.0, 5e-324, 1.7976931348623157e308, 100.0, 9.999999999999999e15, 0.1 + 0.2] }}",
     "[0.1, 0.3333333333333333, 0.6666666666666666, 1e+22, 1.5e-10, 1.2345678901234568e+17, 5e-324, 1.7976931348623157e+308, 100.0, 1e+16, 0.30000000000000004]"},
    {"string_escapes",
     "{{ \"a\\nb\\t\\\\\\u00e9\\x41\\101\\q\" }}|{{ 'it\\'s' }}|{{ '\\U0001F600' }}",
     "a\nb\t\\éAA\\q|it's|😀"},
    {"adjacent_strings_concatenate",
     "{{ 'it''s' }}{{ \"x\" 'y' }}",
     "itsxy"},
    {"constants",
     "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }} {{ n }}",
     "True True False None None None"},
    {"collections",
     "{{ (1, 2) }} {{ (1,) }} {{ () }} {{ [] }} {{ {} }} {{ {'a': 1, 2: 'b', none: true} }}",
     "(1, 2) (1,) () [] {} {'a': 1, 2: 'b', None: True}"},
    {"tuple_at_top_level",
     "{{ 1, 'a' }}",
     "(1, 'a')"},
    {"python_repr_of_strings",
     "{{ [none, true, false, 1.0, 'q\"', \"q'\", 'b\\\\s', \"'\\\"\", '\\x00', '\\t', '\\u200b', '\\u00a0', '\\x7f', 'é', '😀'] }}",
     "[None, True, False, 1.0, 'q\"', \"q'\", 'b\\\\s', '\\'\"', '\\x00', '\\t', '\\u200b', '\\xa0', '\\x7f', 'é', '😀']"},
    {"nested_repr",
     "{{ users }} {{ messages[2].tool_calls }} {{ nested }}",
     "[{'name': 'bob', 'age': 30, 'admin': True}, {'name': 'Alice', 'age': 25, 'admin': False}, {'name': 'carol', 'age': 35}] [{'type': 'function', 'function': {'name': 'f', 'arguments': {'x': 1, 'y': 'é'}}}] {'a': {'b': [1, {'c': 'deep'}]}}"},
};

const RenderCase kOperatorsCases[] = {
    {"arithmetic_precedence",
     "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 2 * -3 }} {{ - - 3 }}",
     "7 9 64 4 -6 3"},
    {"division",
     "{{ 1 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7.5 // 2 }} {{ -7.5 // 2 }} {{ 10 // -3 }}",
     "0.5 2.0 3 -4 3.0 -4.0 -4"},
    {"modulo",
     "{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 10.5 % 3 }} {{ -10.5 % 3 }}",
     "1 2 -2 1.5 1.5"},
    {"powers",
     "{{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2.0 ** 0.5 }} {{ 0 ** 0 }} {{ 2 ** 62 }}",
     "1024 0.5 1.4142135623730951 1 4611686018427387904"},
    {"mixed_numbers",
     "{{ 1.5 + 1 }} {{ t + 1 }} {{ true + true }} {{ t * 3 }} {{ 7 / 7 }}",
     "2.5 2 2 3 1.0"},
    {"unary",
     "{{ -x }} {{ +i }} {{ -neg }} {{ -1|abs }} {{ not t }} {{ not n }} {{ -x|abs }}",
     "-3.5 42 7 1 False True 3.5"},
    {"concat",
     "{{ 'a' ~ 1 ~ none ~ true ~ 2.0 }} {{ s ~ l }} {{ undefined_var ~ 'x' }} {{ [1] ~ {'a': 1} }}",
     "a1NoneTrue2.0 Hello World[3, 1, 2] x [1]{'a': 1}"},
    {"sequence_arithmetic",
     "{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [1, 2] * 2 }} {{ 'x' * 0 }} {{ [1] + [2] }} {{ (1,) + (2,) }} {{ 'a' + 'b' }}",
     "ababab ababab [1, 2, 1, 2]  [1, 2] (1, 2) ab"},
    {"comparisons",
     "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 2 == true }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2 }} {{ 2 <= 1 }} {{ 1 != 2 }}",
     "True False True True False True True True False True"},
    {"equality_of_containers",
     "{{ {'a': 1} == {'a': 1.0} }} {{ [1, 2] == (1, 2) }} {{ (1, 2) == (1, 2) }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ none == none }}",
     "True False True True True"},
    {"membership",
     "{{ 'ell' in s }} {{ 'x' not in s }} {{ 1 in l }} {{ 'a' in d }} {{ 'z' in d }} {{ 3 in [1, 2] }} {{ 'a' in undefined_var }} {{ 'a' in 'abc' and 'd' not in 'abc' }}",
     "True True True True False False False True"},
    {"logic_returns_operands",
     "{{ t and 'yes' or 'no' }} {{ f and 'yes' or 'no' }} {{ n or 'dflt' }} {{ e or 'empty' }} {{ 0 or [] or 'last' }} {{ 1 and 2 }}",
     "yes no dflt empty last 2"},
    {"conditional_expression",
     "{{ 'y' if t else 'n' }} {{ 'y' if f else 'n' }} [{{ 'y' if f }}] {{ 'a' if f else 'b' if t else 'c' }} {{ 'x' if f else 'z' | upper }}",
     "y n [] b Z"},
    {"truthiness",
     "{{ 'a' if none else 'b' }} {{ 'a' if [] else 'b' }} {{ 'a' if [0] else 'b' }} {{ 'a' if {} else 'b' }} {{ 'a' if 0.0 else 'b' }} {{ 'a' if '0' else 'b' }}",
     "b b a b b a"},
    {"not_binds_looser_than_is",
     "{{ not x is defined }} {{ not 1 == 2 }} {{ 1 if x is defined else 2 }}",
     "False True 1"},
    {"string_formatting_operator",
     "{{ '%s' % 'x' }} {{ '%s and %s' % ('a', 'b') }} {{ '%d%%' % 50 }} {{ '%.1f' % 2.25 }} {{ '%s' % [1, 2] }} {{ '%(k)s' % {'k': 'v'} }}",
     "x a and b 50% 2.2 [1, 2] v"},
    {"string_formatting_flags",
     "{{ '%5s|%-5s|' % ('ab', 'cd') }} {{ '%+d %+d' % (5, -5) }} {{ '%03d' % -5 }} {{ '%#x %#o' % (255, 8) }} {{ '%c%c' % (65, 'b') }} {{ '%.3s' % 'abcdef' }} {{ '%r' % 'x' }} {{ '%i|%e|%g|%G' % (7.9, 12345.678, 0.00001, 1e20) }}",
     "   ab|cd   | +5 -5 -05 0xff 0o10 Ab abc 'x' 7|1.234568e+04|1e-05|1E+20"},
};

const RenderCase kAccessCases[] = {
    {"attribute_and_item",
     "{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[-1].role }} {{ nested.a.b[1].c }} {{ nested['a']['b'][0] }} {{ nested.a.b.0 }}",
     "system Be nice. user deep 1 1"},
    {"slices",
     "{{ messages[1:3] | length }} {{ l[::-1] }} {{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[0:10:2] }} {{ l[-10:] }} {{ l[5:] }} {{ l[2:0:-1] }} {{ l[none:2] }}",
     "2 [2, 1, 3] [1, 2] [3, 1] [3, 2] [3, 2] [3, 1, 2] [] [2, 1] [3, 1]"},
    {"string_slices_count_code_points",
     "{{ s[1:4] }} {{ s[::-1] }} {{ u[1:3] }} {{ s[-1] }} {{ 'ab😀cd'[1:4] }} {{ '😀'[0] }} {{ 'abc'[::-2] }}",
     "ell dlroW olleH él d b😀c 😀 ca"},
    {"missing_items_are_undefined",
     "[{{ messages[10] }}][{{ d.zzz }}][{{ d['zzz'] }}][{{ l.5 }}][{{ x.0 }}]",
     "[][][][][]"},
    {"dict_keys_compare_like_python",
     "{{ {1: 'a'}[1] }} {{ {1: 'a'}[1.0] }} {{ {true: 'x'}[1] }} {{ {(1, 2): 'tup'}[(1, 2)] }}",
     "a a x tup"},
    {"dict_methods",
     "{{ d.get('a') }} {{ d.get('q', 'def') }} {{ d.get('q') }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.copy() }} {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
     "2 def None ['b', 'a', 'C'] [1, 2, 3] {'b': 1, 'a': 2, 'C': 3} b=1;a=2;C=3;"},
    {"attribute_prefers_methods",
     "{{ d.items is callable }} {{ {'items': 1}['items'] }}",
     "True 1"},
    {"bound_methods_are_values",
     "{% set f = s.upper %}{{ f() }} {% set g = d.get %}{{ g('b') }}",
     "HELLO WORLD 1"},
    {"string_case_methods",
     "{{ s.upper() }} {{ s.lower() }} {{ s.title() }} {{ 'hello world'.capitalize() }} {{ s.swapcase() }} {{ u.upper() }} {{ u.title() }}",
     "HELLO WORLD hello world Hello World Hello world hELLO wORLD HÉLLO WÖRLD SS Héllo Wörld Ss"},
    {"unicode_case_mapping",
     "{{ 'é' | upper }} {{ 'ǆ' | upper }} {{ 'ǆ'.title() }} {{ 'ﬁ'.upper() }} {{ 'İ'.lower() }} {{ 'Σ'.lower() }} {{ 'straße'.title() }} {{ 'ΑΒΓ'.lower() }} {{ 'абв'.upper() }}",
     "É Ǆ ǅ FI i̇ σ Straße αβγ АБВ"},
    {"strip_methods",
     "{{ '  x y  '.strip() }}|{{ '  x y  '.lstrip() }}|{{ '  x y  '.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi\\n'.strip('\\n') }}|{{ '\\u00a0x\\u00a0'.strip() }}|{{ '\\u200bx'.strip() }}|",
     "x y|x y  |  x y|hi|hi|x|\u200bx|"},
    {"split_methods",
     "{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ ''.split() }} {{ ''.split(',') }} {{ 'a\\n\\nb'.splitlines() }} {{ 'line1\\nline2\\r\\nline3'.splitlines() }}",
     "['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b c'] ['a,b', 'c'] [] [''] ['a', '', 'b'] ['line1', 'line2', 'line3']"},
    {"think_splitting",
     "{{ '<think>x</think>y'.split('</think>')[-1] }} {{ '<think>x</think>y'.split('</think>')[0].split('<think>')[-1] }} {{ s.split(' ')|last }}",
     "y x World"},
    {"search_methods",
     "{{ 'abc'.startswith('a') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.startswith('b', 1) }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'héllo'.find('l') }} {{ 'hello'.count('l') }} {{ 'hello'.index('e') }}",
     "True True True True 2 3 -1 2 2 1"},
    {"replace_and_join_methods",
     "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '+', 1) }} {{ 'abc'.replace('', '.') }} {{ ', '.join(['a', 'b']) }} {{ ''.join(l | map('string')) }}",
     "a+b+c a+b-c .a.b.c. a, b 312"},
    {"format_method",
     "{{ '{} and {}'.format('a', 'b') }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='bob') }} {{ '{:>5}|{:<5}|{:^5}'.format('a', 'b', 'c') }} {{ '{:.2f}'.format(3.14159) }} {{ '{:05d}'.format(42) }} {{ '{{literal}}'.format() }}",
     "a and b xyx bob!     a|b    |  c   3.14 00042 {literal}"},
    {"format_method_specs",
     "{{ '{:,}'.format(1234567) }} {{ '{:>10.3f}|'.format(3.14159) }} {{ '{:+d}'.format(5) }} {{ '{:x} {:X} {:o} {:b}'.format(255, 255, 8, 5) }} {{ '{:e}'.format(12345.678) }} {{ '{:.1%}'.format(0.256) }} {{ '{:*^9}'.format('mid') }} {{ '{!r}'.format('q') }} {{ '{0[0]}{1[k]}'.format(['a'], {'k': 'v'}) }} {{ '{:g}'.format(1e-5) }} {{ '{:.3}'.format(1.0) }} {{ '{}'.format(1.0) }}",
     "1,234,567      3.142| +5 ff FF 10 101 1.234568e+04 25.6% ***mid*** 'q' av 1e-05 1.0 1.0"},
    {"padding_methods",
     "{{ 'abc'.zfill(5) }} {{ '-1'.zfill(4) }} {{ 'ab'.center(6, '*') }} {{ 'ab'.ljust(4) }}| {{ 'ab'.rjust(4, '.') }} {{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} {{ 'prefix_x'.removeprefix('prefix_') }}",
     "00abc -001 **ab** ab  | ..ab ('a', '=', 'b=c') ('a=b', '=', 'c') x"},
    {"predicate_methods",
     "{{ 'a1'.isalnum() }} {{ 'ab'.isalpha() }} {{ '12'.isdigit() }} {{ ' '.isspace() }} {{ 'ab'.islower() }} {{ 'AB'.isupper() }} {{ ''.isdigit() }} {{ 'Ab Cd'.istitle() }}",
     "True True True True True True False True"},
    {"list_methods",
     "{{ l.index(2) }} {{ l.count(1) }} {{ (1, 2, 1).count(1) }} {{ l.copy() }}",
     "2 1 2 [3, 1, 2]"},
    {"mutating_methods_are_unsafe_but_printable",
     "{{ l.append }}|{{ d.pop }}|",
     "||"},
};

const RenderCase kFiltersCases[] = {
    {"case_filters",
     "{{ s | upper }} {{ s | lower }} {{ 'hello WORLD' | capitalize }} {{ 'hello-world foo(bar) [x]' | title }} {{ u | title }} {{ \"o'neil mc-donald\"|title }}",
     "HELLO WORLD hello world Hello world Hello-World Foo(Bar) [X] Héllo Wörld SS O'neil Mc-Donald"},
    {"trim",
     "{{ '  a  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ n | trim }}|{{ undefined_var | trim }}|{{ '\\t a \\u3000'|trim }}|",
     "a|a|None||a|"},
    {"length_and_count",
     "{{ l | length }} {{ s | length }} {{ u | length }} {{ d | count }} {{ undefined_var | length }} {{ '😀'|length }}",
     "3 11 13 3 0 1"},
    {"first_and_last",
     "{{ l | first }} {{ l | last }} {{ s | first }} {{ s | last }} {{ d | first }} {{ d | last }} [{{ ll | first }}][{{ ll | last }}]",
     "3 2 H d b C [][]"},
    {"join",
     "{{ l | join(', ') }} {{ l | join }} {{ users | join(', ', attribute='name') }} {{ d | join('-') }} {{ s | join('.') }} {{ [1, none, true] | join(' ') }}",
     "3, 1, 2 312 bob, Alice, carol b-a-C H.e.l.l.o. .W.o.r.l.d 1 None True"},
    {"sort",
     "{{ l | sort }} {{ l | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ users | sort(attribute='age') | map(attribute='name') | join(',') }} {{ users|sort(attribute='age,name')|map(attribute='name')|join }}",
     "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c'] ['A', 'b', 'c'] Alice,bob,carol Alicebobcarol"},
    {"dictsort",
     "{{ d | dictsort }} {{ d | dictsort(true) }} {{ d | dictsort(by='value') }} {{ d | dictsort(reverse=true) }}",
     "[('a', 2), ('b', 1), ('C', 3)] [('C', 3), ('a', 2), ('b', 1)] [('b', 1), ('a', 2), ('C', 3)] [('C', 3), ('b', 1), ('a', 2)]"},
    {"list",
     "{{ l | list }} {{ s | list }} {{ d | list }} {{ undefined_var | list }}",
     "[3, 1, 2] ['H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd'] ['b', 'a', 'C'] []"},
    {"map",
     "{{ users | map(attribute='name') | list }} {{ users | map(attribute='missing', default='?') | list }} {{ l | map('string') | list }} {{ ['a', 'b'] | map('upper') | join }} {{ ['a']|map('replace', 'a', 'b')|first }} {{ [[3, 1], [2]]|map('length')|list }}",
     "['bob', 'Alice', 'carol'] ['?', '?', '?'] ['3', '1', '2'] AB b [2, 1]"},
    {"selectattr_and_rejectattr",
     "{{ users | selectattr('admin') | map(attribute='name') | list }} {{ users | rejectattr('admin') | map(attribute='name') | list }} {{ users | selectattr('age', 'gt', 26) | map(attribute='name') | list }} {{ users | selectattr('admin', 'defined') | list | length }} {{ users | selectattr('name', 'equalto', 'bob') | list | length }}",
     "['bob'] ['Alice', 'carol'] ['bob', 'carol'] 2 1"},
    {"message_filtering",
     "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'in', ['user', 'tool']) | map(attribute='role') | join(',') }} {{ messages[4].content | selectattr('type', 'eq', 'text') | map(attribute='text') | join(' ') }}",
     "2 system,assistant a b"},
    {"select_and_reject",
     "{{ l | select('odd') | list }} {{ l | reject('odd') | list }} {{ [0, 1, '', 'a', none] | select | list }} {{ l | select('greaterthan', 1) | list }} {{ l | select('>', 1) | list }} {{ range(10)|select('divisibleby', 3)|list }}",
     "[3, 1] [2] [1, 'a'] [3, 2] [3, 2] [0, 3, 6, 9]"},
    {"unique",
     "{{ [1, 2, 1, 'a', 'A'] | unique | list }} {{ ['a', 'A'] | unique(case_sensitive=true) | list }} {{ users | unique(attribute='admin') | map(attribute='name') | list }} {{ messages | map(attribute='role') | unique | list }}",
     "[1, 2, 'a'] ['a', 'A'] ['bob', 'Alice', 'carol'] ['system', 'user', 'assistant', 'tool']"},
    {"min_max_sum",
     "{{ l | min }} {{ l | max }} {{ ['b', 'A', 'c'] | max }} {{ users | min(attribute='age') }} [{{ ll | max }}] {{ l | sum }} {{ l | sum(start=10) }} {{ [0.5, 1] | sum }} {{ users | sum(attribute='age') }}",
     "1 3 c {'name': 'Alice', 'age': 25, 'admin': False} [] 6 16 1.5 90"},
    {"int",
     "{{ x | int }} {{ '42' | int }} {{ ' 42 ' | int }} {{ '3.9' | int }} {{ 'abc' | int }} {{ 'abc' | int(7) }} {{ '0x1A' | int(0, 16) }} {{ '1A' | int(base=16) }} {{ true | int }} {{ n | int }} {{ '1_000' | int }} {{ -3.7|int }} {{ '1e3'|int }}",
     "3 42 42 3 0 7 26 26 1 0 1000 -3 1000"},
    {"float",
     "{{ i | float }} {{ '3.5' | float }} {{ 'x' | float }} {{ '1e3' | float }} {{ ' inf ' | float }} {{ 'nan' | float }} {{ n | float(1.5) }} {{ '1_0.5'|float }}",
     "42.0 3.5 0.0 1000.0 inf nan 1.5 10.5"},
    {"round",
     "{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 1.25 | round(1) }} {{ 7 | round }} {{ 3.14159 | round(2, 'floor') }} {{ 3.14159 | round(2, 'ceil') }} {{ -2.5 | round }} {{ 1234 | round(-2) }} {{ 1250 | round(-2) }} {{ 0.125|round(2) }}",
     "2.0 4.0 2.67 1.2 7 3.14 3.15 -2.0 1200 1200 0.12"},
    {"abs",
     "{{ -3 | abs }} {{ neg | abs }} {{ -2.5 | abs }} {{ x | abs }}",
     "3 7 2.5 3.5"},
    {"default",
     "{{ n | default('d') }} {{ undefined_var | default('d') }} {{ e | default('d') }} {{ e | default('d', true) }} {{ undefined_var | d('x') }} {{ f | d('z', boolean=true) }} {{ d.missing | default('m') }}",
     "None d  d x z m"},
    {"replace",
     "{{ s | replace('o', '0') }} {{ s | replace('o', '0', 1) }} {{ n | replace('o', 'x') }} {{ 12 | replace('1', 'x') }}",
     "Hell0 W0rld Hell0 World Nxne x2"},
    {"indent",
     "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}|{{ ''|indent }}|{{ 'a\\r\\nb'|indent }}|",
     "a\n    b\n\n    c|  a\n  b|a\n  \n  b|a\n> b||a\n    b|"},
    {"escape_and_safe",
     "{{ '<a href=\"x\">&\\'</a>' | e }} {{ '<b>' | escape }} {{ '<b>' | safe }} {{ n | e }} [{{ undefined_var | e }}]",
     "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; &lt;b&gt; <b> None []"},
    {"string",
     "{{ 42 | string }} {{ n | string }} {{ l | string }} {{ d | string }} {{ t | string }} {{ 1.0 | string }} {{ 3|string + 'x' }}",
     "42 None [3, 1, 2] {'b': 1, 'a': 2, 'C': 3} True 1.0 3x"},
    {"items",
     "{{ d | items | list }} {{ undefined_var | items | list }} {% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}",
     "[('b', 1), ('a', 2), ('C', 3)] [] b1a2C3"},
    {"reverse",
     "{{ 'abc' | reverse }} {{ l | reverse | list }} {{ d | reverse | list }} {{ 'ab😀cd'|reverse }}",
     "cba [2, 1, 3] ['C', 'a', 'b'] dc😀ba"},
    {"center_wordcount_truncate",
     "{{ 'hello' | center(11) }}|{{ 'hi' | center(7) }}| {{ 'one two  three' | wordcount }} {{ 'hello world foo bar' | truncate(9) }} {{ 'hello world foo bar' | truncate(9, true) }} {{ 'short' | truncate(9) }}",
     "   hello   |   hi  | 3 hello... hello ... short"},
    {"batch_slice_groupby",
     "{{ [1,2,3,4,5] | batch(2) | list }} {{ [1,2,3] | batch(2, 'x') | list }} {{ [1,2,3,4,5] | slice(2) | list }} {% for g, items in users | groupby('name') %}{{ g }}:{{ items | length }};{% endfor %}",
     "[[1, 2], [3, 4], [5]] [[1, 2], [3, 'x']] [[1, 2, 3], [4, 5]] Alice:1;bob:1;carol:1;"},
    {"format_filter",
     "{{ '%s is %d years' | format('bob', 30) }} {{ '%(a)s-%(b)s' | format(a=1, b=2) }} {{ '%5.2f|%-5s|%05d|%x|%r' | format(3.14159, 'ab', 42, 255, 'q') }}",
     "bob is 30 years 1-2  3.14|ab   |00042|ff|'q'"},
    {"attr_filter",
     "{{ d | attr('items') is callable }} [{{ d | attr('a') }}] {{ users[0] | attr('name') is defined }}",
     "True [] False"},
    {"filesizeformat",
     "{{ 1 | filesizeformat }} {{ 42 | filesizeformat }} {{ 1500 | filesizeformat }} {{ 3000000 | filesizeformat(true) }}",
     "1 Byte 42 Bytes 1.5 kB 2.9 MiB"},
    {"generators_are_single_pass",
     "{% set it = l | map('string') %}{% for a in it %}{{ a }}{% endfor %}|{% for a in it %}{{ a }}{% endfor %}|{% set it2 = l | select %}{{ it2 | first }}{{ it2 | list }}",
     "312||3[1, 2]"},
    {"generators_are_truthy",
     "{% if ll | select %}truthy{% endif %} {% if ll | select | list %}x{% else %}empty{% endif %}",
     "truthy empty"},
};

const RenderCase kTojsonCases[] = {
    {"compact_keeps_key_order",
     "{{ tools | tojson }}",
     "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]"},
    {"indent",
     "{{ tools | tojson(indent=2) }}",
     R"([
  {
    "type": "function",
    "function": {
      "name": "get_weather",
      "description": "Weather",
      "parameters": {
        "type": "object",
        "properties": {
          "city": {
            "type": "string"
          }
        },
        "required": [
          "city"
        ]
      }
    }
  }
])"},
    {"indent_variants",
     "{{ d | tojson(indent=0) }}|{{ [] | tojson(indent=2) }} {{ {} | tojson(indent=2) }} {{ [1, [2, {}]] | tojson(indent='\\t') }}",
     "{\n\"b\": 1,\n\"a\": 2,\n\"C\": 3\n}|[] {} [\n\t1,\n\t[\n\t\t2,\n\t\t{}\n\t]\n]"},
    {"sort_keys",
     "{{ d | tojson(sort_keys=true) }} {{ {'a': [1, {'b': []}], 'c': {}}|tojson(indent=1, sort_keys=true) }}",
     R"({"C": 3, "a": 2, "b": 1} {
 "a": [
  1,
  {
   "b": []
  }
 ],
 "c": {}
})"},
    {"escaping_without_ascii",
     "{{ {'k': 'é\"\\\\\\n\\u0001\\u007f\\u2028😀'} | tojson }}",
     "{\"k\": \"é\\\"\\\\\\n\\u0001\177\u2028😀\"}"},
    {"ensure_ascii",
     "{{ 'é😀' | tojson(ensure_ascii=true) }} {{ 'x'|tojson(2) }}",
     "\"\\u00e9\\ud83d\\ude00\" \"x\""},
    {"numbers_and_constants",
     "{{ [1.0, 1e16, -0.0, 2.5e-5, 1, true, none] | tojson }} {{ (1e300*1e10)|tojson }} {{ none|tojson }}",
     "[1.0, 1e+16, -0.0, 2.5e-05, 1, true, null] Infinity null"},
    {"separators",
     "{{ d | tojson(separators=(',', ':')) }} {{ l | tojson(indent=2, separators=(', ', ' = ')) }}",
     "{\"b\":1,\"a\":2,\"C\":3} [\n  3, \n  1, \n  2\n]"},
    {"non_string_keys",
     "{{ {1: 'a', true: 'b', none: 'c', 2.5: 'd'} | tojson }}",
     "{\"1\": \"b\", \"null\": \"c\", \"2.5\": \"d\"}"},
    {"arguments_of_tool_calls",
     "{{ messages[2].tool_calls[0].function.arguments | tojson }} {{ { 'output': 'x' } | tojson }}",
     "{\"x\": 1, \"y\": \"é\"} {\"output\": \"x\"}"},
};

const RenderCase kTestsCases[] = {
    {"type_tests",
     "{{ n is none }} {{ n is not none }} {{ undefined_var is defined }} {{ undefined_var is undefined }} {{ s is defined }} {{ s is string }} {{ i is string }} {{ i is number }} {{ x is number }} {{ t is number }} {{ i is integer }} {{ t is integer }} {{ x is float }} {{ t is boolean }} {{ i is boolean }}",
     "True False False True True True False True True True True False True True False"},
    {"container_tests",
     "{{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ s is iterable }} {{ i is iterable }} {{ undefined_var is iterable }} {{ l is sequence }} {{ s is sequence }} {{ d is sequence }} {{ i is sequence }} {{ n is sequence }} {{ (l|map('string')) is sequence }}",
     "True False True True False True True True True False False False"},
    {"value_tests",
     "{{ t is true }} {{ 1 is true }} {{ f is false }} {{ 0 is false }} {{ i is odd }} {{ i is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ s is lower }} {{ 'abc' is lower }} {{ 'ABC' is upper }}",
     "True False True False False True True False False True True"},
    {"comparison_tests",
     "{{ 1 is in l }} {{ 'a' is in d }} {{ 2 is eq 2 }} {{ 2 is equalto 3 }} {{ 2 is ne 3 }} {{ 3 is gt 2 }} {{ 3 is ge 3 }} {{ 2 is lt 3 }} {{ 2 is le 1 }}",
     "True True True False True True True True False"},
    {"identity_tests",
     "{{ 'x' is sameas 'x' }} {{ n is sameas none }} {{ l is sameas l }} {{ t is sameas true }} {{ 1 is sameas true }}",
     "True True True True False"},
    {"meta_tests",
     "{{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ range is callable }} {{ s is callable }} {{ s is escaped }} {{ i is not odd }}",
     "True False True True False False True"},
    {"message_shape_tests",
     "{{ messages[-1]['content'] is string }} {{ messages[-1].content is iterable }} {{ messages[-1].content is mapping }} {{ messages[0].nope is defined }} {{ messages|length > 2 and messages[-1].role == 'user' }}",
     "False True False False True"},
};

const RenderCase kLoopsCases[] = {
    {"loop_variables",
     "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }} {% endfor %}",
     "1/0/5/4/5/True/False 2/1/4/3/5/False/False 3/2/3/2/5/False/False 4/3/2/1/5/False/False 5/4/1/0/5/False/True "},
    {"previtem_nextitem",
     "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if not loop.last else '-' }} {% endfor %}",
     "->user system>assistant user>tool assistant>user tool>- "},
    {"cycle_and_changed",
     "{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %} {% for i in [1,1,2,2,1] %}{{ loop.changed(i) }} {% endfor %}",
     "aba True False True False True "},
    {"else_and_inline_filter",
     "{% for x in ll %}never{% else %}empty{% endfor %} {% for x in l if x > 1 %}{{ x }}:{{ loop.length }} {% else %}none{% endfor %} {% for x in l if x > 9 %}{% else %}allfiltered{% endfor %}",
     "empty 3:2 2:2  allfiltered"},
    {"break_and_continue",
     "{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %} {% for i in range(5) %}{% if i is odd %}{% continue %}{% endif %}{{ i }}{% endfor %}",
     "012 024"},
    {"nested_break",
     "{% for i in range(2) %}{% for j in range(2) %}{% if j == 1 %}{% break %}{% endif %}{{ i }}{{ j }}{% endfor %}{% endfor %}",
     "0010"},
    {"else_runs_when_no_body_completed",
     "{% for i in range(3) %}{% continue %}{{ i }}{% else %}E{% endfor %}|{% for i in [] %}{% else %}{% for j in [1] %}{% break %}{% endfor %}e{% endfor %}",
     "E|e"},
    {"tuple_unpacking",
     "{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }} {% endfor %}{% for a, b in ['xy', 'zw'] %}{{ b }}{{ a }}{% endfor %} {% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}",
     "3 7 yxwz 123"},
    {"iterating_strings_dicts_undefined",
     "{% for c in 'abc' %}{{ c }}-{% endfor %} {% for k in d %}{{ k }}{% endfor %} {% for x in undefined_var %}x{% endfor %}.",
     "a-b-c- baC ."},
    {"nested_loop_objects",
     "{% for i in range(3) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{% endfor %}{{ loop.index }}|{% endfor %} {% for i in range(2) %}{% set outer = loop %}{% for j in range(2) %}{{ outer.index }}{% endfor %}{% endfor %}",
     "10201|11212|12223| 1122"},
    {"range",
     "{% for i in range(2, 10, 3) %}{{ i }}{% endfor %} {% for i in range(5, 0, -2) %}{{ i }}{% endfor %} {{ range(3) | list }} {{ range(0) | list }} {{ range(1, 4)|sum }} {{ range(-3)|list }}",
     "258 531 [0, 1, 2] [] 6 []"},
    {"loop_filter_on_messages",
     "{% for m in messages if m.role != 'tool' %}{{ loop.index }}{{ m.role[0] }}{{ loop.last }} {% endfor %}",
     "1sFalse 2uFalse 3aFalse 4uTrue "},
    {"joining_with_loop_last",
     "{% for x in l %}{{ x }}{% if not loop.last %}, {% endif %}{% endfor %}",
     "3, 1, 2"},
};

const RenderCase kScopingCases[] = {
    {"loop_body_is_its_own_scope",
     "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{{ x }}|{% endfor %}{{ x }}",
     "12|12|1"},
    {"iterations_do_not_share_sets",
     "{% for i in [1, 2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}[{{ y }}]",
     "[][]"},
    {"namespace_carries_state",
     "{% set ns = namespace(total=0, items=[]) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.total }} {{ ns.items }} {{ ns }}",
     "6 [0, 1, 2, 3] <Namespace {'total': 6, 'items': [0, 1, 2, 3]}>"},
    {"namespace_attributes",
     "{% set ns = namespace(a=1) %}{% set ns.b = 2 %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}[{{ ns.c }}] {% set ns2 = namespace({'a': 1}, b=2) %}{{ ns2.a }}{{ ns2.b }}",
     "121[] 12"},
    {"namespace_finds_index",
     "{% set ns = namespace(found=false) %}{% for m in messages %}{% if m.role == 'tool' and not ns.found %}{% set ns.found = loop.index0 %}{% endif %}{% endfor %}{{ ns.found }}",
     "3"},
    {"tuple_assignment",
     "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set c = (3, 4) %}{{ c }} {% set p, q = 'xy' %}{{ q }}{{ p }}",
     "12 (3, 4) yx"},
    {"if_does_not_scope",
     "{% if t %}{% set inif = 5 %}{% endif %}{{ inif }}",
     "5"},
    {"with_block",
     "{% with a = 1, b = 2 %}{{ a + b }}{% set inner = 1 %}{% endwith %}[{{ inner }}] {% set x = 1 %}{% with x = x + 1 %}{{ x }}{% endwith %}{{ x }}",
     "3[] 21"},
    {"set_block_with_filters",
     "{% set x %}{{ s }}!{% endset %}{{ x }} {% set y | upper %}abc{% endset %}{{ y }} {% set z | trim | upper %}  q  {% endset %}[{{ z }}]",
     "Hello World! ABC [Q]"},
    {"filter_block",
     "{% filter upper %}hello {{ s }}{% endfilter %} {% filter replace('a', 'b') | upper %}banana{% endfilter %}",
     "HELLO HELLO WORLD BBNBNB"},
    {"for_else_does_not_leak",
     "{% for i in [] %}{% else %}{% set q = 1 %}{% endfor %}[{{ q }}] {% for i in range(3) %}{% set loop_local = i %}{% endfor %}[{{ loop_local }}]",
     "[] []"},
    {"reassignment_at_top_level",
     "{% set x = 'a' %}{% set x = x ~ 'b' %}{{ x }}{% set l2 = l + [9] %}{{ l2 }}{{ l }}",
     "ab[3, 1, 2, 9][3, 1, 2]"},
    {"generation_block",
     "{% generation %}{% set g = 1 %}kept{% endgeneration %}[{{ g }}]",
     "kept[]"},
};

const RenderCase kMacrosCases[] = {
    {"defaults_and_keywords",
     "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Al', 'Hi') }} {{ greet(name='Z', greeting='Yo') }} [{{ greet() }}]",
     "Hello, Bob! Hi, Al! Yo, Z! [Hello, !]"},
    {"default_sees_earlier_params",
     "{% macro m(a, b=a ~ '!') %}{{ a }}{{ b }}{% endmacro %}{{ m('x') }}",
     "xx!"},
    {"varargs_and_kwargs",
     "{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }} {% macro v() %}{{ varargs|length }}{% endmacro %}{{ v(1, 2, 3) }}",
     "(1, 2){'k': 3} 3"},
    {"call_block",
     "{% macro outer() %}[{{ caller() }}]{% endmacro %}{% call outer() %}inside {{ s }}{% endcall %}",
     "[inside Hello World]"},
    {"call_block_with_arguments",
     "{% macro list_items(items) %}{% for it in items %}{{ caller(it) }}{% endfor %}{% endmacro %}{% call(x) list_items([1, 2]) %}<{{ x }}>{% endcall %}",
     "<1><2>"},
    {"caller_is_optional",
     "{% macro m(a) %}{{ caller is defined }}{{ caller(1, k=2) if caller is defined }}{% endmacro %}{{ m(1) }}|{% call(x, k=0) m(1) %}<{{ x }}{{ k }}>{% endcall %}",
     "False|True<12>"},
    {"recursion",
     "{% macro rec(n) %}{{ n }}{% if n > 0 %}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
     "543210"},
    {"macros_read_globals_at_call_time",
     "{% set z = 4 %}{% macro m() %}{{ z }}{% endmacro %}{% set z = 5 %}{{ m() }} {% for i in [1] %}{% set w = 7 %}{% macro m2() %}{{ w }}{% endmacro %}{% set w = 8 %}{{ m2() }}{% endfor %}",
     "5 8"},
    {"macros_mutate_namespaces",
     "{% set ns = namespace(flag=false) %}{% macro setflag(v) %}{% set ns.flag = v %}{% endmacro %}{% set _ = setflag(true) %}{{ ns.flag }} [{{ setflag(false) }}] {{ ns.flag }}",
     "True [] False"},
    {"parameters_are_local",
     "{% macro m(x) %}{% set x = x * 2 %}{{ x }}{% endmacro %}{{ m(2) }}",
     "4"},
    {"macros_are_values",
     "{% macro m(x) %}{{ x }}{% endmacro %}{% set mm = m %}{{ mm(5) }} {{ [m][0](6) }} {{ {'f': m}['f'](7) }} {{ m(*[8]) }} {{ m(**{'x': 9}) }}",
     "5 6 7 8 9"},
    {"macro_output_is_a_string",
     "{% macro m() %}  spaced  \n{% endmacro %}[{{ m() }}] {{ m() is string }} {{ m()|length }}",
     "[  spaced  \n] True 11"},
    {"counter_macro",
     "{% set ns = namespace(count=0) %}{% macro inc() %}{% set ns.count = ns.count + 1 %}{% endmacro %}{% for i in range(3) %}{{ inc() }}{% endfor %}{{ ns.count }}",
     "3"},
};

const RenderCase kGlobalsCases[] = {
    {"dict_and_namespace",
     "{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ dict() }} {{ dict({'x': 1}, y=2) }} {{ namespace(a=1).a }}",
     "{'a': 1, 'b': 2} {'x': 1} {} {'x': 1, 'y': 2} 1"},
    {"strftime_now",
     "{{ strftime_now('%Y-%m-%d') }} {{ strftime_now('%d %B %Y') }} {{ strftime_now('%H:%M %% %f|%z|%Z') }} {{ strftime_now('%d %b %Y') }}",
     "2023-11-14 14 November 2023 22:13 % 000000|| 14 Nov 2023"},
    {"joiner",
     "{% set j = joiner(', ') %}{% for x in l %}{{ j() }}{{ x }}{% endfor %}",
     "3, 1, 2"},
    {"raise_exception_not_reached",
     "{% if false %}{{ raise_exception('never') }}{% endif %}ok",
     "ok"},
};

const RenderCase kUndefinedCases[] = {
    {"prints_empty",
     "[{{ undefined_var }}][{{ undefined_var.x if false }}][{{ undefined_var | upper }}][{{ undefined_var | string }}]",
     "[][][][]"},
    {"comparisons",
     "{{ undefined_var == undefined_var }} {{ undefined_var == none }} {{ undefined_var != 1 }} {{ not undefined_var }}",
     "True False True True"},
    {"branches",
     "{% if undefined_var %}a{% elif undefined_var is not defined %}b{% endif %}",
     "b"},
    {"filters_accept_undefined",
     "{{ undefined_var | list }} [{{ undefined_var | join(',') }}] {{ undefined_var | first is defined }} {{ undefined_var | sort }} {{ undefined_var | unique | list }} {{ undefined_var | map('upper') | list }} {{ undefined_var | selectattr('a') | list }} {{ undefined_var | sum }} {{ undefined_var | count }} {{ undefined_var | items | list }}",
     "[] [] False [] [] [] [] 0 0 []"},
    {"empty_sequences",
     "{{ [] | first is defined }} {{ [] | last is defined }} {{ [] | min is defined }} {{ [] | sum }} [{{ [] | join }}] {{ [] | list }} {{ [] | unique | list }} {{ [] | sort }}",
     "False False False 0 [] [] [] []"},
};

const ErrorCase kRuntimeErrorCases[] = {
    {"string_plus_int", "{{ 'a' + 1 }}",
     "can only concatenate str (not \"int\") to str"},
    {"int_plus_string", "{{ 1 + 'a' }}",
     "unsupported operand type(s) for +: 'int' and 'str'"},
    {"unorderable", "{{ 'a' < 1 }}",
     "'<' not supported between instances of 'str' and 'int'"},
    {"in_string_needs_string", "{{ 1 in s }}",
     "'in <string>' requires string as left operand, not int"},
    {"in_none", "{{ 1 in n }}",
     "argument of type 'NoneType' is not iterable"},
    {"division_by_zero", "{{ 1 / 0 }}",
     "division by zero"},
    {"floor_division_by_zero", "{{ 1 // 0 }}",
     "integer division or modulo by zero"},
    {"attribute_of_missing_element", "{{ messages[10].role }}",
     "list object has no element 10"},
    {"attribute_of_missing_key", "{{ d.zzz.yyy }}",
     "'dict object' has no attribute 'zzz'"},
    {"attribute_of_undefined", "{{ undefined_var.attr }}",
     "'undefined_var' is undefined"},
    {"call_undefined", "{{ undefined_var() }}",
     "'undefined_var' is undefined"},
    {"arithmetic_on_undefined", "{{ undefined_var + 1 }}",
     "'undefined_var' is undefined"},
    {"index_not_found", "{{ 'hello'.index('z') }}",
     "substring not found"},
    {"join_needs_strings", "{{ ', '.join([1, 2]) }}",
     "sequence item 0: expected str instance, int found"},
    {"list_append_is_unsafe", "{{ l.append(4) }}",
     "access to attribute 'append' of 'list' object is unsafe"},
    {"dict_update_is_unsafe", "{{ d.update({'x': 1}) }}",
     "access to attribute 'update' of 'dict' object is unsafe"},
    {"unknown_method", "{{ s.nomethod() }}",
     "'str object' has no attribute 'nomethod'"},
    {"length_of_none", "{{ n | length }}",
     "object of type 'NoneType' has no len()"},
    {"length_of_generator", "{{ l | map('string') | length }}",
     "object of type 'generator' has no len()"},
    {"indent_needs_string", "{{ 5 | indent }}",
     "unsupported operand type(s) for +=: 'int' and 'str'"},
    {"tojson_of_undefined", "{{ undefined_var | tojson }}",
     "Object of type Undefined is not JSON serializable"},
    {"too_few_format_arguments", "{{ '%s %s' % ('a',) }}",
     "not enough arguments for format string"},
    {"unpack_too_many", "{% for a, b in [(1, 2, 3)] %}{% endfor %}",
     "too many values to unpack (expected 2)"},
    {"unpack_too_few", "{% for a, b in [(1,)] %}{% endfor %}",
     "not enough values to unpack (expected 2, got 1)"},
    {"iterate_none", "{% for x in n %}x{% endfor %}",
     "'NoneType' object is not iterable"},
    {"sandbox_range_limit", "{{ range(1000000) | length }}",
     "Range too big"},
    {"set_attribute_on_dict", "{% set notns = {'a': 1} %}{% set notns.a = 2 %}",
     "cannot assign attribute on non-namespace object"},
    {"macro_too_many_arguments", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
     "macro 'm' takes not more than 1 argument(s)"},
    {"macro_unknown_keyword", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}",
     "macro 'm' takes no keyword argument 'b'"},
    {"unknown_filter_in_runtime_branch", "{% if t %}{{ x | nosuchfilter }}{% endif %}",
     "No filter named 'nosuchfilter'"},
    {"unhashable_key", "{{ {[1]: 2} }}",
     "unhashable type: 'list'"},
    {"slice_of_dict", "{{ d[1:] }}",
     "unhashable type: 'slice'"},
    {"slice_with_string_bound", "{{ l['a':] }}",
     "slice indices must be integers"},
    {"sort_mixed_types", "{{ [1, 'a'] | sort }}",
     "'<' not supported between instances of 'str' and 'int'"},
    {"map_unknown_filter", "{{ l|map('nonexistent')|list }}",
     "No filter named 'nonexistent'"},
    {"cycle_without_items", "{% for i in range(3) %}{{ loop.cycle() }}{% endfor %}",
     "no items for cycling given"},
};

const ErrorCase kSyntaxErrorCases[] = {
    {"unclosed_if", "{% if t %}unclosed",
     "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'"},
    {"wrong_end_tag", "{% for x in l %}{% endif %}",
     "Encountered unknown tag 'endif'"},
    {"stray_end_tag", "{% endfor %}",
     "Encountered unknown tag 'endfor'"},
    {"incomplete_expression", "{{ 1 + }}",
     "unexpected 'end of print statement'"},
    {"empty_output", "{{ }}",
     "Expected an expression, got 'end of print statement'"},
    {"unknown_tag", "{% unknowntag %}",
     "Encountered unknown tag 'unknowntag'"},
    {"unterminated_string", "{{ 'unterminated }}",
     "unexpected char \"'\""},
    {"unterminated_comment", "{# unterminated comment",
     "Missing end of comment tag"},
    {"unterminated_raw", "{% raw %} never closed",
     "Missing end of raw directive"},
    {"unbalanced_brackets", "{{ (1, 2 }}",
     "unexpected '}', expected ')'"},
    {"mismatched_brackets", "{{ [1, 2) }}",
     "unexpected ')', expected ']'"},
    {"assign_to_constant", "{% set 1 = 2 %}",
     "can't assign to 'const'"},
    {"default_before_required", "{% macro m(a=1, b) %}{% endmacro %}",
     "non-default argument follows default argument"},
    {"break_outside_loop", "{% break %}",
     "'break' outside loop"},
    {"unknown_test", "{{ x is nonexistenttest }}",
     "No test named 'nonexistenttest'"},
    {"unknown_filter", "{{ x | nonexistentfilter }}",
     "No filter named 'nonexistentfilter'"},
    {"unknown_filter_in_loop_body", "{% if t %}{% for i in l %}{{ i | bogus }}{% endfor %}{% endif %}",
     "No filter named 'bogus'"},
    {"bad_character", "{{ 1 ! 2 }}",
     "unexpected char '!'"},
    {"missing_filter_name", "{{ x |}}",
     "expected token 'name', got 'end of print statement'"},
    {"endset_without_block_set", "{% set x = 1 %}{{ x }}{% endset %}",
     "Encountered unknown tag 'endset'"},
    {"for_without_target", "{% for %}{% endfor %}",
     "Expected an expression, got 'end of statement block'"},
    {"call_without_call", "{% call m %}{% endcall %}",
     "expected call"},
    {"double_else", "{%- if t -%}{%- else -%}{%- else -%}{%- endif -%}",
     "Encountered unknown tag 'else'"},
    {"include_is_refused", "{% include 'x' %}",
     "'include' is not supported"},
};


TEST(ChatTemplateLanguage, Whitespace) { expect_renders(kWhitespaceCases); }
TEST(ChatTemplateLanguage, Literals) { expect_renders(kLiteralsCases); }
TEST(ChatTemplateLanguage, Operators) { expect_renders(kOperatorsCases); }
TEST(ChatTemplateLanguage, Access) { expect_renders(kAccessCases); }
TEST(ChatTemplateLanguage, Filters) { expect_renders(kFiltersCases); }
TEST(ChatTemplateLanguage, Tojson) { expect_renders(kTojsonCases); }
TEST(ChatTemplateLanguage, Tests) { expect_renders(kTestsCases); }
TEST(ChatTemplateLanguage, Loops) { expect_renders(kLoopsCases); }
TEST(ChatTemplateLanguage, Scoping) { expect_renders(kScopingCases); }
TEST(ChatTemplateLanguage, Macros) { expect_renders(kMacrosCases); }
TEST(ChatTemplateLanguage, Globals) { expect_renders(kGlobalsCases); }
TEST(ChatTemplateLanguage, Undefined) { expect_renders(kUndefinedCases); }

TEST(ChatTemplateLanguage, RuntimeErrorsNameTheTemplateAndLine) {
  const auto context = nlohmann::ordered_json::parse(kContext);
  for (const ErrorCase& c : kRuntimeErrorCases) {
    SCOPED_TRACE(c.name);
    const std::string message = error_of([&] { render(c.source, context); });
    expect_error_contains(message, {"test.jinja:1", c.needle});
    EXPECT_EQ(message.find("syntax error"), std::string::npos) << message;
  }
}

TEST(ChatTemplateLanguage, SyntaxErrorsAreReportedWhenParsing) {
  for (const ErrorCase& c : kSyntaxErrorCases) {
    SCOPED_TRACE(c.name);
    const std::string message = error_of([&] { ChatTemplate(c.source, "test.jinja"); });
    expect_error_contains(message, {"test.jinja:", "template syntax error", c.needle});
  }
}

TEST(ChatTemplateLanguage, SyntaxErrorsCarryLineAndColumn) {
  const std::string message = error_of([] { ChatTemplate("line one\n{% if x %}\n  {{ 1 + }}\n{% endif %}", "t.jinja"); });
  expect_error_contains(message, {"t.jinja:3:10:", "unexpected 'end of print statement'"});
  const std::string unclosed = error_of([] { ChatTemplate("{% for m in messages %}\n{{ m }}\n", "t.jinja"); });
  expect_error_contains(unclosed, {"t.jinja:2:8:", "Unexpected end of template", "'endfor' or 'else'",
                                   "innermost block that needs to be closed is 'for'"});
}

TEST(ChatTemplateLanguage, RaiseExceptionReportsTheTemplatesMessage) {
  const std::string message = error_of([] {
    render("{% for m in messages %}\n{% if m.role == 'tool' %}\n{{ raise_exception('Unexpected role: ' + m.role) }}\n{% endif %}\n{% endfor %}");
  });
  expect_error_contains(message, {"test.jinja:3", "the template raised an error: Unexpected role: tool"});
  // A message with newlines still makes one line.
  const std::string multiline = error_of([] { render("{{ raise_exception('first\\nsecond') }}"); });
  expect_error_contains(multiline, {"first\\nsecond"});
}

TEST(ChatTemplateLanguage, UnknownFiltersInsideIfWaitUntilCalled) {
  // Jinja defers the check inside if-statements and conditional expressions.
  EXPECT_EQ(render("{% if false %}{{ x | nosuchfilter }}{% endif %}ok"), "ok");
  EXPECT_EQ(render("{{ 'a' if true else (x | nosuchfilter) }}"), "a");
  expect_error_contains(error_of([] { render("{{ x | nosuchfilter }}"); }), {"syntax error", "No filter named 'nosuchfilter'"});
}

TEST(ChatTemplateLanguage, TemplateIsReusable) {
  ChatTemplate tmpl("{% for m in messages %}[{{ m.role }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}", "reuse");
  nlohmann::ordered_json context = {{"messages", {{{"role", "user"}}}}, {"add_generation_prompt", false}};
  EXPECT_EQ(tmpl.render(context), "[user]");
  context["messages"].push_back({{"role", "assistant"}});
  context["add_generation_prompt"] = true;
  EXPECT_EQ(tmpl.render(context), "[user][assistant]>");
  EXPECT_EQ(tmpl.label(), "reuse");
}

TEST(ChatTemplateLanguage, ObjectKeysKeepTheirOrder) {
  // Python dicts keep insertion order; tojson and .items() show it.
  const auto context = nlohmann::ordered_json::parse(R"({"tool": {"z": 1, "a": {"y": 2, "b": 3}}})");
  EXPECT_EQ(render("{{ tool | tojson }}|{% for k, v in tool.items() %}{{ k }}{% endfor %}", context),
            R"({"z": 1, "a": {"y": 2, "b": 3}}|za)");
}

TEST(ChatTemplateLanguage, ContextMustBeAnObject) {
  expect_error_contains(error_of([] { render("x", nlohmann::ordered_json::array()); }), {"test.jinja", "JSON object"});
}

TEST(ChatTemplateLanguage, InvalidUtf8TemplateIsRejected) {
  expect_error_contains(error_of([] { ChatTemplate("ok \xff\xfe bad", "bad.jinja"); }),
                        {"bad.jinja", "not valid UTF-8", "byte offset 3"});
}

// ---------------------------------------------------------------------------------------------
// Limits: a template can neither hang, nor exhaust memory, nor overflow the stack.

TEST(ChatTemplateLimits, UnboundedLoopsStop) {
  ChatTemplateOptions options;
  options.max_steps = 200000;
  const std::string message = error_of([&] {
    render_chat_template("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                         nlohmann::ordered_json::object(), "loop.jinja", options);
  });
  expect_error_contains(message, {"loop.jinja", "steps"});
}

TEST(ChatTemplateLimits, RunawayRecursionStops) {
  expect_error_contains(error_of([] { render("{% macro rec(n) %}{{ rec(n + 1) }}{% endmacro %}{{ rec(0) }}"); }),
                        {"test.jinja", "nested deeper than"});
}

TEST(ChatTemplateLimits, OutputSizeIsBounded) {
  ChatTemplateOptions options;
  options.max_output_bytes = 1 << 20;
  const nlohmann::ordered_json empty = nlohmann::ordered_json::object();
  expect_error_contains(error_of([&] { render_chat_template("{{ 'x' * 100000000 }}", empty, "big.jinja", options); }),
                        {"big.jinja", "over the limit"});
  expect_error_contains(error_of([&] {
                          render_chat_template("{% for i in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}",
                                               empty, "big.jinja", options);
                        }),
                        {"big.jinja", "over the limit"});
  expect_error_contains(error_of([&] {
                          render_chat_template("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                                               empty, "big.jinja", options);
                        }),
                        {"big.jinja", "over the limit"});
}

TEST(ChatTemplateLimits, DeepNestingIsAnErrorNotACrash) {
  const std::string parens = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  expect_error_contains(error_of([&] { ChatTemplate(parens, "deep.jinja"); }), {"deep.jinja", "nested too deeply"});
  std::string chain = "{{ 1";
  for (int i = 0; i < 20000; ++i) chain += " + 1";
  chain += " }}";
  expect_error_contains(error_of([&] { ChatTemplate(chain, "long.jinja"); }), {"long.jinja", "too deeply nested or too long"});
  std::string blocks;
  for (int i = 0; i < 3000; ++i) blocks += "{% if true %}";
  expect_error_contains(error_of([&] { ChatTemplate(blocks, "blocks.jinja"); }), {"blocks.jinja", "nested too deeply"});
  std::string filters = "{{ 'x'";
  for (int i = 0; i < 20000; ++i) filters += " | upper";
  filters += " }}";
  expect_error_contains(error_of([&] { ChatTemplate(filters, "filters.jinja"); }), {"filters.jinja", "too deeply nested or too long"});
}

TEST(ChatTemplateLimits, DeepInputDataIsAnError) {
  std::string deep = "{\"v\": ";
  for (int i = 0; i < 300; ++i) deep += "[";
  for (int i = 0; i < 300; ++i) deep += "]";
  deep += "}";
  expect_error_contains(error_of([&] { render("{{ v }}", nlohmann::ordered_json::parse(deep)); }), {"test.jinja", "nested too deeply"});
}

TEST(ChatTemplateLimits, DataBuiltInALoopCannotNestWithoutBound) {
  expect_error_contains(
      error_of([] { render("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"); }),
      {"test.jinja", "nested too deeply"});
  expect_error_contains(
      error_of([] { render("{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'k': ns.x} %}{% endfor %}"); }),
      {"test.jinja", "nested too deeply"});
  // Chains through namespaces are fine: they are released one by one.
  EXPECT_EQ(render("{% set ns = namespace(x=none) %}{% for i in range(20000) %}{% set ns.x = namespace(next=ns.x) %}{% endfor %}ok"), "ok");
}

TEST(ChatTemplateLimits, SelfReferencingNamespaceDoesNotLoop) {
  expect_error_contains(error_of([] { render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"); }),
                        {"test.jinja", "recursion"});
  expect_error_contains(error_of([] { render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}"); }),
                        {"test.jinja", "not JSON serializable"});
}

TEST(ChatTemplateLimits, RandomBytesNeverCrash) {
  // A cheap fuzz: mutated real-looking templates must parse and render or fail with Error.
  const std::string seed =
      "{%- for m in messages %}{{ '<|' + m.role + '|>' }}{% if m.content is string %}{{ m.content | trim }}"
      "{% else %}{{ m.content | tojson(indent=2) }}{% endif %}{%- endfor %}{# c #}{{ x[1:] ~ (y or 'z') }}";
  const char alphabet[] = "{}%#-+()[]'\"|.,:=~*/ abcxyz01\n";
  uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  const auto context = nlohmann::ordered_json::parse(R"({"messages": [{"role": "user", "content": "hi"}], "x": "abc"})");
  int rendered = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string source = seed;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = next() % source.size();
      const char c = alphabet[next() % (sizeof alphabet - 1)];
      switch (next() % 3) {
        case 0: source[at] = c; break;
        case 1: source.insert(source.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: source.erase(at, 1 + next() % 3); break;
      }
    }
    try {
      render_chat_template(source, context, "fuzz.jinja");
      ++rendered;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(rendered, 0);
}

}  // namespace
}  // namespace jamba

namespace jamba {
namespace {

// Fuzzer findings: huge numbers in format strings were signed overflow (UB) or escaped as
// std::out_of_range; they are Python's "Too many decimal digits" error now.
TEST(ChatTemplateLimits, HugeFormatNumbersAreErrors) {
  for (const char* source : {R"({{ "%99999999999999999999d" % 1 }})", R"({{ "%.99999999999999999999f" % 1.5 }})",
                             R"({{ "{:99999999999999999999}".format(1) }})",
                             R"({{ "{:.99999999999999999999f}".format(1.5) }})",
                             R"({{ "{99999999999999999999}".format(1) }})",
                             R"({{ "{0[99999999999999999999]}".format([1]) }})"}) {
    const std::string message =
        test::error_of([&] { ChatTemplate(source, "t.jinja").render(nlohmann::ordered_json::object()); });
    EXPECT_NE(message.find("t.jinja"), std::string::npos) << source << ": " << message;
  }
}

}  // namespace
}  // namespace jamba
