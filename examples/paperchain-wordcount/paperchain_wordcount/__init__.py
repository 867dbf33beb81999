"""paperchain-wordcount: an example Paperchain plugin that counts words.

This is the module the ``paperchain`` entry point in pyproject.toml names. The kernel imports it
at start-up, for every command, so it must stay light: it only describes the component. The
implementation is named by an import string and imported the first time a workflow uses it.
"""

from paperchain_sdk import AnalyzerSpec, hookimpl

from .settings import WordcountSettings


@hookimpl
def paperchain_analyzers():
    return [
        AnalyzerSpec(
            name="wordcount.count",  # what a workflow step writes in `uses`
            impl="paperchain_wordcount.component:WordcountAnalyzer",
            summary="Counts the words, lines and characters of a document, and its most frequent words.",
            settings=WordcountSettings,
            # Counting is quick: shipping each document to a worker process (cpu_bound=True)
            # would cost more than it saves. Heavy analyzers should set it.
            cpu_bound=False,
        )
    ]
