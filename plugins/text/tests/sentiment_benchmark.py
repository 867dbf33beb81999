"""Measure ``text.sentiment`` on the labelled sets in ``data/``.

    python plugins/text/tests/sentiment_benchmark.py [es|en]

prints the share right per label, how neutral letters are scored, and the rows it gets wrong.
"""

from __future__ import annotations

import sys
from pathlib import Path

from paperchain_text.sentiment import score_text

DATA = Path(__file__).parent / "data"
HELD_OUT_MARKER = "---"
SETS = {"es": ["sentiment_es.tsv", "sentiment_es_letters.tsv"], "en": ["sentiment_en_letters.tsv"]}


def load(name: str) -> list[dict]:
    """Rows ``{"label", "text", "held_out", "set"}``; ``\\n`` in a text is a line break."""
    rows, held_out = [], False
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        if label == HELD_OUT_MARKER:
            held_out = True
            continue
        rows.append({"label": label, "text": text.replace("\\n", "\n"), "held_out": held_out, "set": name})
    return rows


def measure(language: str) -> dict:
    rows = [row for name in SETS[language] for row in load(name)]
    for row in rows:
        result = score_text(row["text"], language)
        row["score"], row["predicted"] = result["score"], result["label"]
    by_label = {}
    for label in ("positive", "negative", "neutral"):
        of_label = [r for r in rows if r["label"] == label]
        by_label[label] = (sum(r["predicted"] == label for r in of_label), len(of_label))
    neutral = [r["score"] for r in rows if r["label"] == "neutral"]
    return {"rows": rows, "by_label": by_label, "right": sum(r["predicted"] == r["label"] for r in rows),
            "neutral_mean": sum(neutral) / len(neutral) if neutral else 0.0,
            "neutral_strongly_negative": sum(s <= -0.5 for s in neutral)}


def main(language: str) -> None:
    result = measure(language)
    rows = result["rows"]
    for r in rows:
        if r["predicted"] != r["label"]:
            print(f"{r['label']:>8} -> {r['predicted']:8} {r['score']:+.2f}  {r['text'][:90]!r}")
    for name in SETS[language]:
        of_set = [r for r in rows if r["set"] == name]
        held = [r for r in of_set if r["held_out"]]
        line = f"{name}: {sum(r['predicted'] == r['label'] for r in of_set)}/{len(of_set)} right"
        if held:
            line += f" (held out: {sum(r['predicted'] == r['label'] for r in held)}/{len(held)})"
        print(line)
    print("per label: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in result["by_label"].items()))
    print(f"neutral texts: mean score {result['neutral_mean']:+.2f}, "
          f"{result['neutral_strongly_negative']} scored -0.5 or below")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "es")
