"""`machine completion SHELL`: the shell completion script for bash, zsh, fish (click's own) and PowerShell
(a small completer of ours in click's protocol: the shell runs `machine` with `_MACHINE_COMPLETE` set and
gets the candidates for the command line so far)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import click
from click.shell_completion import (
    CompletionItem,
    ShellComplete,
    add_completion_class,
    get_completion_class,
    split_arg_string,
)

_POWERSHELL = """\
Register-ArgumentCompleter -Native -CommandName %(prog_name)s -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.ToString()
    $upTo = $cursorPosition - $commandAst.Extent.StartOffset
    if ($upTo -lt $line.Length) { $line = $line.Substring(0, $upTo) }
    $env:COMP_LINE = $line
    $env:%(complete_var)s = "powershell_complete"
    try {
        & %(prog_name)s | ForEach-Object {
            $kind, $value = $_ -split ",", 2
            if ($kind -eq "file") {
                Get-ChildItem -Path "$value*" -Name | ForEach-Object {
                    [System.Management.Automation.CompletionResult]::new($_, $_, 'ProviderItem', $_)
                }
            } else {
                [System.Management.Automation.CompletionResult]::new($value, $value, 'ParameterValue', $value)
            }
        }
    } finally {
        Remove-Item Env:%(complete_var)s, Env:COMP_LINE -ErrorAction SilentlyContinue
    }
}
"""


class PowerShellComplete(ShellComplete):
    """PowerShell: the command line up to the cursor comes in COMP_LINE; one `type,value` line per candidate."""

    name: ClassVar[str] = "powershell"
    source_template: ClassVar[str] = _POWERSHELL

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE", "")
        words = split_arg_string(line)
        incomplete = "" if not line or line[-1].isspace() else words.pop()
        return words[1:], incomplete

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.type},{item.value}"


add_completion_class(PowerShellComplete)

SHELLS = ("bash", "zsh", "fish", "powershell")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script of SHELL (commands, options, machine names).

    \b
      bash:        echo 'eval "$(machine completion bash)"' >> ~/.bashrc
      zsh:         echo 'eval "$(machine completion zsh)"' >> ~/.zshrc   (after compinit)
      fish:        machine completion fish > ~/.config/fish/completions/machine.fish
      PowerShell:  Add-Content $PROFILE 'machine completion powershell | Out-String | Invoke-Expression'
    """
    root = ctx.find_root()
    prog = root.info_name or "machine"
    complete_var = f"_{prog.replace('-', '_').replace('.', '_')}_COMPLETE".upper()
    completer: Any = get_completion_class(shell)
    click.echo(completer(root.command, {}, prog, complete_var).source(), nl=False)


COMMANDS = [completion]
