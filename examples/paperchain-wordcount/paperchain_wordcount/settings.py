"""Options of wordcount.count.

Set them for a whole deployment in plugins.toml (``[components."wordcount.count"]``) or for one
step in its ``with`` table. Every field has a default, so the analyzer works unconfigured; the
kernel checks types and validators and names the offending key when a value is wrong.
"""

import attrs


@attrs.define
class WordcountSettings:
    # How many of the most frequent words to report (0 for none).
    top: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    # Shorter words ("a", "of", "to" …) are left out of the most frequent words.
    min_length: int = attrs.field(default=3, validator=attrs.validators.ge(1))
