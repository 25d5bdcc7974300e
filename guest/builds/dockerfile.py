"""Dockerfile parsing: escape directive, line continuations, comments, JSON and shell forms, variables."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from ..containers import signals
from ..errors import InvalidInput
from ..network import ports

INSTRUCTIONS = {
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "EXPOSE",
    "VOLUME",
    "LABEL",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "ONBUILD",
    "MAINTAINER",
}
JSON_FORMS = {"RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "SHELL", "VOLUME"}
FLAGS = {  # the --flags each instruction takes here
    "FROM": {"platform"},
    "COPY": {"from", "chown"},
    "ADD": {"chown"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
NOT_TRIGGERS = ("ONBUILD", "FROM", "MAINTAINER")
_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[-+])(?P<word>[^}]*))?\}|"
    r"(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def cut(text: str, limit: int = 60) -> str:
    """Input as an error message shows it: cut short, so a 1 MB line is never echoed whole."""
    return text if len(text) <= limit else text[:limit] + "…"


def quote(text: str) -> str:
    return repr(cut(text))


class DockerfileError(InvalidInput):
    """A Dockerfile that cannot be built as written, with the line it is on."""

    def __init__(self, line: int, detail: str):
        super().__init__(f"Dockerfile parse error line {line}: {detail}")
        self.detail = detail


@dataclass
class Instruction:
    """One instruction: its keyword, arguments as written, --flags and, for the exec form, the JSON list."""

    line: int
    keyword: str
    raw: str  # the arguments as written (continuations joined)
    flags: dict[str, str] = field(default_factory=dict)
    json_args: list[str] | None = None  # the exec/JSON form, when used

    @property
    def text(self) -> str:
        flags = "".join(f"--{k}={v} " for k, v in self.flags.items())
        return f"{self.keyword} {flags}{self.raw}".strip()

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(self.line, message)


def parse(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile, or DockerfileError naming the line."""
    lines = text.splitlines()
    escape = "\\"
    for number, line in enumerate(lines, 1):  # parser directives come first, before any instruction or comment
        found = re.match(r"^\s*#\s*escape\s*=\s*(.*?)\s*$", line, re.IGNORECASE)
        if found:
            escape = found.group(1)
            if escape not in ("\\", "`"):
                raise DockerfileError(number, f"invalid escape token {quote(escape)}: use \\ or `")
            break
        if not re.match(r"^\s*#\s*\w+\s*=", line):
            break
    instructions: list[Instruction] = []
    buffer, start = "", 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comments inside a continued instruction are dropped
        if not buffer:
            start = number
        if line.rstrip().endswith(escape):
            buffer += line.rstrip()[:-1] + " "
            continue
        buffer += line
        instructions.append(parse_instruction(start, buffer))
        buffer = ""
    if buffer.strip():
        instructions.append(parse_instruction(start, buffer))
    if not instructions:
        raise DockerfileError(max(len(lines), 1), "the Dockerfile has no instructions")
    first = next((i for i in instructions if i.keyword != "ARG"), None)
    if first is None or first.keyword != "FROM":
        where = first.line if first else instructions[0].line
        raise DockerfileError(where, "the first instruction must be FROM (or ARG)")
    return instructions


def parse_trigger(line: int, text: str) -> Instruction:
    """An ONBUILD trigger, run in a child build; errors name `line` (the child's FROM)."""
    instruction = parse_instruction(line, text)
    if instruction.keyword in NOT_TRIGGERS:
        raise DockerfileError(line, f"{instruction.keyword} is not allowed as a trigger instruction")
    return instruction


def parse_instruction(line: int, text: str) -> Instruction:
    """One instruction, on one line; errors name `line`."""
    keyword, _, rest = text.strip().partition(" ")
    keyword = keyword.upper()
    if keyword not in INSTRUCTIONS:
        raise DockerfileError(line, f"unknown instruction: {cut(keyword)}")
    rest = rest.strip()
    flags = {}
    while rest.startswith("--") and keyword in ("RUN", *FLAGS):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        if name not in FLAGS.get(keyword, ()):
            raise DockerfileError(line, f"{keyword}: unknown flag: {quote(flag)}")
        flags[name] = value
        rest = rest.strip()
    json_args = None
    if keyword in JSON_FORMS and rest.startswith("["):
        try:
            parsed = json.loads(rest)
            if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
                json_args = parsed
        except ValueError:
            json_args = None  # not JSON after all: the shell form, as Docker does
    if not rest and keyword not in ("CMD", "ENTRYPOINT"):
        raise DockerfileError(line, f"{keyword} requires at least one argument")
    instruction = Instruction(line, keyword, rest, flags, json_args)
    if keyword == "ONBUILD":
        parse_trigger(line, rest)
    if keyword == "EXPOSE" and "$" not in rest:  # checked now when no build argument changes it, else once expanded
        exposed(instruction, rest)
    if keyword == "STOPSIGNAL" and "$" not in rest:
        stop_signal(instruction, rest)
    return instruction


def exposed(inst: Instruction, text: str) -> list[str]:
    """The `port/proto` keys of EXPOSE's (expanded) arguments."""
    keys = []
    for spec in text.split():
        try:
            keys += ports.expand(spec.lower())
        except ValueError:
            raise inst.error(
                f"EXPOSE: {quote(spec)} is not a port: use PORT[/PROTOCOL] or FROM-TO[/PROTOCOL]"
            ) from None
    return keys


def stop_signal(inst: Instruction, text: str) -> str:
    """STOPSIGNAL's (expanded) argument, a signal of this host."""
    if not signals.valid(text.strip()):
        raise inst.error(f"STOPSIGNAL: {quote(text)} is not a signal")
    return text.strip()


def expand(text: str, env: dict[str, str]) -> str:
    """$VAR, ${VAR}, ${VAR:-default}, ${VAR:+alternative}; `\\$` stays a literal $."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        value = env.get(name)
        if match.group("op") == "-":
            return value if value else match.group("word")
        if match.group("op") == "+":
            return match.group("word") if value else ""
        return value or ""

    parts = text.split("\\$")
    return "$".join(_VAR.sub(replace, p) for p in parts)


def key_values(text: str, line: int, keyword: str) -> list[tuple[str, str]]:
    """ENV/LABEL/ARG arguments: `k=v k2="v 2"` or the legacy `k v w`."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise DockerfileError(line, f"{keyword}: {e} in {quote(text)}") from None
    if words and "=" not in words[0]:
        if keyword == "ARG":
            return [(words[0], "")]
        if len(words) < 2:
            raise DockerfileError(line, f"{keyword} names must be followed by values")
        return [(words[0], text.split(None, 1)[1].strip())]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep and keyword != "ARG":
            raise DockerfileError(line, f"{keyword} {quote(word)} lacks '='")
        pairs.append((key, value))
    return pairs
