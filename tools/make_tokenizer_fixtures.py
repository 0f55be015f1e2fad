#!/usr/bin/env python3
"""Make the tokenizer fixtures under tests/fixtures/tokenizers/ for jamba.cpp.

What it makes (one directory per tokenizer, each saved by transformers'
`save_pretrained` so the files look like a real Hugging Face repo):

  llama_spm_bpe       SentencePiece BPE trained with `sentencepiece` the way Llama and
                      Jamba v0.1 were (byte fallback, split digits, dummy prefix, no
                      whitespace folding), Jamba's special tokens at ids 0-3 and the
                      1.5 chat tokens, converted to tokenizer.json the way transformers'
                      LlamaConverter did before 5.x (legacy: Prepend + Replace normalizer,
                      no pre-tokenizer, Replace/ByteFallback/Fuse/Strip decoder, BOS added
                      by a TemplateProcessing post-processor). The script builds that
                      structure itself (convert_slow_tokenizer.LlamaConverter fails in
                      5.17 with a stand-in slow tokenizer; the attempt is still logged).
                      Keeps tokenizer.model.
                      Chat template: Jamba 1.5 style, inside tokenizer_config.json.
  gpt2_bytelevel_bpe  GPT-2 style byte-level BPE (ByteLevel pre-tokenizer with its
                      regex, ByteLevel decoder), `<|endoftext|>` after the vocabulary;
                      merges rewritten to the old "a b" string form.
  added_tokens_bpe    Metaspace BPE with an unk token and no byte fallback, a
                      normalizer Sequence (NFC + Replace), a pre-tokenizer Sequence
                      (Split + Digits + Metaspace prepend_scheme "first"), and added
                      tokens with every flag (lstrip, rstrip, single_word, normalized,
                      special or not, tokens that are prefixes of each other).
                      Chat template: ChatML with <think> (Reasoning-3B style), saved
                      as its own chat_template.jinja.
  unigram             Unigram model (UnigramTrainer), NFKC normalizer, Metaspace
                      prepend_scheme "always", EOS appended by TemplateProcessing.

For each: cases.jsonl (>= 2,000 strings with the ids, pieces and decodes that HF
`tokenizers.Tokenizer.encode(text)` / `.decode(ids)` give, read back from the saved
tokenizer.json), decode_cases.jsonl (id sequences, including byte tokens that make
invalid or truncated UTF-8, and their decodes), and for the two with templates
chat_cases.json (apply_chat_template renderings and ids). llama_spm_bpe also gets
spm_cases.jsonl: what sentencepiece itself gives from tokenizer.model.

Where it must run: a machine with `tokenizers`, `transformers` (5.x), `sentencepiece`
and `jinja2` (the GPU machine; nothing here uses the GPU, and nothing is downloaded:
the tokenizers are *trained* there, on Python's own standard-library sources, the
license texts of the installed packages, and the multilingual paragraphs below).
From the repository root:

    python3 tools/make_tokenizer_fixtures.py --out tests/fixtures/tokenizers

Why it works the way it does:
  * No hub access on any of our machines, so real Jamba tokenizers cannot be fetched;
    small tokenizers built with the same recipes exercise the same code paths.
  * The expected values are computed from the *saved* tokenizer.json, reloaded with
    `tokenizers.Tokenizer.from_file`, i.e. exactly what jamba.cpp will read.
  * Everything is seeded; the corpus depends on the Python version found there, so
    a regeneration elsewhere gives other vocabularies (regenerate the whole set).
"""

import argparse
import copy
import json
import os
import platform
import random
import shutil
import site
import sys
import sysconfig
import tempfile
import time
import traceback
import unicodedata
import zlib
from pathlib import Path

SEED = 20260515
N_CASES = 2350  # strings per tokenizer (before de-duplication)
CASES_BUDGET = 480_000  # bytes per cases.jsonl: the largest rows are dropped past it ...
MIN_CASES = 2000  # ... but never below this many strings

JAMBA_SPECIALS = ["<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|unk|>"]
JAMBA_CHAT_TOKENS = [
    "<|bom|>", "<|eom|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>",
    "<tool_definitions>", "</tool_definitions>", "<documents>", "</documents>",
    "<tool_calls>", "</tool_calls>", "<citations>", "</citations>",
]

# --------------------------------------------------------------------------------------
# Multilingual text written for this script (the standard library is mostly English).
# --------------------------------------------------------------------------------------
MULTILINGUAL = {
    "de": [
        "Die Tokenisierung zerlegt einen Text in kleinere Einheiten, die ein Sprachmodell "
        "verarbeiten kann. Wörter wie „Straßenbahnhaltestelle“ oder "
        "„Donaudampfschifffahrtsgesellschaft“ werden dabei oft in mehrere Teile gespalten.",
        "Über Nacht fiel in München der erste Schnee, und die Kinder bauten vor der Schule "
        "einen Schneemann mit einer Möhre als Nase. Größere Modelle benötigen mehr Speicher; "
        "die Übertragung der Gewichte dauert länger, als man erwartet.",
        "Können Sie mir bitte sagen, wie spät es ist? Es ist kurz nach halb drei, und der Zug "
        "nach Köln hat wieder einmal fünfzehn Minuten Verspätung.",
    ],
    "fr": [
        "La tokenisation découpe un texte en unités plus petites qu’un modèle de langue peut "
        "traiter. Les mots composés, les apostrophes (l’été, aujourd’hui) et les accents — é, "
        "è, ê, à, ç, œ — posent des problèmes intéressants.",
        "Ce matin, à Lyon, il a plu des cordes ; nous sommes restés à la maison pour lire "
        "« Le Petit Prince » près de la fenêtre. Où est passé le café ? Il était sur la "
        "table, à côté des croissants.",
        "Qu'est-ce que c'est ? C'est un garçon très sympathique qui habite au troisième étage "
        "et qui joue du piano chaque soir.",
    ],
    "ru": [
        "Токенизация разбивает текст на более мелкие единицы, с которыми может работать "
        "языковая модель. Вчера в Москве шёл снег, и улицы быстро стали белыми.",
        "Мы пили горячий чай с вареньем и обсуждали, почему длинные слова, такие как "
        "«достопримечательность», делятся на несколько частей. Съешь же ещё этих мягких "
        "французских булок, да выпей чаю.",
        "Программа работает быстро, но потребляет много памяти; в следующей версии мы это "
        "исправим.",
    ],
    "el": [
        "Η διάσπαση του κειμένου σε μικρότερες μονάδες είναι το πρώτο βήμα για κάθε γλωσσικό "
        "μοντέλο. Στην Αθήνα ο ήλιος έλαμπε όλη μέρα, και οι φίλοι μου κάθισαν σε ένα "
        "καφενείο κοντά στη θάλασσα.",
        "Τα τονισμένα φωνήεντα (ά, έ, ή, ί, ό, ύ, ώ) και τα διαλυτικά (ϊ, ϋ, ΐ, ΰ) κάνουν τη "
        "δουλειά πιο ενδιαφέρουσα. Τι ώρα είναι; Είναι σχεδόν μεσάνυχτα.",
    ],
    "zh": [
        "分词是把一段文字切分成模型能够处理的小单位。今天北京的天气很好，我们在公园里散步，"
        "看见很多人在放风筝。",
        "大型语言模型需要大量的数据和计算资源，但是好的分词器可以让训练更加高效。中文没有空格，"
        "所以分词比英文更困难。你吃饭了吗？我已经吃过了，谢谢！",
        "這是一段繁體中文的句子，用來測試不同的字形：臺灣、體育、學習、龍。",
    ],
    "ja": [
        "トークン化とは、文章を言語モデルが扱える小さな単位に分けることです。昨日は東京で"
        "桜が満開になり、たくさんの人がお花見を楽しみました。",
        "ひらがな、カタカナ、漢字が混ざった日本語の文は、分かち書きがないので処理が難しい"
        "です。コーヒーを一杯いかがですか？　ありがとうございます。ｶﾀｶﾅの半角もあります。",
    ],
    "ko": [
        "토큰화는 문장을 언어 모델이 처리할 수 있는 작은 단위로 나누는 과정입니다. 오늘 "
        "서울에는 비가 많이 내려서 우리는 집에서 영화를 보았습니다.",
        "한글은 자모를 조합하여 음절을 만들기 때문에 유니코드 정규화가 중요합니다. "
        "김치찌개와 불고기를 좋아하세요? 네, 정말 좋아해요!",
    ],
    "ar": [
        "تقسيم النص إلى وحدات صغيرة هو الخطوة الأولى في معالجة اللغة. كان الجو جميلاً في "
        "القاهرة اليوم، وذهبنا إلى السوق لشراء الخبز والتمر.",
        "اللغة العربية تكتب من اليمين إلى اليسار، وتتصل الحروف ببعضها في الكلمة الواحدة. "
        "الأرقام: ٠١٢٣٤٥٦٧٨٩ وعلامات التشكيل: مَدْرَسَةٌ.",
    ],
    "hi": [
        "टोकनाइज़ेशन किसी पाठ को छोटे हिस्सों में बाँटने की प्रक्रिया है, जिन्हें भाषा मॉडल "
        "समझ सकता है। आज दिल्ली में बहुत गर्मी थी, इसलिए हम शाम को पार्क में टहलने गए।",
        "हिंदी देवनागरी लिपि में लिखी जाती है और इसमें मात्राएँ तथा संयुक्त अक्षर होते हैं। "
        "अंक: ०१२३४५६७८९।",
    ],
    "misc": [
        "שלום עולם! זהו משפט בעברית, שנכתב מימין לשמאל.",
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ ทำให้การตัดคำเป็นเรื่องยาก",
        "Tiếng Việt có rất nhiều dấu thanh: à, á, ả, ã, ạ, ằ, ắ, ẳ, ẵ, ặ.",
        "Türkçe'de büyük İ ve küçük ı harfleri farklıdır; İstanbul'da hava güzel.",
        "Zażółć gęślą jaźń — polskie znaki diakrytyczne są ważne.",
        "Ελληνικά, Русский, 中文, 日本語, 한국어, العربية, हिन्दी — all in one line.",
    ],
    "emoji": [
        "I love pizza 🍕🍕! Party time 🎉🥳🎊 — see you at 8 ⏰. Thumbs up 👍👍🏽👍🏿.",
        "Family 👨‍👩‍👧‍👦, couple 👩‍❤️‍👨, rainbow flag 🏳️‍🌈, pirate 🏴‍☠️, flags 🇩🇪 🇯🇵 🇺🇸 🇫🇷.",
        "Keycaps 1️⃣ 2️⃣ #️⃣ *️⃣, hearts ❤️ 🧡 💛 💚 💙 💜, faces 😀 😂 🤔 🙃 😴, hands ✌🏿 🤝.",
        "Math 𝐀𝐁𝐂 𝑥² + 𝑦² = 𝑧², arrows → ← ↑ ↓ ⇒, symbols © ® ™ € £ ¥ ₹ ° ± × ÷.",
    ],
}

# --------------------------------------------------------------------------------------
# Chat templates (written for these fixtures; same output format as the real ones).
# --------------------------------------------------------------------------------------
# Jamba 1.5 / 1.6 / 1.7 format: <|startoftext|><|bom|><|system|> {system}<|eom|>
# <|bom|><|user|> {user}<|eom|><|bom|><|assistant|>. An empty system turn is always
# emitted. Written in the block style of AI21's template, which relies on
# trim_blocks / lstrip_blocks (Hugging Face sets both).
JAMBA_CHAT_TEMPLATE = r"""{# Jamba 1.5-style chat template. Relies on trim_blocks and lstrip_blocks. #}
{% set ns = namespace(turns=0, last_user=-1, flag=false) %}
{% set bom = "<|bom|>" %}
{% set eom = "<|eom|>" %}
{##}
{% macro role_tag(role, space=true) %}
  {{- "<|" ~ role ~ "|>" -}}
  {% if space %}
    {{- " " -}}
  {% endif %}
{% endmacro %}
{##}
{% macro check_set(value, field=none, nonempty=false) %}
  {% if field is not none %}
    {% set value = value[field] if field in value else none %}
  {% endif %}
  {% set ok = value is defined and value is not none %}
  {% if nonempty %}
    {% set ok = ok and value | length > 0 %}
  {% endif %}
  {% set ns.flag = ok %}
{% endmacro %}
{##}
{% macro render_tools(tools) %}
  {{- "<tool_definitions>" -}}
  {{- "\n# Tools\n\n## Functions" -}}
  {% for tool in tools %}
    {% set _ = check_set(tool, field="type") %}
    {% if ns.flag %}
      {% if tool.type == "function" %}
        {% set tool = tool.function %}
      {% else %}
        {{ raise_exception("Only tools of type 'function' are supported, got '" ~ tool.type ~ "'") }}
      {% endif %}
    {% endif %}
    {{- "\n\n" + (tool | tojson(indent=2)) -}}
  {% endfor %}
  {{- "\n</tool_definitions>" -}}
{% endmacro %}
{##}
{% macro render_documents(documents) %}
  {{- "<documents>" -}}
  {{- "\n# Documents\n\nYou can use the following documents for reference:" -}}
  {% for doc in documents %}
    {{- "\n\n## Document ID: " + loop.index0 | string -}}
    {% set _ = check_set(doc, field="title") %}
    {% if ns.flag %}
      {{- "\nTitle: " + doc.title -}}
    {% endif %}
    {% for key, value in doc.items() %}
      {% if key not in ["title", "text"] %}
        {{- "\n" + key | title + ": " + value | string -}}
      {% endif %}
    {% endfor %}
    {{- "\nText: " + doc.text -}}
  {% endfor %}
  {{- "\n</documents>" -}}
{% endmacro %}
{##}
{% macro render_tool_calls(tool_calls) %}
  {{- "<tool_calls>[\n" -}}
  {% for call in tool_calls %}
    {% set _ = check_set(call, field="function") %}
    {% if ns.flag %}
      {% set call = call.function %}
    {% endif %}
    {% set arguments = call.arguments %}
    {% if arguments is not string %}
      {% set arguments = arguments | tojson %}
    {% endif %}
    {{- "{\"name\": \"" + call.name + "\", \"arguments\": " + arguments + "}" -}}
    {% if not loop.last %}
      {{- ",\n" -}}
    {% endif %}
  {% endfor %}
  {{- "\n]</tool_calls>" -}}
{% endmacro %}
{##}
{# Split off the system message. #}
{% if messages | length > 0 and messages[0].role == "system" %}
  {% set system_message = messages[0].content %}
  {% set loop_messages = messages[1:] %}
{% else %}
  {% set system_message = "" %}
  {% set loop_messages = messages %}
{% endif %}
{% for message in loop_messages %}
  {% if message.role not in ["user", "assistant", "tool", "system"] %}
    {{ raise_exception("Unknown role '" ~ message.role ~ "': use system, user, assistant or tool") }}
  {% endif %}
  {% if message.role == "user" %}
    {% set ns.last_user = loop.index0 %}
  {% endif %}
{% endfor %}
{##}
{# Template. #}
{% if bos_token is defined and bos_token is not none %}
  {{- bos_token -}}
{% endif %}
{{- bom + role_tag("system") + system_message -}}
{% set _ = check_set(tools, nonempty=true) %}
{% if ns.flag %}
  {% if system_message %}
    {{- "\n\n" -}}
  {% endif %}
  {{- render_tools(tools) -}}
{% endif %}
{% set ns.turns = 1 %}
{% for message in loop_messages %}
  {% if loop.index0 == ns.last_user %}
    {% set _ = check_set(documents, nonempty=true) %}
    {% if ns.flag %}
      {{- eom + bom + role_tag("system") + render_documents(documents) -}}
      {% set ns.turns = ns.turns + 1 %}
    {% endif %}
  {% endif %}
  {% set content = message.content or "" %}
  {% if content is not string %}
    {% set content = content | tojson %}
  {% endif %}
  {% set _ = check_set(message, field="name") %}
  {% if ns.flag %}
    {% set prefix = role_tag(message.role) + "(" + message.name + ") " %}
  {% else %}
    {% set prefix = role_tag(message.role) %}
  {% endif %}
  {{- eom + bom + prefix + content -}}
  {% set _ = check_set(message, field="tool_calls", nonempty=true) %}
  {% if message.role == "assistant" and ns.flag %}
    {{- render_tool_calls(message.tool_calls) -}}
  {% endif %}
  {% set ns.turns = ns.turns + 1 %}
{% endfor %}
{% if add_generation_prompt %}
  {{- eom + bom + role_tag("assistant", space=false) -}}
{% else %}
  {{- eom -}}
{% endif %}
"""

# ChatML with <think>, in the style of AI21-Jamba-Reasoning-3B / Qwen3: BOS if the
# tokenizer has one, a default system instruction about thinking, tools in <tools>,
# tool calls in <tool_call>, tool results grouped into one user turn, reasoning kept
# only for assistant turns after the last user message.
CHATML_THINK_TEMPLATE = r"""{%- set default_system = "You are a helpful assistant. Before you answer, think step by step inside <think> and </think>, then give the final answer after </think>." -%}
{%- if bos_token is defined and bos_token %}
    {{- bos_token }}
{%- endif %}
{%- if messages and messages[0].role == "system" %}
    {%- set system = messages[0].content | trim %}
    {%- set rest = messages[1:] %}
{%- else %}
    {%- set system = default_system %}
    {%- set rest = messages %}
{%- endif %}
{{- "<|im_start|>system\n" + system }}
{%- if tools %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to help with the user's request. The functions are described inside <tools></tools> tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each call, return a JSON object with the function name and its arguments inside <tool_call></tool_call> tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>" }}
{%- endif %}
{%- if documents %}
    {{- "\n\n# Documents\n" }}
    {%- for doc in documents %}
        {{- "\n<document index=\"" ~ loop.index ~ "\">\n" }}
        {%- for key, value in doc | dictsort %}
            {{- key ~ ": " ~ value ~ "\n" }}
        {%- endfor %}
        {{- "</document>" }}
    {%- endfor %}
{%- endif %}
{{- "<|im_end|>\n" }}
{%- set ns = namespace(last_user=-1) %}
{%- for m in rest %}
    {%- if m.role == "user" %}
        {%- set ns.last_user = loop.index0 %}
    {%- endif %}
{%- endfor %}
{%- for m in rest %}
    {%- if m.content is string %}
        {%- set content = m.content %}
    {%- elif m.content is none or m.content is not defined %}
        {%- set content = "" %}
    {%- else %}
        {%- set content = m.content | selectattr("type", "equalto", "text") | map(attribute="text") | join("\n") %}
    {%- endif %}
    {%- if m.role == "user" or m.role == "system" %}
        {{- "<|im_start|>" + m.role + "\n" + content + "<|im_end|>\n" }}
    {%- elif m.role == "assistant" %}
        {%- set reasoning = "" %}
        {%- if m.reasoning_content is defined and m.reasoning_content is string %}
            {%- set reasoning = m.reasoning_content.strip("\n") %}
        {%- elif "</think>" in content %}
            {%- set reasoning = content.split("</think>")[0].split("<think>")[-1].strip("\n") %}
            {%- set content = content.split("</think>")[-1].lstrip("\n") %}
        {%- endif %}
        {%- if loop.index0 > ns.last_user and reasoning %}
            {{- "<|im_start|>assistant\n<think>\n" + reasoning + "\n</think>\n\n" + content }}
        {%- else %}
            {{- "<|im_start|>assistant\n" + content }}
        {%- endif %}
        {%- if m.tool_calls %}
            {%- for call in m.tool_calls %}
                {%- set fn = call.function if call.function is defined else call %}
                {%- if not loop.first or content %}
                    {{- "\n" }}
                {%- endif %}
                {{- "<tool_call>\n{\"name\": \"" + fn.name + "\", \"arguments\": " }}
                {%- if fn.arguments is string %}
                    {{- fn.arguments }}
                {%- else %}
                    {{- fn.arguments | tojson }}
                {%- endif %}
                {{- "}\n</tool_call>" }}
            {%- endfor %}
        {%- endif %}
        {{- "<|im_end|>\n" }}
    {%- elif m.role == "tool" %}
        {%- if loop.first or rest[loop.index0 - 1].role != "tool" %}
            {{- "<|im_start|>user" }}
        {%- endif %}
        {{- "\n<tool_response>\n" + content + "\n</tool_response>" }}
        {%- if loop.last or rest[loop.index0 + 1].role != "tool" %}
            {{- "<|im_end|>\n" }}
        {%- endif %}
    {%- else %}
        {{- raise_exception("Unexpected message role: " + m.role) }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- "<|im_start|>assistant\n<think>\n" }}
{%- endif %}
"""

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def log(msg):
    print(msg, flush=True)


def rng_for(name):
    return random.Random(SEED ^ zlib.crc32(name.encode()))


def dump_jsonl(path, rows):
    with open(path, "w", encoding="ascii") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=True, separators=(",", ":")) + "\n")


def dump_json(path, obj, indent=1):
    with open(path, "w", encoding="ascii") as f:
        json.dump(obj, f, ensure_ascii=True, indent=indent)
        f.write("\n")


def component_types(tokenizer_json):
    """normalizer / pre_tokenizer / decoder / post_processor types, nested Sequences too."""

    def describe(node):
        if node is None:
            return None
        t = node.get("type")
        if t == "Sequence":
            inner = node.get("normalizers") or node.get("pretokenizers") or node.get(
                "decoders") or node.get("processors") or []
            return "Sequence[" + ", ".join(describe(x) or "null" for x in inner) + "]"
        extra = []
        for k in ("prepend_scheme", "add_prefix_space", "use_regex", "individual_digits",
                  "behavior", "split", "trim_offsets", "single"):
            if k in node:
                v = node[k]
                if k == "single":
                    v = " ".join(
                        (s["SpecialToken"]["id"] if "SpecialToken" in s else "$" + s["Sequence"]["id"])
                        for s in v)
                extra.append(f"{k}={v}")
        return t + ("(" + ", ".join(extra) + ")" if extra else "")

    model = tokenizer_json["model"]
    merges = model.get("merges")
    merge_form = None
    if merges:
        merge_form = "pairs" if isinstance(merges[0], list) else "strings"
    return {
        "model": model["type"],
        "model_flags": {k: model.get(k) for k in ("unk_token", "fuse_unk", "byte_fallback",
                                                  "ignore_merges", "unk_id") if k in model},
        "merges_form": merge_form,
        "normalizer": describe(tokenizer_json.get("normalizer")),
        "pre_tokenizer": describe(tokenizer_json.get("pre_tokenizer")),
        "post_processor": describe(tokenizer_json.get("post_processor")),
        "decoder": describe(tokenizer_json.get("decoder")),
        "added_tokens": [
            {k: t[k] for k in ("id", "content", "special", "lstrip", "rstrip", "single_word",
                               "normalized")}
            for t in tokenizer_json.get("added_tokens", [])
        ],
    }


# --------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------


def collect_corpus(max_code_bytes=3_500_000, max_license_bytes=600_000):
    rng = rng_for("corpus")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "site-packages", "dist-packages", "__pycache__", "idlelib",
            "lib2to3", "turtledemo", "encodings"}
    files = sorted(p for p in stdlib.rglob("*.py") if not (set(p.relative_to(stdlib).parts) & skip))
    rng.shuffle(files)
    code, used = [], 0
    for p in files:
        try:
            t = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if used + len(t) > max_code_bytes:
            continue
        code.append(t)
        used += len(t)
        if used > max_code_bytes * 0.98:
            break
    lic, lic_used, lic_files = [], 0, []
    roots = []
    try:
        roots += site.getsitepackages()
    except AttributeError:
        pass
    roots += [sysconfig.get_paths().get("purelib", ""), sysconfig.get_paths().get("platlib", "")]
    seen = set()
    for root in sorted(set(r for r in roots if r and os.path.isdir(r))):
        for p in sorted(Path(root).glob("*.dist-info/**/*")):
            name = p.name.upper()
            if not p.is_file() or not any(k in name for k in ("LICENSE", "COPYING", "NOTICE")):
                continue
            try:
                t = p.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            h = zlib.crc32(t.encode())
            if h in seen:
                continue
            seen.add(h)
            if lic_used + len(t) > max_license_bytes:
                continue
            lic.append(t)
            lic_files.append(str(p))
            lic_used += len(t)
    multi = []
    for lang, paras in MULTILINGUAL.items():
        multi += paras
    info = {
        "stdlib_dir": str(stdlib),
        "stdlib_files_used": len(code),
        "stdlib_chars": used,
        "license_files_used": len(lic),
        "license_chars": lic_used,
        "multilingual_paragraphs": len(multi),
    }
    return code, lic, multi, info


def training_lines(code, lic, multi, multi_repeat):
    """Single lines (SentencePiece style: newlines come back as byte fallback)."""
    lines = []
    for text in code + lic:
        for line in text.split("\n"):
            if line.strip():
                lines.append(line.rstrip("\r"))
    for _ in range(multi_repeat):
        for p in multi:
            lines.append(p)
    return lines


def training_chunks(code, lic, multi, multi_repeat, lines_per_chunk=8):
    """Multi-line chunks, so that newlines, tabs and indentation get learnt."""
    chunks = []
    for text in code + lic:
        ls = text.split("\n")
        for i in range(0, len(ls), lines_per_chunk):
            c = "\n".join(ls[i:i + lines_per_chunk])
            if c.strip():
                chunks.append(c)
    for _ in range(multi_repeat):
        for p in multi:
            chunks.append(p)
    return chunks


# --------------------------------------------------------------------------------------
# Test strings
# --------------------------------------------------------------------------------------

EMOJI_BITS = [
    "👨‍👩‍👧‍👦", "👩‍❤️‍👨", "🏳️‍🌈", "🏴‍☠️", "🇩🇪", "🇯🇵", "🇺🇸", "🇫🇷", "🇺🇦", "👍", "👍🏽",
    "👍🏿", "✌🏿", "🤝", "1️⃣", "#️⃣", "*️⃣", "❤️", "☺️", "😀", "😂", "🤔", "🙃", "😴", "🍕",
    "🎉", "🥳", "🧑‍💻", "👩🏻‍🔬", "🐈‍⬛", "🫠", "🫶🏼", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "☕", "⚡", "✅", "❌",
    "\u2764", "\u2764\ufe0f", "\u263a\ufe0e", "🔥🔥🔥",
]
UNUSUAL = [
    "\ufffd", "\u200b", "\u200c", "\u200d", "\ufeff", "\u00a0", "\u2028", "\u2029", "\u3000",
    "\u1680", "\u2009", "\u202f", "\u00ad", "\u2060", "\ue000", "\uf8ff", "\U000f0000",
    "\U0010fffd", "\U0010ffff", "\U0001d400", "\U00020000", "\U0002a6d6", "\U000e0041",
    "\ufe0f", "\U000e0100", "\ufffe", "\uffff", "\ufdd0", "\u0378", "\U0001f600", "\u061c",
    "\u200e", "\u200f", "\u202e", "\u0300", "\u20dd", "\U00010348", "\U0001f9ff", "\u2581",
    "\u0120", "\u010a", "▁▁", "Ġ", "Ċ",
]
COMBINING = [
    "e\u0301", "cafe\u0301", "caf\u00e9", "n\u0303", "A\u030a", "\u00c5", "\u212b",
    "o\u0308\u0304", "a\u0328\u0301", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d",
    "\u1100\u1161\u11a8", "\uac01", "\u1112\u1161\u11ab\u1100\u1173\u11af",  # Hangul jamo / precomposed
    "\ud55c\uad6d\uc5b4", "\u0915\u094d\u0937", "\u0e01\u0e33", "\u05e9\u05c1\u05b8",
    "\ufb01", "\u2460", "\uff21\uff22\uff23", "\u00bd", "x\u00b2", "\u1e9b\u0323",
    "\u0041\u030a\u0301", "\u00e9\u0301", "i\u0307", "\u0130", "\u0131", "\u00df", "\u1e9e",
    "\u01c4", "\u01c5", "\u01c6", "\u2126", "\u03a9", "\uff76\uff9e", "\u30ac", "\u30ab\u3099",
]
CONTROL = [chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in (0x80, 0x85, 0x9f)]
DIGIT_BITS = ["0", "1", "9", "00", "007", "123", "2024", "3.14159", "1,234,567.89", "1e-9",
              "0x1F", "+49 30 1234567", "12:30:45", "2026-01-15", "٣٤٥", "०१२", "１２３",
              "Ⅻ", "½", "²", "¹²³", "v1.2.3", "abc123def", "A1B2C3", "$100", "100%", "-42"]
WORDS = ["hello", "Hello", "HELLO", "world", "the", "The", " the", "token", "tokenizer",
         "Jamba", "jamba.cpp", "def", "return", "self", "import", "None", "True", "print",
         "I'm", "don't", "we'LL", "they're", "it's", "'s", "'S", "O'Neil", "rock'n'roll",
         "e-mail", "state-of-the-art", "U.S.A.", "snake_case", "camelCase", "CONSTANT",
         "https://example.com/a?b=c&d=e", "user@example.com", "C++", "a.b.c", "...", "?!",
         "¿Qué?", "¡Hola!", "naïve", "façade", "Straße", "ἀρχή", "Москва", "東京", "서울"]
WS = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ", "\u00a0",
      "\u3000", "\x0b", "\x0c", "\r"]


def make_strings(name, corpus_lines, multi, added_contents, n_total):
    """Deterministic, varied test strings. `added_contents`: this tokenizer's added tokens."""
    rng = rng_for("strings/" + name)
    all_specials = sorted(set(JAMBA_SPECIALS + JAMBA_CHAT_TOKENS + added_contents + [
        "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<s>", "</s>", "<unk>"]))
    own = sorted(set(added_contents))
    out = []

    def add(s):
        out.append(s)

    def corpus_slice(max_len):
        line = rng.choice(corpus_lines)
        if len(line) <= max_len:
            return line
        i = rng.randrange(0, len(line) - max_len + 1)
        return line[i:i + rng.randint(1, max_len)]

    def multi_slice(max_len):
        p = rng.choice(multi)
        i = rng.randrange(0, len(p))
        return p[i:i + rng.randint(1, max_len)]

    # Fixed edge cases first.
    fixed = ["", " ", "  ", "a", " a", "a ", "  a  ", "\n", "\t", "hello world", "Hello World!",
             "Hi<|endoftext|> there", "<|bom|><|user|> hello<|eom|>",
             "<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> Hi<|eom|><|bom|><|assistant|>",
             "<|endoftext|>", "<|endoftext|><|endoftext|>", " <|endoftext|> ", "<|endoftext",
             "<|endoftext|", "<|end", "<<|endoftext|>>", "<|ENDOFTEXT|>", "text<|endoftext|>",
             "<|endoftext|>text", "\n<|endoftext|>\n", "▁hello", "▁", "hello▁world", " ▁ ",
             "<0x41>", "<0x0A>", "<unk>", "<|unk|>", "<|pad|>", "Ġhello", "ĠĠ", "ĊĊ",
             " " * 20, " " * 33, "\t" * 12, "\n" * 15, " \t\n" * 7, "a" + " " * 25 + "b",
             "x" * 80, "ab" * 40, "1" * 50, "1234567890" * 4, "0" * 25, "3.14159265358979323846",
             "\x00", "\x00\x01\x02", "a\x00b", "\x7f", "\x1b[31mred\x1b[0m", "\r\n\r\n",
             "\ufffd", "\ufeffBOM at start", "zero\u200bwidth", "👨‍👩‍👧‍👦", "🇩🇪🇯🇵",
             "e\u0301", "\u1100\u1161\u11a8", "日本語のテキスト", "中文", "한국어",
             "\U0010ffff", "\ue000", "\U000f0000", "Ünïcödé", "ÀÉÎÕÜ àéîõü"]
    for s in fixed:
        add(s)
    # Each added token alone, with spaces, with text, doubled, inside words.
    for t in own:
        for s in (t, " " + t, t + " ", " " + t + " ", "  " + t + "  ", "a" + t + "b", "a " + t + " b",
                  t + t, t + "\n", "\n" + t, t + "hello", "hello" + t, "Hi" + t + " there",
                  t[:-1], t[1:], t.upper(), "x" + t[:len(t) // 2]):
            add(s)

    targets = [
        ("corpus", 0.26), ("multi", 0.13), ("emoji", 0.06), ("combining", 0.05),
        ("whitespace", 0.08), ("digits", 0.07), ("special", 0.12), ("control", 0.04),
        ("unusual", 0.04), ("words", 0.05), ("mix", 0.10),
    ]
    remaining = max(0, n_total - len(out))
    for kind, frac in targets:
        for _ in range(int(round(remaining * frac))):
            if kind == "corpus":
                s = corpus_slice(rng.choice([6, 10, 16, 24, 36, 60]))
            elif kind == "multi":
                s = multi_slice(rng.choice([3, 5, 8, 14, 24]))
            elif kind == "emoji":
                k = rng.randint(1, 4)
                parts = [rng.choice(EMOJI_BITS) for _ in range(k)]
                if rng.random() < 0.6:
                    parts.insert(rng.randrange(k + 1), rng.choice(WORDS))
                s = rng.choice(["", " "]).join(parts)
            elif kind == "combining":
                s = rng.choice(COMBINING)
                if rng.random() < 0.5:
                    s = rng.choice(WORDS) + rng.choice(["", " "]) + s
                if rng.random() < 0.3:
                    s = unicodedata.normalize(rng.choice(["NFD", "NFC", "NFKD", "NFKC"]), s)
            elif kind == "whitespace":
                run = "".join(rng.choice(WS) for _ in range(rng.randint(1, 6)))
                if rng.random() < 0.3:
                    run = rng.choice([" ", "\t", "\n"]) * rng.randint(2, 30)
                w1, w2 = rng.choice(WORDS), rng.choice(WORDS)
                s = rng.choice([run, w1 + run, run + w1, w1 + run + w2, run + w1 + run])
            elif kind == "digits":
                if rng.random() < 0.4:
                    s = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 64)))
                else:
                    s = rng.choice(DIGIT_BITS)
                if rng.random() < 0.5:
                    s = rng.choice(WORDS) + rng.choice(["", " ", "-", ":"]) + s
                if rng.random() < 0.2:
                    s = s + rng.choice([" ", ""]) + rng.choice(DIGIT_BITS)
            elif kind == "special":
                t = rng.choice(own if own and rng.random() < 0.7 else all_specials)
                left = rng.choice(["", "", "Hi", "hello ", " ", "  ", "\n", "x", "1", "日本",
                                   rng.choice(all_specials)])
                right = rng.choice(["", "", " there", "there", " ", "  ", "\n", "!", "2",
                                    "世界", rng.choice(all_specials)])
                s = left + t + right
                if rng.random() < 0.2:
                    s = s + rng.choice(all_specials) + corpus_slice(10)
            elif kind == "control":
                c = rng.choice(CONTROL)
                s = rng.choice([c, c * rng.randint(2, 4), "a" + c + "b", c + "hello", "hello" + c,
                                " " + c + " "])
            elif kind == "unusual":
                u = rng.choice(UNUSUAL)
                s = rng.choice([u, u * 2, "a" + u + "b", u + "hello", "hello " + u, " " + u + " "])
            elif kind == "words":
                s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            else:  # random concatenation of pieces of everything
                pools = [lambda: corpus_slice(20), lambda: multi_slice(10),
                         lambda: rng.choice(EMOJI_BITS), lambda: rng.choice(COMBINING),
                         lambda: rng.choice(WS), lambda: rng.choice(DIGIT_BITS),
                         lambda: rng.choice(all_specials), lambda: rng.choice(CONTROL),
                         lambda: rng.choice(UNUSUAL), lambda: rng.choice(WORDS)]
                s = rng.choice(["", " ", ""]).join(rng.choice(pools)() for _ in range(rng.randint(2, 5)))
            add(s)
    # A few longer ones.
    for _ in range(8):
        s = " ".join(corpus_slice(50) for _ in range(4)) + " " + multi_slice(30)
        add(s[:220])

    # De-duplicate, keep order; no lone surrogates can occur (all literals are valid).
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


# --------------------------------------------------------------------------------------
# Tokenizer builders
# --------------------------------------------------------------------------------------


def spm_piece_types(sp):
    """1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte (the proto's enum),
    read through the processor so that no protobuf module is needed."""
    types = []
    for i in range(sp.get_piece_size()):
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)  # normal or user defined: this model has no user-defined pieces
    return types


def spm_generate_merges(sp):
    """Merges of a SentencePiece BPE model, as transformers' SentencePieceExtractor makes
    them: every split of every normal piece into two pieces that exist, ordered by the
    merged piece's score (higher first), ties by the ids of the two parts."""
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    types = spm_piece_types(sp)
    normal = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(n) if types[i] == 1]
    merges = []
    for piece, score in normal:
        local = []
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda x: x[2], reverse=True)  # stable: keeps the id order for ties
    return vocab, [(a, b) for a, b, _ in merges]


def train_spm(lines, workdir):
    import sentencepiece as spm

    prefix = str(Path(workdir) / "spm")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=3000,
        character_coverage=0.9995,
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        allow_whitespace_only_pieces=True,
        split_by_unicode_script=True,
        split_by_whitespace=True,
        max_sentence_length=8192,
        pad_id=0, bos_id=1, eos_id=2, unk_id=3,
        pad_piece="<|pad|>", bos_piece="<|startoftext|>", eos_piece="<|endoftext|>",
        unk_piece="<|unk|>",
        control_symbols=JAMBA_CHAT_TOKENS,
        num_threads=16,
        minloglevel=2,
    )
    return prefix + ".model"


def build_llama_manual(model_file):
    """tokenizer.json as transformers' LlamaConverter made it with legacy=True (the form
    of Llama 2's tokenizer.json; that Jamba v0.1's has this form too is likely but was
    not checked against the real file). Checked on the GPU machine: same ids as
    sentencepiece on every string without special-token text."""
    import sentencepiece as spm
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, processors
    from tokenizers.models import BPE

    sp = spm.SentencePieceProcessor(model_file=model_file)
    vocab, merges = spm_generate_merges(sp)
    tok = Tokenizer(BPE(vocab=vocab, merges=merges, unk_token=sp.id_to_piece(sp.unk_id()),
                        fuse_unk=True, byte_fallback=True, dropout=None))
    types = spm_piece_types(sp)
    specials = [sp.id_to_piece(i) for i, t in enumerate(types) if t in (2, 3)]  # unknown + control
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in specials])
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|>:0 $A:0", pair="<|startoftext|>:0 $A:0 <|startoftext|>:1 $B:1",
        special_tokens=[("<|startoftext|>", 1)])
    return tok


def build_llama_via_transformers(model_file):
    """The same through transformers' own LlamaConverter (an attempt, logged only: in
    5.17 it raises AttributeError inside SentencePieceExtractor.extract, whose
    signature changed under SpmConverter). Returns a tokenizers.Tokenizer or raises."""
    import sentencepiece as spm
    from transformers.convert_slow_tokenizer import LlamaConverter

    sp = spm.SentencePieceProcessor(model_file=model_file)

    class SlowStandIn:  # what the converter reads from a slow LlamaTokenizer
        vocab_file = model_file
        legacy = True
        add_prefix_space = True

        def convert_ids_to_tokens(self, i):
            return sp.id_to_piece(i)

    tok = LlamaConverter(SlowStandIn()).converted()
    return tok


def build_gpt2(chunks):
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(BPE(dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                        fuse_unk=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=2500, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(chunks, trainer=trainer)
    # GPT-2 keeps <|endoftext|> after the learnt vocabulary.
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=False, special=True)])
    return tok


ADDED_TOKENS_SPEC = [
    # content, special, lstrip, rstrip, single_word, normalized
    ("<|endoftext|>", True, False, False, False, False),
    ("<|im_start|>", True, False, False, False, False),
    ("<|im_end|>", True, False, False, False, False),
    ("<mask>", True, True, False, False, False),        # lstrip, RoBERTa style
    ("<sep>", True, False, True, False, False),         # rstrip
    ("<|both|>", True, True, True, False, False),       # lstrip + rstrip
    ("<think>", False, False, False, False, False),
    ("</think>", False, False, False, False, False),
    ("<tool>", False, False, False, False, False),
    ("<tool_call>", False, False, False, False, False),
    ("</tool_call>", False, False, False, False, False),
    ("<tools>", False, False, False, False, False),
    ("</tools>", False, False, False, False, False),
    ("<tool_response>", False, False, False, False, False),
    ("</tool_response>", False, False, False, False, False),
    ("café", False, False, False, False, True),          # normalized: NFC makes cafe+U+0301 match
    ("don't", False, False, False, False, True),         # normalized: ’ is replaced by '
    ("ACME", False, False, False, True, False),          # single_word
    ("New York", False, False, False, False, False),     # contains a space, raw match
    ("<|lstrip_plain|>", False, True, False, False, False),  # non-special with lstrip
]


def build_added(chunks):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(BPE(unk_token="<unk>", fuse_unk=False, byte_fallback=False, dropout=None))
    tok.normalizer = normalizers.Sequence([
        normalizers.NFC(),
        normalizers.Replace(Regex("[\u2018\u2019]"), "'"),
        normalizers.Replace("\t", "    "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s*[\r\n]+| ?[^\s\w]+| ?\w+|\s+(?!\S)|\s+"), behavior="isolated",
                             invert=False),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=2, show_progress=False,
                                  special_tokens=["<unk>"], limit_alphabet=400)
    tok.train_from_iterator(chunks, trainer=trainer)
    specials = [AddedToken(c, special=True, lstrip=l, rstrip=r, single_word=w, normalized=n)
                for c, s, l, r, w, n in ADDED_TOKENS_SPEC if s]
    plain = [AddedToken(c, special=False, lstrip=l, rstrip=r, single_word=w, normalized=n)
             for c, s, l, r, w, n in ADDED_TOKENS_SPEC if not s]
    tok.add_special_tokens(specials)
    tok.add_tokens(plain)
    return tok


def build_unigram(chunks):
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(vocab_size=2000, show_progress=False,
                                      special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
                                      max_piece_length=12, shrinking_factor=0.75,
                                      n_sub_iterations=2)
    tok.train_from_iterator(chunks, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 </s>:0", pair="$A:0 </s>:0 $B:1 </s>:1",
        special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return tok


# --------------------------------------------------------------------------------------
# Saving, cases
# --------------------------------------------------------------------------------------


def save_hf(tok, outdir, report, chat_template=None, jinja_file=False, **special):
    """Wrap in PreTrainedTokenizerFast and save_pretrained, the way a hub repo is made."""
    from transformers import PreTrainedTokenizerFast

    before = json.loads(tok.to_str())
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False,
                                   **special)
    if chat_template is not None:
        fast.chat_template = chat_template
    outdir.mkdir(parents=True, exist_ok=True)
    how = "save_pretrained()"
    try:
        if chat_template is not None and not jinja_file:
            how = "save_pretrained(save_jinja_files=False)"
            written = fast.save_pretrained(str(outdir), save_jinja_files=False)
        else:
            written = fast.save_pretrained(str(outdir))
    except TypeError as e:  # no save_jinja_files in this version
        report.setdefault("notes", []).append(f"save_jinja_files refused ({e}); plain save_pretrained")
        how = "save_pretrained() [save_jinja_files refused]"
        written = fast.save_pretrained(str(outdir))
    report["save_call"] = how
    report["save_pretrained_returned"] = sorted(os.path.basename(str(w)) for w in written)
    cfg_path = outdir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    jinja_path = outdir / "chat_template.jinja"
    placement = []
    if "chat_template" in cfg:
        placement.append("tokenizer_config.json")
    if jinja_path.exists():
        placement.append("chat_template.jinja")
    report["chat_template_placement_by_save_pretrained"] = placement
    # Put the template where this fixture wants it, whatever the version did.
    if chat_template is not None:
        if jinja_file and "chat_template.jinja" not in placement:
            jinja_path.write_text(chat_template, encoding="utf-8")
            cfg.pop("chat_template", None)
            cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            report.setdefault("notes", []).append("moved chat_template to chat_template.jinja by hand")
        if not jinja_file and "tokenizer_config.json" not in placement:
            cfg["chat_template"] = chat_template
            cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            if jinja_path.exists():
                jinja_path.unlink()
            report.setdefault("notes", []).append("moved chat_template into tokenizer_config.json by hand")
    after = json.loads((outdir / "tokenizer.json").read_text(encoding="utf-8"))
    diffs = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    report["tokenizer_json_keys_changed_by_transformers"] = diffs
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    report["tokenizer_config_keys"] = {
        k: (v if k not in ("added_tokens_decoder", "chat_template") else f"<{len(v)} entries/chars>")
        for k, v in cfg.items()}
    return fast


def make_cases(tok, strings, budget, protected=0):
    """One row per string; past `budget` bytes the largest rows (not among the first
    `protected`) are dropped, never going below MIN_CASES rows."""
    rows, sizes = [], []
    for s in strings:
        enc = tok.encode(s)
        ids = list(enc.ids)
        row = {"text": s, "ids": ids, "pieces": list(enc.tokens),
               "decoded": tok.decode(ids, skip_special_tokens=False),
               "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)}
        rows.append(row)
        sizes.append(len(json.dumps(row, ensure_ascii=True, separators=(",", ":"))) + 1)
    total, keep = sum(sizes), [True] * len(rows)
    for i in sorted(range(protected, len(rows)), key=lambda i: (-sizes[i], i)):
        if total <= budget or sum(keep) <= MIN_CASES:
            break
        keep[i] = False
        total -= sizes[i]
    return [r for r, k in zip(rows, keep) if k]


def byte_token_ids(tok, kind):
    """id of the token for each byte value 0..255 (None where absent)."""
    ids = [None] * 256
    if kind == "byte_fallback":
        for b in range(256):
            ids[b] = tok.token_to_id(f"<0x{b:02X}>")
    elif kind == "bytelevel":
        # GPT-2's bytes_to_unicode
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
            range(ord("®"), ord("ÿ") + 1))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        for b, c in zip(bs, cs):
            ids[b] = tok.token_to_id(chr(c))
    return ids


def make_decode_cases(tok, name, kind, n_random=110):
    rng = rng_for("decode/" + name)
    vocab_n = tok.get_vocab_size(with_added_tokens=True)
    seqs = []
    for _ in range(n_random):
        seqs.append([rng.randrange(vocab_n) for _ in range(rng.randint(1, 10))])
    added = sorted(tok.get_added_tokens_decoder().keys())
    for a in added:
        seqs.append([a])
        seqs.append([a, rng.randrange(vocab_n), a])
    hello = tok.encode("hello world", add_special_tokens=False).ids
    seqs.append([])
    seqs.append(hello)
    if added:
        seqs.append([added[0]] + hello + [added[-1]])
        seqs.append(hello + added + hello)
    byte_ids = byte_token_ids(tok, kind)
    if any(i is not None for i in byte_ids):
        def B(*bs):
            return [byte_ids[b] for b in bs]
        utf8 = lambda s: list(s.encode("utf-8"))  # noqa: E731
        byte_seqs = [
            B(*utf8("é")), B(*utf8("中")), B(*utf8("😀")), B(*utf8("👨‍👩‍👧")),
            B(0xE4, 0xB8),              # truncated 3-byte sequence
            B(0xE4),                    # lone lead byte
            B(0x80), B(0xBF, 0x80),     # lone continuation bytes
            B(0xC0, 0xAF),              # overlong '/'
            B(0xED, 0xA0, 0x80),        # UTF-16 surrogate encoded
            B(0xF4, 0x90, 0x80, 0x80),  # above U+10FFFF
            B(0xF5), B(0xFF), B(0xFE, 0xFF),
            B(0xF0, 0x9F, 0x98),        # truncated emoji
            B(0xF0, 0x9F) + B(0x41),    # truncated then ASCII
            B(0x41, 0xE2, 0x82) + B(0xAC, 0x42),  # euro split over two runs
            B(0x00), B(0x0A, 0x0A), B(0x09, 0x20, 0x20),
            B(0xE4, 0xB8) + hello + B(0xAD),
            hello + B(0xF0, 0x9F, 0x98, 0x80) + hello,
            B(*[rng.randrange(256) for _ in range(12)]),
            B(*[rng.randrange(128, 256) for _ in range(8)]),
        ]
        for s in byte_seqs:
            if all(i is not None for i in s):
                seqs.append(s)
    rows = []
    for ids in seqs:
        rows.append({"ids": ids, "pieces": [tok.id_to_token(i) for i in ids],
                     "decoded": tok.decode(ids, skip_special_tokens=False),
                     "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    return rows


# --------------------------------------------------------------------------------------
# Chat renderings
# --------------------------------------------------------------------------------------

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"name": "search_docs", "description": "Search the knowledge base.",
     "parameters": {"type": "object", "properties": {
         "query": {"type": "string"}, "top_k": {"type": "integer", "default": 3}},
         "required": ["query"]}},
]
DOCUMENTS = [
    {"title": "Jamba overview", "text": "Jamba interleaves Mamba and attention layers, with MoE on every other layer."},
    {"title": "Tokenizer notes", "text": "The vocabulary has 65,536 entries; <|bom|> starts a message.",
     "source": "internal wiki", "year": 2024},
]


def conversations():
    u1 = {"role": "user", "content": "Hello, how are you?"}
    a1 = {"role": "assistant", "content": "I'm fine, thanks! How can I help?"}
    u2 = {"role": "user", "content": "What's the weather in Zürich? 🌤️"}
    sysm = {"role": "system", "content": "You are a concise assistant."}
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}},
        {"type": "function", "function": {"name": "search_docs", "arguments": "{\"query\": \"Zürich climate\"}"}}]}
    toolr1 = {"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"}
    toolr2 = {"role": "tool", "content": "No documents found."}
    a_final = {"role": "assistant", "content": "It is 21 °C and clear in Zürich."}
    think = {"role": "assistant",
             "content": "<think>\nThe user greets me. I should answer politely.\n</think>\n\nHi! I'm doing well."}
    return [
        ("single_user", [u1], None, None),
        ("system_and_user", [sysm, u1], None, None),
        ("multi_turn", [sysm, u1, a1, u2], None, None),
        ("ends_with_assistant", [u1, a1], None, None),
        ("tools", [u2], TOOLS, None),
        ("tools_with_system", [sysm, u2], TOOLS, None),
        ("tool_call_round_trip", [sysm, u2, call, toolr1, toolr2, a_final], TOOLS, None),
        ("documents", [u1, a1, {"role": "user", "content": "Summarise the documents."}], None, DOCUMENTS),
        ("documents_and_tools", [sysm, {"role": "user", "content": "Use the documents."}], TOOLS, DOCUMENTS),
        ("unicode_and_specials_in_content",
         [{"role": "user", "content": "Ünïcödé 日本語 👨‍👩‍👧‍👦\n  indented\ttab <|eom|> and <|im_end|> literally   "}], None, None),
        ("named_user_and_list_content",
         [{"role": "user", "name": "alice", "content": [{"type": "text", "text": "Look at this."},
                                                        {"type": "text", "text": "And this."}]}], None, None),
        ("thinking_history", [u1, think, u2], None, None),
        ("thinking_last_turn", [u1, think], None, None),
        ("reasoning_content_field",
         [u1, {"role": "assistant", "content": "Hi!", "reasoning_content": "Greet back."}], None, None),
        ("null_content", [u1, {"role": "assistant", "content": None}], None, None),
    ]


ERROR_CONVERSATIONS = [
    ("bad_role", [{"role": "narrator", "content": "Once upon a time"}], None, None),
    ("bad_tool_type", [{"role": "user", "content": "hi"}],
     [{"type": "retrieval", "retrieval": {"name": "kb"}}], None),
]


def _as_ids(x):
    if hasattr(x, "keys") and "input_ids" in x:
        x = x["input_ids"]
    if hasattr(x, "tolist"):
        x = x.tolist()
    if x and isinstance(x[0], list):
        assert len(x) == 1
        x = x[0]
    return [int(i) for i in x]


def plain_jinja_render(template, special_map, messages, tools, documents, agp):
    """Render with plain jinja2 set up as Hugging Face documents it (for the report)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, tools=tools, documents=documents,
                                            add_generation_prompt=agp, **special_map)


def make_chat_cases(outdir, raw_tok, report):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        hf = AutoTokenizer.from_pretrained(str(outdir))
        report["chat_loaded_with"] = "AutoTokenizer -> " + type(hf).__name__
    except Exception as e:  # noqa: BLE001
        report.setdefault("notes", []).append(f"AutoTokenizer failed: {e!r}")
        hf = PreTrainedTokenizerFast.from_pretrained(str(outdir))
        report["chat_loaded_with"] = "PreTrainedTokenizerFast"
    template = hf.chat_template
    special_map = {k: v for k, v in getattr(hf, "special_tokens_map", {}).items() if isinstance(v, str)}
    rows, mismatch_raw, mismatch_plain = [], 0, 0
    for name, msgs, tools, docs in conversations() + ERROR_CONVERSATIONS:
        for agp in (True, False):
            row = {"name": name, "messages": copy.deepcopy(msgs), "tools": copy.deepcopy(tools),
                   "documents": copy.deepcopy(docs), "add_generation_prompt": agp}
            C = copy.deepcopy  # noqa: N806  (HF must not see, or change, the stored objects)
            try:
                text = hf.apply_chat_template(C(msgs), tools=C(tools), documents=C(docs),
                                              add_generation_prompt=agp, tokenize=False)
                try:
                    ids = hf.apply_chat_template(C(msgs), tools=C(tools), documents=C(docs),
                                                 add_generation_prompt=agp, tokenize=True,
                                                 return_dict=False)
                except TypeError:
                    ids = hf.apply_chat_template(C(msgs), tools=C(tools), documents=C(docs),
                                                 add_generation_prompt=agp, tokenize=True)
                row["text"] = text
                row["ids"] = _as_ids(ids)
                raw_ids = raw_tok.encode(text, add_special_tokens=False).ids
                if list(raw_ids) != row["ids"]:
                    mismatch_raw += 1
                    row["ids_from_tokenizer_json_without_special"] = list(raw_ids)
                try:
                    plain = plain_jinja_render(template, special_map, C(msgs), C(tools), C(docs), agp)
                    if plain != text:
                        mismatch_plain += 1
                        row["plain_jinja2_text"] = plain
                except Exception as e:  # noqa: BLE001
                    mismatch_plain += 1
                    row["plain_jinja2_error"] = repr(e)
            except Exception as e:  # noqa: BLE001
                if name not in ("bad_role", "bad_tool_type"):
                    report.setdefault("unexpected_chat_errors", []).append(
                        f"{name}/{agp}: {type(e).__name__}: {e}")
                    continue
                row["error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
            if name in ("bad_role", "bad_tool_type"):
                break  # one error case each is enough
    report["chat_cases"] = len(rows)
    report["chat_cases_with_error"] = sum(1 for r in rows if "error" in r)
    report["chat_ids_differ_from_raw_encode_without_special_tokens"] = mismatch_raw
    report["chat_text_differs_from_plain_jinja2_render"] = mismatch_plain
    return rows


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/tokenizers")
    ap.add_argument("--only", default="", help="comma-separated subset (for debugging)")
    args = ap.parse_args()
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # README.md there is kept; tokenizer dirs are remade
    work = Path(tempfile.mkdtemp(prefix="tokfx_"))

    import tokenizers
    import transformers
    from tokenizers import Tokenizer

    versions = {"python": platform.python_version(), "tokenizers": tokenizers.__version__,
                "transformers": transformers.__version__}
    for mod in ("sentencepiece", "jinja2", "google.protobuf"):
        try:
            versions[mod] = __import__(mod, fromlist=["x"]).__version__
        except Exception as e:  # noqa: BLE001
            versions[mod] = f"unavailable: {e!r}"
    log(f"versions: {versions}")

    code, lic, multi, corpus_info = collect_corpus()
    lines = training_lines(code, lic, multi, multi_repeat=40)
    chunks = training_chunks(code, lic, multi, multi_repeat=40)
    corpus_info.update(spm_lines=len(lines), chunks=len(chunks))
    log(f"corpus: {corpus_info}  ({time.time() - t0:.1f}s)")
    # Sample lines for test strings come from the same text (held in memory only).
    sample_lines = [ln for ln in lines if len(ln) < 400]

    manifest = {"generator": "tools/make_tokenizer_fixtures.py", "seed": SEED,
                "versions": versions, "corpus": corpus_info, "tokenizers": {}}
    only = set(x for x in args.only.split(",") if x)

    def want(n):
        return not only or n in only

    # ---------------------------------------------------------------- llama_spm_bpe
    builders = []
    if want("llama_spm_bpe"):
        def do_llama():
            import sentencepiece as spm

            rep = {}
            d = out / "llama_spm_bpe"
            model_file = train_spm(lines, work)
            sp = spm.SentencePieceProcessor(model_file=model_file)
            rep["spm_vocab_size"] = sp.get_piece_size()
            manual = build_llama_manual(model_file)
            candidates = {"manual (LlamaConverter legacy recipe)": manual}
            try:
                conv = build_llama_via_transformers(model_file)
                candidates["transformers LlamaConverter"] = conv
                rep["transformers_LlamaConverter"] = component_types(json.loads(conv.to_str()))
            except Exception as e:  # noqa: BLE001
                rep["transformers_LlamaConverter"] = f"failed: {type(e).__name__}: {e}"
            # Agreement with sentencepiece on strings that hold no control-token text.
            added = JAMBA_SPECIALS + JAMBA_CHAT_TOKENS
            strings = make_strings("llama_spm_bpe", sample_lines, multi, added, N_CASES)
            plain = [s for s in strings if not any(a in s for a in added)]
            agree = {}
            for cname, c in candidates.items():
                agree[cname] = sum(
                    1 for s in plain if c.encode(s, add_special_tokens=False).ids == sp.encode(s))
            rep["agreement_with_sentencepiece"] = {k: f"{v}/{len(plain)}" for k, v in agree.items()}
            if "transformers LlamaConverter" in candidates:
                conv = candidates["transformers LlamaConverter"]
                same = sum(1 for s in strings if conv.encode(s, add_special_tokens=False).ids
                           == manual.encode(s, add_special_tokens=False).ids)
                rep["transformers_LlamaConverter_vs_manual_same_ids"] = f"{same}/{len(strings)}"
            tok = manual  # the recipe we control; its structure is what real Llama/Jamba files have
            rep["chosen"] = "manual (LlamaConverter legacy recipe)"
            fast = save_hf(tok, d, rep, chat_template=JAMBA_CHAT_TEMPLATE, jinja_file=False,
                           bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                           unk_token="<|unk|>", pad_token="<|pad|>", add_bos_token=True,
                           add_eos_token=False, model_max_length=262144)
            del fast
            shutil.copy(model_file, d / "tokenizer.model")
            # The spm-only path: what sentencepiece gives (no BOS, control tokens not matched).
            spm_rows = []
            for s in plain[:500]:
                ids = sp.encode(s)
                spm_rows.append({"text": s, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids],
                                 "decoded": sp.decode(ids)})
            dump_jsonl(d / "spm_cases.jsonl", spm_rows)
            rep["spm_cases"] = len(spm_rows)
            # What transformers' own LlamaTokenizer class makes of these files (informational:
            # real Jamba configs name tokenizer_class LlamaTokenizer; in 5.x that class rebuilds
            # its pipeline from vocab + merges instead of using tokenizer.json as it is).
            rt = Tokenizer.from_file(str(d / "tokenizer.json"))
            try:
                from transformers import AutoTokenizer
                as_llama = work / "as_llama"
                shutil.copytree(d, as_llama)
                cfg = json.loads((as_llama / "tokenizer_config.json").read_text(encoding="utf-8"))
                cfg["tokenizer_class"] = "LlamaTokenizer"
                (as_llama / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
                at = AutoTokenizer.from_pretrained(str(as_llama))
                info = component_types(json.loads(at.backend_tokenizer.to_str()))
                info["added_tokens"] = "(omitted)"
                info["class"] = type(at).__name__
                same = sum(1 for s in strings if at.backend_tokenizer.encode(s).ids == rt.encode(s).ids)
                info["same_ids_as_fixture_tokenizer_json"] = f"{same}/{len(strings)}"
                bad = [s for s in strings if at.backend_tokenizer.encode(s).ids != rt.encode(s).ids]
                info["first_differences"] = [
                    {"text": s, "fixture": rt.encode(s).tokens, "LlamaTokenizer": at.backend_tokenizer.encode(s).tokens}
                    for s in bad[:3]]
                rep["transformers_AutoTokenizer_with_tokenizer_class_LlamaTokenizer"] = info
            except Exception as e:  # noqa: BLE001
                rep["transformers_AutoTokenizer_with_tokenizer_class_LlamaTokenizer"] = \
                    f"failed: {type(e).__name__}: {e}"
            # What transformers 5 makes of a tokenizer.model-only repo (informational).
            try:
                from transformers import LlamaTokenizer
                only_spm = work / "spm_only"
                only_spm.mkdir(exist_ok=True)
                shutil.copy(model_file, only_spm / "tokenizer.model")
                (only_spm / "tokenizer_config.json").write_text(json.dumps({
                    "tokenizer_class": "LlamaTokenizer", "bos_token": "<|startoftext|>",
                    "eos_token": "<|endoftext|>", "unk_token": "<|unk|>", "pad_token": "<|pad|>",
                    "add_bos_token": True, "legacy": True}))
                lt = LlamaTokenizer.from_pretrained(str(only_spm))
                lj = json.loads(lt.backend_tokenizer.to_str())
                rep["transformers_LlamaTokenizer_from_tokenizer_model_only"] = component_types(lj)
                same = sum(1 for s in strings if lt.backend_tokenizer.encode(s).ids == rt.encode(s).ids)
                rep["transformers_LlamaTokenizer_from_tokenizer_model_only"]["same_ids_as_fixture"] = \
                    f"{same}/{len(strings)}"
                rep["transformers_LlamaTokenizer_from_tokenizer_model_only"]["added_tokens"] = "(omitted)"
            except Exception as e:  # noqa: BLE001
                rep["transformers_LlamaTokenizer_from_tokenizer_model_only"] = \
                    f"failed: {type(e).__name__}: {e}"
            return d, strings, "byte_fallback", rep

        builders.append(("llama_spm_bpe", do_llama))

    # ---------------------------------------------------------------- gpt2_bytelevel_bpe
    if want("gpt2_bytelevel_bpe"):
        def do_gpt2():
            rep = {}
            d = out / "gpt2_bytelevel_bpe"
            tok = build_gpt2(chunks)
            save_hf(tok, d, rep, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                    unk_token="<|endoftext|>")
            # Old GPT-2 files write merges as "a b" strings: rewrite them so, then check.
            p = d / "tokenizer.json"
            before = Tokenizer.from_file(str(p))
            j = json.loads(p.read_text(encoding="utf-8"))
            merges = j["model"]["merges"]
            if merges and isinstance(merges[0], list):
                assert all(" " not in a and " " not in b for a, b in merges)
                j["model"]["merges"] = [f"{a} {b}" for a, b in merges]
                p.write_text(json.dumps(j, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                rep["merges_rewritten_to_strings"] = True
            strings = make_strings("gpt2_bytelevel_bpe", sample_lines, multi, ["<|endoftext|>"], N_CASES)
            after = Tokenizer.from_file(str(p))
            same = sum(1 for s in strings if before.encode(s).ids == after.encode(s).ids)
            rep["string_merges_same_ids"] = f"{same}/{len(strings)}"
            return d, strings, "bytelevel", rep

        builders.append(("gpt2_bytelevel_bpe", do_gpt2))

    # ---------------------------------------------------------------- added_tokens_bpe
    if want("added_tokens_bpe"):
        def do_added():
            rep = {}
            d = out / "added_tokens_bpe"
            tok = build_added(chunks)
            save_hf(tok, d, rep, chat_template=CHATML_THINK_TEMPLATE, jinja_file=True,
                    eos_token="<|im_end|>", unk_token="<unk>", pad_token="<|endoftext|>")
            contents = [c for c, *_ in ADDED_TOKENS_SPEC] + ["<unk>"]
            strings = make_strings("added_tokens_bpe", sample_lines, multi, contents, N_CASES)
            extra = ["cafe\u0301 au lait", "café", "CAFÉ", "don’t stop", "don't", "dont", "ACME corp",
                     "ACMEcorp", "the ACME.", "xACME", "ACME", " ACME ", "_ACME_", "ACME's",
                     "New York", "New  York", "new york", "NewYork", "a <mask> b", "a<mask>b",
                     "a   <mask>   b", "a <sep> b", "a<sep>  \n b", "x <|both|> y", "x<|both|>y",
                     "<tool><tool_call><tools></tool_call></tools>", "<tool_call_x>", "<tool_>",
                     "<tool_calls>", "<tool_call>>", "<<tool>", "</tool_response></tool_response>",
                     "a <|lstrip_plain|> b", "\t\tindented\tcode", "line1\r\nline2\n\n\nline3",
                     "<think>\nreasoning\n</think>\n\nanswer", "<|im_start|>user\nhi<|im_end|>\n"]
            strings = extra + [s for s in strings if s not in extra]
            rep["_protected"] = len(extra)
            return d, strings, None, rep

        builders.append(("added_tokens_bpe", do_added))

    # ---------------------------------------------------------------- unigram
    if want("unigram"):
        def do_unigram():
            rep = {}
            d = out / "unigram"
            small = chunks[: max(1, len(chunks) // 3)] + chunks[-len(multi) * 40:]
            tok = build_unigram(small)
            save_hf(tok, d, rep, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
            strings = make_strings("unigram", sample_lines, multi, ["<pad>", "</s>", "<unk>"], N_CASES)
            return d, strings, None, rep

        builders.append(("unigram", do_unigram))

    for name, fn in builders:
        t1 = time.time()
        if (out / name).exists():
            shutil.rmtree(out / name)
        try:
            d, strings, kind, rep = fn()
            tok = Tokenizer.from_file(str(d / "tokenizer.json"))  # exactly what jamba.cpp reads
            rows = make_cases(tok, strings, CASES_BUDGET, protected=rep.pop("_protected", 0))
            dump_jsonl(d / "cases.jsonl", rows)
            drows = make_decode_cases(tok, name, kind)
            dump_jsonl(d / "decode_cases.jsonl", drows)
            rep["cases"] = len(rows)
            rep["decode_cases"] = len(drows)
            rep["vocab_size_with_added"] = tok.get_vocab_size(with_added_tokens=True)
            tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
            rep["tokenizer_json"] = component_types(tj)
            if (d / "chat_template.jinja").exists() or "chat_template" in json.loads(
                    (d / "tokenizer_config.json").read_text(encoding="utf-8")):
                chat = make_chat_cases(d, tok, rep)
                dump_json(d / "chat_cases.json", chat)
            rep["files"] = {p.name: p.stat().st_size for p in sorted(d.iterdir())}
            rep["seconds"] = round(time.time() - t1, 1)
            manifest["tokenizers"][name] = rep
            log(f"== {name}: {json.dumps(rep, ensure_ascii=False)[:2500]}")
        except Exception:  # noqa: BLE001
            tb = traceback.format_exc()
            manifest["tokenizers"][name] = {"error": tb}
            log(f"!! {name} FAILED\n{tb}")

    manifest["seconds"] = round(time.time() - t0, 1)
    dump_json(out / "manifest.json", manifest, indent=2)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"total fixture bytes: {total}; seconds: {manifest['seconds']}")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            log(f"  {p.relative_to(out)}  {p.stat().st_size}")
    shutil.rmtree(work, ignore_errors=True)
    failed = [n for n, r in manifest["tokenizers"].items() if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
