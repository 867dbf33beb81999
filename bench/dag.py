"""The 10-step DAG both engine benchmarks run (Paperchain and Prefect), so the shapes are identical.

    s1 ─┬─ s2 ─┐
        ├─ s3 ─┼─ s5 ── s6 ─┬─ s7 ─┬─ s9 ── s10
        └─ s4 ─┘            └─ s8 ─┘

A fan-out of three and a fan-in, a chain link, a fan-out of two and a fan-in, then a tail:
a chain with two diamonds. Every step is a no-op.
"""

NEEDS: dict[str, list[str]] = {
    "s1": [],
    "s2": ["s1"],
    "s3": ["s1"],
    "s4": ["s1"],
    "s5": ["s2", "s3", "s4"],
    "s6": ["s5"],
    "s7": ["s6"],
    "s8": ["s6"],
    "s9": ["s7", "s8"],
    "s10": ["s9"],
}
SHAPE = "chain with two diamonds: s1 -> {s2,s3,s4} -> s5 -> s6 -> {s7,s8} -> s9 -> s10"
