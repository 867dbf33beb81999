"""What the page tests share: the plugin as the test kernel should name it, and a Bell circuit."""

from __future__ import annotations

import types

from paperchain_quantum import hooks

BELL = ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\n'
        'measure q[0] -> c[0];\nmeasure q[1] -> c[1];\n')


def quantum_plugin():
    """The plugin's hooks under the name the installed plugin has (its entry point's, ``quantum``): a
    module given to the test kernel is named after itself, and ``hooks`` would serve /p/hooks."""
    plugin = types.ModuleType("paperchain_quantum")
    plugin.__dict__.update({name: value for name, value in vars(hooks).items() if hasattr(value, "paperchain_impl")})
    return plugin
