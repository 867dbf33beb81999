"""Entry point: the root group, plugin-contributed commands, and one-paragraph errors."""

from __future__ import annotations

import sys

import click

from .. import __version__


class Root(click.Group):
    """Built-in commands plus those plugins add through ``paperchain_commands`` (loaded lazily)."""

    def _plugin_commands(self, ctx) -> dict:
        if "_plugin_commands" not in ctx.meta:
            from .common import kernel_for

            try:
                specs = kernel_for(ctx).commands()
            except Exception:  # noqa: BLE001 - a broken config must not break --help
                specs = []
            ctx.meta["_plugin_commands"] = {spec.name: spec for spec in specs if spec.name not in self.commands}
        return ctx.meta["_plugin_commands"]

    def list_commands(self, ctx):
        return sorted({*self.commands, *self._plugin_commands(ctx)})

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        spec = self._plugin_commands(ctx).get(name)
        if spec is None:
            return None
        command = spec.load()
        command.help = command.help or spec.summary
        return command


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="PAPERCHAIN_CONFIG",
              help="plugins.toml to use (default: ./plugins.toml).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="paperchain")
@click.pass_context
def cli(ctx, config_path, debug):
    """Paperchain: run document workflows built from plugins."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["debug"] = debug
    from .common import with_open_kernel

    ctx.meta["paperchain.with_open_kernel"] = with_open_kernel  # for plugins' commands (paperchain_sdk.cli)


def _register() -> None:
    from . import doctor, documents, keys, plugins, runs, security, serve, worker, workflows  # noqa: F401 - each adds its commands to `cli`


def main(argv=None) -> int:
    _register()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result = cli.main(args=argv, prog_name="paperchain", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted. Unfinished runs are kept: `paperchain resume` finishes them.", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place errors become a paragraph
        from paperchain_sdk import PaperchainError

        if debug:
            import traceback

            traceback.print_exception(exc)
        if isinstance(exc, PaperchainError):
            click.secho(f"Error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"How to fix: {exc.hint}.".replace("..", "."), err=True)
            return 2
        click.secho(f"Unexpected error: {type(exc).__name__}: {exc}", fg="red", err=True)
        if not debug:
            click.echo("Run again with --debug to see the traceback, and report it if it looks like a bug.", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
