"""The Dockerfile parser and variable expansion, on Dockerfiles as people write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guest.builds import dockerfile
from guest.builds.dockerfile import DockerfileError
from guest.errors import InvalidInput


def test_continuations_comments_and_forms() -> None:
    text = (
        "# syntax is ignored\n"
        "ARG BASE=busybox\n"
        "FROM $BASE AS build\n"
        "\n"
        "RUN echo one && \\\n"
        "    # a comment inside the continued line is dropped\n"
        "    echo two\n"
        'CMD ["sh", "-c", "echo hi"]\n'
        "COPY --from=build --chown=1:2 /a /b\n"
        "ENTRYPOINT [not json\n"
    )
    arg, from_, run, cmd, copy, entrypoint = dockerfile.parse(text)
    assert (arg.keyword, arg.raw, arg.line) == ("ARG", "BASE=busybox", 2)
    assert (from_.keyword, from_.raw) == ("FROM", "$BASE AS build")
    assert (run.line, run.raw) == (5, "echo one &&      echo two")
    assert cmd.json_args == ["sh", "-c", "echo hi"]
    assert copy.flags == {"from": "build", "chown": "1:2"} and copy.raw == "/a /b" and copy.json_args is None
    assert copy.text == "COPY --from=build --chown=1:2 /a /b"
    assert entrypoint.json_args is None and entrypoint.raw == "[not json"  # not JSON: the shell form, as Docker does


def test_escape_directive_changes_the_continuation_character() -> None:
    text = "# escape=`\nFROM scratch\nRUN dir c:\\ `\n    /w\n"
    _, run = dockerfile.parse(text)
    assert run.raw == "dir c:\\      /w"


def test_keywords_are_case_insensitive_and_json_forms_need_strings() -> None:
    (from_, run) = dockerfile.parse('from busybox\nrun ["echo", 1]\n')
    assert (from_.keyword, run.keyword) == ("FROM", "RUN")
    assert run.json_args is None  # a list with a number is not the exec form


@pytest.mark.parametrize(
    "text, message",
    [
        ("FROM x\nBOGUS thing\n", "Dockerfile parse error line 2: unknown instruction: BOGUS"),
        ("RUN true\n", "Dockerfile parse error line 1: the first instruction must be FROM (or ARG)"),
        ("ARG A\nARG B\n", "Dockerfile parse error line 1: the first instruction must be FROM (or ARG)"),
        ("# only a comment\n\n", "Dockerfile parse error line 2: the Dockerfile has no instructions"),
        ("", "Dockerfile parse error line 1: the Dockerfile has no instructions"),
        ("FROM x\nCOPY\n", "Dockerfile parse error line 2: COPY requires at least one argument"),
        ("FROM x\nUSER\n", "Dockerfile parse error line 2: USER requires at least one argument"),
        ("# escape=x\nFROM x\n", "Dockerfile parse error line 1: invalid escape token 'x': use \\ or `"),
        ("# escape=\\\\\nFROM x\n", "Dockerfile parse error line 1: invalid escape token '\\\\\\\\': use \\ or `"),
        (
            "FROM x\nEXPOSE 80 abc\n",
            "Dockerfile parse error line 2: EXPOSE: 'abc' is not a port: use PORT[/PROTOCOL] or FROM-TO[/PROTOCOL]",
        ),
        (
            "FROM x\nEXPOSE 0\n",
            "Dockerfile parse error line 2: EXPOSE: '0' is not a port: use PORT[/PROTOCOL] or FROM-TO[/PROTOCOL]",
        ),
        ("FROM x\n\nSTOPSIGNAL SIGFOO\n", "Dockerfile parse error line 3: STOPSIGNAL: 'SIGFOO' is not a signal"),
        (
            "FROM x\nONBUILD ONBUILD RUN x\n",
            "Dockerfile parse error line 2: ONBUILD is not allowed as a trigger instruction",
        ),
        ("FROM x\nONBUILD FROM y\n", "Dockerfile parse error line 2: FROM is not allowed as a trigger instruction"),
        (
            "FROM x\nONBUILD MAINTAINER me\n",
            "Dockerfile parse error line 2: MAINTAINER is not allowed as a trigger instruction",
        ),
        ("FROM x\nONBUILD BOGUS\n", "Dockerfile parse error line 2: unknown instruction: BOGUS"),
        ("FROM x\nCOPY --bogus a b\n", "Dockerfile parse error line 2: COPY: unknown flag: '--bogus'"),
        (
            "FROM x\nRUN --mount=type=cache true\n",
            "Dockerfile parse error line 2: RUN: unknown flag: '--mount=type=cache'",
        ),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        dockerfile.parse(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, InvalidInput)  # the API answers 400


def test_a_huge_line_is_never_echoed_whole() -> None:
    for text in (
        "FROM x\nBOGUS" + "b" * 1_000_000,
        "FROM x\nEXPOSE " + "9" * 1_000_000,
        "FROM x\nCOPY --" + "f" * 10**6,
    ):
        with pytest.raises(DockerfileError) as caught:
            dockerfile.parse(text)
        assert str(caught.value).startswith("Dockerfile parse error line 2: ") and len(str(caught.value)) < 200


def test_checks_wait_for_build_arguments_to_be_expanded() -> None:
    expose, stop = dockerfile.parse("FROM x\nEXPOSE $PORT 53/udp 8000-8001\nSTOPSIGNAL $SIG\n")[1:]
    assert dockerfile.exposed(expose, "80 53/udp 8000-8001") == ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
    assert dockerfile.stop_signal(stop, "SIGUSR1") == "SIGUSR1"
    with pytest.raises(DockerfileError, match="line 3: STOPSIGNAL: 'SIGNOPE' is not a signal"):
        dockerfile.stop_signal(stop, "SIGNOPE")


def test_triggers_refuse_what_cannot_run_in_a_child_build() -> None:
    assert dockerfile.parse_trigger(3, "RUN echo hi").line == 3
    for keyword in ("ONBUILD RUN x", "FROM busybox", "MAINTAINER me"):
        with pytest.raises(DockerfileError, match="is not allowed as a trigger instruction"):
            dockerfile.parse_trigger(3, keyword)


@pytest.mark.parametrize(
    "text, expanded",
    [
        ("$A/${B}", "1/two"),
        ("${MISSING:-fallback} ${A:-fallback}", "fallback 1"),
        ("${A:+set} ${MISSING:+set}", "set "),
        ("\\$A stays", "$A stays"),
        ("$MISSING-", "-"),
        ("${EMPTY:-default}", "default"),
    ],
)
def test_expand(text: str, expanded: str) -> None:
    assert dockerfile.expand(text, {"A": "1", "B": "two", "EMPTY": ""}) == expanded


@given(st.text(alphabet=st.characters(blacklist_characters="$\\"), max_size=40))
def test_expand_leaves_text_without_variables_alone(text: str) -> None:
    assert dockerfile.expand(text, {"A": "x"}) == text


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), st.text(alphabet="abc xyz/", max_size=10))
def test_expand_substitutes_every_spelling_of_a_variable(name: str, value: str) -> None:
    assert dockerfile.expand(f"${name}|${{{name}}}|\\${name}", {name: value}) == f"{value}|{value}|${name}"


def test_key_values_forms() -> None:
    assert dockerfile.key_values('a=1 b="two words" c=', 1, "ENV") == [("a", "1"), ("b", "two words"), ("c", "")]
    assert dockerfile.key_values("KEY value with spaces ", 1, "ENV") == [("KEY", "value with spaces")]
    assert dockerfile.key_values("NAME", 1, "ARG") == [("NAME", "")]
    assert dockerfile.key_values("A=1 B", 1, "ARG") == [("A", "1"), ("B", "")]
    with pytest.raises(DockerfileError, match="line 4: LABEL 'b' lacks '='"):
        dockerfile.key_values("a=1 b", 4, "LABEL")
    with pytest.raises(DockerfileError, match="line 2: ENV names must be followed by values"):
        dockerfile.key_values("ALONE", 2, "ENV")
    with pytest.raises(DockerfileError, match="line 5: ENV: No closing quotation"):
        dockerfile.key_values('a="open', 5, "ENV")
