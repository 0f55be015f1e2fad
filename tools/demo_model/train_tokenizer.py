#!/usr/bin/env python3
"""Train the demo model's tokenizer on the demo corpus (run where sentencepiece, tokenizers and
transformers are installed: the GPU machine).

    train_tokenizer.py --corpus .corpus --out models/jamba-demo [--vocab 8192]

The recipe is Jamba v0.1's / Llama's: a SentencePiece BPE with byte fallback, split digits, a
dummy prefix and no whitespace folding; Jamba's special tokens at ids 0-3 (<|pad|>,
<|startoftext|>, <|endoftext|>, <|unk|>) and the Jamba 1.5 chat tokens as control symbols;
converted to tokenizer.json the way transformers' LlamaConverter did (legacy Prepend/Replace
normalizer, BOS added by the post-processor) and saved by transformers' save_pretrained with
the Jamba 1.5-style chat template in tokenizer_config.json. The building blocks are shared with
tools/make_tokenizer_fixtures.py, which checked that recipe against sentencepiece itself.
"""
import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import make_tokenizer_fixtures as mtf  # noqa: E402


def training_sentences(corpus, seed):
    """Paragraphs of the training split, one per line (sentencepiece's unit), shuffled."""
    lines = []
    with open(corpus / "train.jsonl", encoding="utf-8") as f:
        for row in f:
            text = json.loads(row)["text"]
            lines.extend(p.strip() for p in text.split("\n") if p.strip())
    random.Random(seed).shuffle(lines)
    return lines


def train(lines, workdir, vocab):
    import sentencepiece as spm

    prefix = str(Path(workdir) / "demo")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=prefix, model_type="bpe",
        vocab_size=vocab, character_coverage=0.9999, byte_fallback=True, split_digits=True,
        add_dummy_prefix=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", allow_whitespace_only_pieces=True,
        split_by_unicode_script=True, split_by_whitespace=True, max_sentence_length=16384,
        input_sentence_size=2_000_000, shuffle_input_sentence=True,
        pad_id=0, bos_id=1, eos_id=2, unk_id=3,
        pad_piece="<|pad|>", bos_piece="<|startoftext|>", eos_piece="<|endoftext|>",
        unk_piece="<|unk|>", control_symbols=mtf.JAMBA_CHAT_TOKENS, num_threads=16,
        minloglevel=2)
    return prefix + ".model"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=20261125)
    args = ap.parse_args()
    lines = training_sentences(args.corpus, args.seed)
    with tempfile.TemporaryDirectory() as work:
        model_file = train(lines, work, args.vocab)
        tok = mtf.build_llama_manual(model_file)
        report = {}
        mtf.save_hf(tok, args.out, report, chat_template=mtf.JAMBA_CHAT_TEMPLATE, jinja_file=False,
                    bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|unk|>",
                    pad_token="<|pad|>", add_bos_token=True, add_eos_token=False,
                    model_max_length=262144)
        shutil.copy(model_file, args.out / "tokenizer.model")
    print(json.dumps({"vocab_size": tok.get_vocab_size(), "training_lines": len(lines),
                      "save": report}, indent=1))


if __name__ == "__main__":
    main()
