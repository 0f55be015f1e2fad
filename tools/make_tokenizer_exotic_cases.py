#!/usr/bin/env python3
"""Expected outputs of HF `tokenizers` for pipelines the main fixtures do not cover.

Run where `tokenizers` is installed (the GPU machine):
    python3 tools/make_tokenizer_exotic_cases.py OUT.json
tests/unit/test_tokenizer_exotic_data.cpp holds its output, compacted (see that file).
Writes {"versions", "models": {name: model json}, "configs": [{"name", "model", "tokenizer":
tokenizer.json without "model", "cases": [...], "decodes": [...]}]}.
"""
import json
import random
import sys
import sysconfig
from pathlib import Path

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import BPE, Unigram, WordLevel, WordPiece

SEED = 7
rng = random.Random(SEED)

MULTI = [
    "Die Straße in München ist schön; Größe, Übung, ÄÖÜ äöü ß.",
    "Ça va? L'été à Paris — où est le café? Œuvre, naïve, façade.",
    "Москва — столица России. Съешь ещё этих мягких булок.",
    "Η Αθήνα είναι όμορφη. ΣΟΦΟΣ σοφός ς.",
    "东京和北京都是大城市。我爱学习中文！",
    "日本語のテキスト、カタカナとひらがな。ｶﾀｶﾅ",
    "한국어 문장입니다. 서울은 크다.",
    "العربية تكتب من اليمين. ٠١٢٣",
    "हिन्दी भाषा में लिखा गया। ०१२",
    "İstanbul'da hava güzel; ılık, İI ıi.",
    "Emoji 😀👍🏽👨‍👩‍👧 🇩🇪 ❤️ done.",
    "ﬁnance ﬂow Ⅻ ½ x² ①②③ ＡＢＣ １２３",
]


def corpus():
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py"))[:60]
    chunks = []
    for p in files:
        try:
            text = p.read_text(encoding="utf-8")
        except Exception:  # noqa: BLE001
            continue
        lines = text.split("\n")
        for i in range(0, len(lines), 6):
            c = "\n".join(lines[i:i + 6])
            if c.strip():
                chunks.append(c)
    for _ in range(30):
        chunks.extend(MULTI)
    return chunks


CHUNKS = corpus()

FIXED = [
    "", " ", "  ", "\t", "\n", " \n ", "a", " a", "a ", "  a  b  ", "Hello World!", "hello world",
    "HELLO WORLD", "HeLLo World and hello world", "don't stop, I'M here!", "state-of-the-art e-mail",
    "a-b--c---d", "x,y;z:w!v?u.", "...!!!???", "(parens) [brackets] {braces}", "3.14159 and 2,718",
    "1234567890", "abc123def456", "year 2026-01-15 12:30", "$100 + 50% = ?", "tab\tseparated\tvalues",
    "line1\nline2\r\nline3", "   leading", "trailing   ", "multiple     spaces", "\u00a0nbsp\u00a0",
    "\u3000ideographic\u3000space", "zero\u200bwidth\u200djoiner", "caf\u00e9 cafe\u0301", "\u00c5ngstr\u00f6m \u212b",
    "Stra\u00dfe STRASSE", "\u0130stanbul \u0131", "\u03a3\u039f\u03a6\u039f\u03a3 \u03c3\u03bf\u03c6\u03bf\u03c2",
    "\ufb01 \ufb02 \u2166 \u00bd x\u00b2 \u2460", "\uff21\uff22\uff23 \uff11\uff12\uff13", "\uff76\uff9e\u30ac",
    "\u1100\u1161\u11a8 \uac01", "e\u0301\u0301 o\u0308\u0304", "Z\u0351\u036b\u0343\u036a", "\u05e9\u05c1\u05b8",
    "\u0915\u094d\u0937 \u0e01\u0e33", "\U0001d400\U0001d401 \U00020000", "\U0001f600\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1e9\U0001f1ea", "\u2764\ufe0f", "\x00\x01\x1b[0m\x7f",
    "\x85\x9f", "\ufeffBOM", "\ufffd", "\ue000\U0010fffd", "\u2581 \u2581\u2581x", "\u0120\u010a",
    "<0x41>", "<unk>", "[UNK]", "<s> </s>", "[CLS] [SEP] [MASK]", "<|bos|>hi<|eos|>", "HELLO WORLD!",
    "hello WORLD", "ab abc xab ab.", "[X] [X]x x[X]", "  [X]  ", "x y x  y", "<Special> <special>",
    "a" * 30, "ab" * 20, "1" * 25, " " * 17, "\n" * 5, "Hello" + " " * 5 + "World",
    "\u00e9\u00e8\u00ea\u00eb \u00c9\u00c8", "\u4e2d\u6587\u5b57\u7b26 \u65e5\u672c",
]


def make_strings():
    out = list(FIXED)
    for _ in range(45):
        c = rng.choice(CHUNKS)
        i = rng.randrange(0, max(1, len(c) - 1))
        out.append(c[i:i + rng.choice([8, 16, 30, 50])])
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


STRINGS = make_strings()
BYTES = [f"<0x{b:02X}>" for b in range(256)]


def train(model, pre, trainer, normalizer=None):
    tok = Tokenizer(model)
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.train_from_iterator(CHUNKS, trainer=trainer)
    return json.loads(tok.to_str())["model"]


def with_bytes(model, byte_list=BYTES):
    m = json.loads(json.dumps(model))
    if m["type"] == "Unigram":
        for b in byte_list:
            m["vocab"].append([b, -20.0])
    else:
        n = len(m["vocab"])
        for k, b in enumerate(byte_list):
            m["vocab"][b] = n + k
    m["byte_fallback"] = True
    return m


def models():
    ms = {}
    meta = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    base = train(BPE(), meta, trainers.BpeTrainer(vocab_size=500, min_frequency=2, show_progress=False,
                                                  limit_alphabet=250, special_tokens=["<unk>"]))
    ms["bpe_bf"] = with_bytes(base)
    unk = json.loads(json.dumps(base))
    unk["unk_token"] = "<unk>"
    unk["fuse_unk"] = False
    ms["bpe_unk"] = unk
    fused = json.loads(json.dumps(unk))
    fused["fuse_unk"] = True
    ms["bpe_unk_fused"] = fused
    partial = with_bytes(base, [b for b in BYTES if not b.startswith("<0xF")])
    partial["unk_token"] = "<unk>"
    partial["fuse_unk"] = True
    ms["bpe_bf_partial"] = partial
    ms["bytelevel"] = train(BPE(), pre_tokenizers.ByteLevel(add_prefix_space=False),
                            trainers.BpeTrainer(vocab_size=500, min_frequency=2, show_progress=False,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    im = json.loads(json.dumps(ms["bytelevel"]))
    n = len(im["vocab"])
    for k, extra in enumerate(["\u0120world!", "abc123", "\u0120Hello", "Hello", "\u0120hello"]):
        if extra not in im["vocab"]:
            im["vocab"][extra] = n + k
    im["ignore_merges"] = True
    ms["bytelevel_ignore_merges"] = im
    ms["bpe_suffix"] = train(BPE(end_of_word_suffix="</w>", unk_token="<unk>"), pre_tokenizers.Whitespace(),
                             trainers.BpeTrainer(vocab_size=500, min_frequency=2, show_progress=False,
                                                 end_of_word_suffix="</w>", special_tokens=["<unk>"],
                                                 limit_alphabet=250))
    ms["bpe_prefix"] = train(BPE(continuing_subword_prefix="##", unk_token="[UNK]"), pre_tokenizers.BertPreTokenizer(),
                             trainers.BpeTrainer(vocab_size=500, min_frequency=2, show_progress=False,
                                                 continuing_subword_prefix="##", special_tokens=["[UNK]"],
                                                 limit_alphabet=250))
    uni = train(Unigram(), meta, trainers.UnigramTrainer(vocab_size=400, show_progress=False,
                                                         special_tokens=["<unk>"], unk_token="<unk>",
                                                         max_piece_length=8, n_sub_iterations=2))
    ms["unigram_bf"] = with_bytes(uni)
    ms["unigram_plain"] = uni
    ms["wordpiece"] = train(WordPiece(unk_token="[UNK]"), pre_tokenizers.BertPreTokenizer(),
                            trainers.WordPieceTrainer(vocab_size=500, show_progress=False,
                                                      special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]),
                            normalizers.BertNormalizer(lowercase=True))
    ms["wordlevel"] = train(WordLevel(unk_token="[UNK]"), pre_tokenizers.Whitespace(),
                            trainers.WordLevelTrainer(vocab_size=400, show_progress=False,
                                                      special_tokens=["[UNK]", "<pad>", "|"]))
    return ms


def llama_decoder():
    return decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                              decoders.Strip(" ", 1, 0)])


def configs():
    meta_always = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    cs = []

    def add(name, model, **kw):
        cs.append((name, model, kw))

    add("nfkd_lower_strip_punct", "bpe_bf",
        normalizer=normalizers.Sequence([normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase(),
                                         normalizers.Strip(left=True, right=True)]),
        pre=pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("contiguous")]),
        decoder=decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()]))
    add("nfd_replace_split_removed", "bpe_bf",
        normalizer=normalizers.Sequence([normalizers.NFD(), normalizers.Replace(Regex(r"\s+"), " "),
                                         normalizers.Replace("\u00df", "ss")]),
        pre=pre_tokenizers.Split(Regex(r"\s+"), "removed"),
        decoder=decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(), decoders.Strip("a", 0, 2)]))
    add("split_merged_previous", "bpe_bf",
        pre=pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"[,.;:!?]"), "merged_with_previous"),
                                     pre_tokenizers.Metaspace(prepend_scheme="never", split=False)]),
        decoder=decoders.Sequence([decoders.ByteFallback(),
                                   decoders.Metaspace(replacement="\u2581", prepend_scheme="never")]))
    add("split_merged_next_invert", "bpe_bf",
        pre=pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\w+"), "merged_with_next", invert=True),
                                     meta_always]),
        decoder=decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="always"),
                                   decoders.ByteFallback(), decoders.Fuse()]))
    add("split_contiguous_digits", "bpe_bf",
        pre=pre_tokenizers.Sequence([pre_tokenizers.Split(" ", "contiguous"),
                                     pre_tokenizers.Digits(individual_digits=False),
                                     pre_tokenizers.Metaspace(prepend_scheme="first")]),
        decoder=llama_decoder())
    add("punct_charsplit_whitespace", "bpe_bf",
        pre=pre_tokenizers.Sequence([pre_tokenizers.CharDelimiterSplit("-"), pre_tokenizers.Punctuation("isolated"),
                                     pre_tokenizers.Whitespace()]),
        decoder=decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(), decoders.Replace(Regex("[aeiou]+"), "_")]))
    add("punct_removed_merged_next", "bpe_bf",
        pre=pre_tokenizers.Sequence([pre_tokenizers.Punctuation("removed"), pre_tokenizers.WhitespaceSplit(),
                                     pre_tokenizers.Punctuation("merged_with_next")]),
        decoder=decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()]))
    add("bert_fixedlength", "bpe_bf",
        normalizer=normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                              lowercase=True),
        pre=pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer(), pre_tokenizers.FixedLength(3)]),
        decoder=decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()]))
    add("nmt_prepend_roberta", "bpe_bf",
        normalizer=normalizers.Sequence([normalizers.Nmt(), normalizers.Prepend("\u2581"),
                                         normalizers.Replace(" ", "\u2581")]),
        decoder=llama_decoder(),
        specials=[AddedToken("<s>", special=True, normalized=False), AddedToken("</s>", special=True, normalized=False)],
        post=lambda tok: processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))))
    add("bytelevel_prefix_template", "bytelevel",
        pre=pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
        decoder=decoders.ByteLevel(),
        specials=[AddedToken("<|bos|>", special=True, normalized=False), AddedToken("<|eos|>", special=True, normalized=False)],
        post=lambda tok: processors.Sequence([
            processors.ByteLevel(trim_offsets=True),
            processors.TemplateProcessing(single="<|bos|> $A <|eos|> <|eos|>", pair="<|bos|> $A <|eos|> $B:1 <|eos|>:1",
                                          special_tokens=[("<|bos|>", tok.token_to_id("<|bos|>")),
                                                          ("<|eos|>", tok.token_to_id("<|eos|>"))])]))
    add("llama3_ignore_merges", "bytelevel_ignore_merges",
        pre=pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
                                 "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)]),
        decoder=decoders.ByteLevel(),
        specials=[AddedToken("<|begin_of_text|>", special=True, normalized=False)],
        post=lambda tok: processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))]))
    add("bytelevel_normalizer_added", "bytelevel",
        normalizer=normalizers.ByteLevel(),
        decoder=decoders.ByteLevel(),
        tokens=[AddedToken("hello world", normalized=True), AddedToken(" caf\u00e9", normalized=True)])
    add("unk_nofuse", "bpe_unk", normalizer=normalizers.NFC(), pre=meta_always,
        decoder=decoders.Metaspace(replacement="\u2581", prepend_scheme="always"))
    add("unk_fused", "bpe_unk_fused", normalizer=normalizers.NFKC(), pre=meta_always,
        decoder=decoders.Metaspace(replacement="\u2581", prepend_scheme="always"))
    add("byte_fallback_partial_unk", "bpe_bf_partial", pre=meta_always, decoder=llama_decoder())
    add("suffix_bpe_decoder", "bpe_suffix", pre=pre_tokenizers.Whitespace(), decoder=decoders.BPEDecoder(suffix="</w>"))
    add("prefix_wordpiece_decoder", "bpe_prefix", normalizer=normalizers.Lowercase(),
        pre=pre_tokenizers.BertPreTokenizer(), decoder=decoders.WordPiece(prefix="##", cleanup=True))
    add("unigram_byte_fallback", "unigram_bf", normalizer=normalizers.NFKC(),
        pre=pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False),
        decoder=llama_decoder())
    add("unigram_whitespace_strip", "unigram_plain",
        normalizer=normalizers.Sequence([normalizers.Strip(left=True, right=False), normalizers.Replace(" ", "\u2581"),
                                         normalizers.Prepend("\u2581")]),
        decoder=decoders.Sequence([decoders.Replace("\u2581", " "), decoders.Strip(" ", 1, 1)]))
    add("wordpiece_bert", "wordpiece",
        normalizer=normalizers.BertNormalizer(lowercase=True),
        pre=pre_tokenizers.BertPreTokenizer(),
        decoder=decoders.WordPiece(prefix="##", cleanup=True),
        specials=[AddedToken(t, special=True) for t in ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]],
        post=lambda tok: processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]"))))
    add("wordlevel_ctc", "wordlevel", normalizer=normalizers.Lowercase(), pre=pre_tokenizers.Whitespace(),
        decoder=decoders.CTC(pad_token="<pad>", word_delimiter_token="|", cleanup=True))
    add("truncate_left_pad_left", "bpe_bf", pre=meta_always, decoder=llama_decoder(),
        specials=[AddedToken("<pad>", special=True, normalized=False), AddedToken("<s>", special=True, normalized=False)],
        post=lambda tok: processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))]),
        truncation=dict(max_length=10, direction="left"),
        padding=dict(length=14, direction="left", pad_token="<pad>"))
    add("truncate_right_pad_multiple", "bpe_bf", pre=meta_always, decoder=llama_decoder(),
        specials=[AddedToken("<pad>", special=True, normalized=False)],
        truncation=dict(max_length=7),
        padding=dict(pad_to_multiple_of=4, pad_token="<pad>"))
    add("added_flags_lowercase", "bpe_bf",
        normalizer=normalizers.Lowercase(), pre=pre_tokenizers.Whitespace(),
        tokens=[AddedToken("HeLLo World", normalized=True), AddedToken("ab", single_word=True, normalized=False),
                AddedToken("x y", normalized=False, rstrip=True), AddedToken("<Special>", special=True, normalized=True),
                AddedToken("abc", normalized=True, lstrip=True)],
        specials=[AddedToken("[X]", special=True, single_word=True, lstrip=True, rstrip=True, normalized=False)])
    add("metaspace_custom_never", "bpe_bf",
        pre=pre_tokenizers.Metaspace(replacement="\u2219", prepend_scheme="never", split=False),
        decoder=decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(),
                                   decoders.Metaspace(replacement="\u2219", prepend_scheme="never")]))
    add("strip_left_right_uppercase_digits", "bpe_bf",
        normalizer=normalizers.Sequence([normalizers.Strip(left=False, right=True), normalizers.NFKD(),
                                         normalizers.Replace(Regex(r"(\d)(\d)"), "$2$1")]),
        pre=pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), meta_always]),
        decoder=llama_decoder())
    return cs


def cases(tok):
    rows = []
    for s in STRINGS:
        try:
            enc = tok.encode(s)
        except BaseException as e:  # noqa: BLE001  (Rust panics too)
            rows.append({"text": s, "error": f"{type(e).__name__}: {e}"})
            continue
        ids = list(enc.ids)
        row = {"text": s, "ids": ids, "pieces": list(enc.tokens)}
        for key, skip in (("decoded", False), ("decoded_skip_special", True)):
            try:
                row[key] = tok.decode(ids, skip_special_tokens=skip)
            except BaseException as e:  # noqa: BLE001
                row[key + "_error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
    return rows


def decodes(tok, n=25):
    r = random.Random(SEED + 1)
    size = tok.get_vocab_size(with_added_tokens=True)
    out = []
    for _ in range(n):
        ids = [r.randrange(size) for _ in range(r.randint(1, 9))]
        try:
            out.append({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                        "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
        except BaseException as e:  # noqa: BLE001  (Rust panics too)
            out.append({"ids": ids, "error": f"{type(e).__name__}: {e}"})
    return out


def main():
    ms = models()
    result = {"versions": {"tokenizers": tokenizers.__version__, "python": sys.version.split()[0]},
              "models": ms, "configs": []}
    for name, model_name, kw in configs():
        try:
            tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
                  "pre_tokenizer": None, "post_processor": None, "decoder": None, "model": ms[model_name]}
            tok = Tokenizer.from_str(json.dumps(tj))
            if kw.get("normalizer") is not None:
                tok.normalizer = kw["normalizer"]
            if kw.get("pre") is not None:
                tok.pre_tokenizer = kw["pre"]
            if kw.get("decoder") is not None:
                tok.decoder = kw["decoder"]
            if kw.get("specials"):
                tok.add_special_tokens(kw["specials"])
            if kw.get("tokens"):
                tok.add_tokens(kw["tokens"])
            if kw.get("post") is not None:
                tok.post_processor = kw["post"](tok)
            if kw.get("truncation"):
                tok.enable_truncation(**kw["truncation"])
            if kw.get("padding"):
                p = dict(kw["padding"])
                p["pad_id"] = tok.token_to_id(p["pad_token"])
                tok.enable_padding(**p)
            saved = tok.to_str()
            reloaded = Tokenizer.from_str(saved)
            full = json.loads(saved)
            if full["model"] != json.loads(json.dumps(ms[model_name])):
                # the model changed on the way (keep the full model then)
                model_ref = None
            else:
                model_ref = model_name
                del full["model"]
            result["configs"].append({"name": name, "model": model_ref, "tokenizer": full,
                                      "cases": cases(reloaded), "decodes": decodes(reloaded)})
            print(f"{name}: ok ({len(result['configs'][-1]['cases'])} cases)", flush=True)
        except BaseException as e:  # noqa: BLE001  (Rust panics too)
            import traceback
            traceback.print_exc()
            result["configs"].append({"name": name, "failed": f"{type(e).__name__}: {e}"})
            print(f"{name}: FAILED {e}", flush=True)
    Path(sys.argv[1]).write_text(json.dumps(result, ensure_ascii=True, separators=(",", ":")), encoding="ascii")
    print("bytes:", Path(sys.argv[1]).stat().st_size)


if __name__ == "__main__":
    main()
