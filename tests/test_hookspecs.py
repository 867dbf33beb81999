"""Meta-tests: every hook is documented, and every hook is exercised by some test."""

from pathlib import Path

from paperchain_sdk import hookspecs

HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("paperchain_"))
TESTS = [p for p in Path(__file__).parent.rglob("test_*.py") if p.name != Path(__file__).name]


def test_the_seven_kinds_and_lifecycle_hooks_exist():
    kinds = {f"paperchain_{k}s" for k in ("trigger", "action", "exporter", "analyzer", "model", "ledger", "notifier")}
    lifecycle = {"paperchain_startup", "paperchain_shutdown", "paperchain_event", "paperchain_commands", "paperchain_routes",
                 "paperchain_ui"}
    assert set(HOOKS) == kinds | lifecycle


def test_every_hook_is_documented():
    for name in HOOKS:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.split()) >= 10, f"{name} needs a docstring that explains it"
        assert ":return:" in doc, f"{name}'s docstring must state its return contract"


def test_every_hook_is_tested():
    corpus = "\n".join(p.read_text() for p in TESTS)
    untested = [name for name in HOOKS if f"def {name}" not in corpus]
    assert not untested, f"no test implements these hooks: {untested}"
