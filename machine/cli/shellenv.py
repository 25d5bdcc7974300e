"""`machine env` output in the syntax of the user's shell."""

from __future__ import annotations

import os

SHELLS = ("bash", "zsh", "sh", "fish", "powershell", "cmd")


def detect_shell() -> str:
    """The user's shell, from $SHELL on POSIX and PowerShell's $PSModulePath on Windows."""
    if os.name == "nt":
        return "powershell" if os.environ.get("PSModulePath") else "cmd"  # noqa: SIM112 (the variable's real name)
    name = os.path.basename(os.environ.get("SHELL", "bash"))
    return name if name in SHELLS else "bash"


def _quote_posix(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`") + '"'


def _quote_powershell(value: str) -> str:
    return '"' + value.replace("`", "``").replace('"', '`"').replace("$", "`$") + '"'


def render(variables: dict[str, str | None], shell: str, hint_command: str) -> str:
    """Lines that set (value) or unset (None) each variable, then how to apply them."""
    lines = []
    for name, value in variables.items():
        if shell == "fish":
            lines.append(f"set -e {name};" if value is None else f"set -gx {name} {_quote_posix(value)};")
        elif shell == "powershell":
            lines.append(f"Remove-Item Env:{name}" if value is None else f"$Env:{name} = {_quote_powershell(value)}")
        elif shell == "cmd":
            lines.append(f"SET {name}=" if value is None else f"SET {name}={value}")
        else:
            lines.append(f"unset {name}" if value is None else f"export {name}={_quote_posix(value)}")
    if shell == "fish":
        hint = f"# eval ({hint_command})"
    elif shell == "powershell":
        hint = f"# & {hint_command} | Invoke-Expression"
    elif shell == "cmd":
        hint = f"REM @FOR /f \"tokens=*\" %i IN ('{hint_command}') DO @%i"
    else:
        hint = f"# eval $({hint_command})"
    comment = "REM" if shell == "cmd" else "#"
    lines += [f"{comment} Run this command to configure your shell:", hint]
    return "\n".join(lines) + "\n"
