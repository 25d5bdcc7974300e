"""The Go-template-style `--format` strings of `machine ls`: substitution, `table` headers, refused actions."""

from __future__ import annotations

import json

import pytest

from machine.cli.template import TemplateError, align, header, parse

FIELDS = {"Name": "NAME", "State": "STATE", "Active": "ACTIVE"}
SHOWN = {"Name": "dev", "State": "Running", "Active": "*"}
DATA = {"Name": "dev", "State": "running", "Active": True}


def test_fields_are_substituted_with_or_without_spaces_and_the_rest_is_kept() -> None:
    template = parse("{{.Name}} is {{ .State }}!", FIELDS)
    assert not template.table
    assert template.render(SHOWN, DATA) == "dev is Running!"


def test_json_prints_the_data_values() -> None:
    assert json.loads(parse("{{json .}}", FIELDS).render(SHOWN, DATA)) == DATA
    assert parse("{{json .Active}} {{json .Name}}", FIELDS).render(SHOWN, DATA) == 'true "dev"'


def test_escaped_tabs_and_newlines_become_real_ones() -> None:
    assert parse(r"{{.Name}}\t{{.State}}\n", FIELDS).render(SHOWN, DATA) == "dev\tRunning\n"


def test_table_prefix_gives_a_header_row_and_aligned_columns() -> None:
    template = parse(r"table {{.Name}}\t{{.State}}\t{{.Active}}", FIELDS)
    assert template.table
    assert header(template, FIELDS) == "NAME\tSTATE\tACTIVE"
    lines = [header(template, FIELDS), template.render(SHOWN, DATA), "a-long-name\tStopped\t-"]
    assert align(lines) == [
        "NAME          STATE     ACTIVE",
        "dev           Running   *",
        "a-long-name   Stopped   -",
    ]


def test_align_drops_trailing_spaces_of_empty_last_cells() -> None:
    assert align(["A\tB", "ccc\t"]) == ["A     B", "ccc"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Colour}}", "unknown field 'Colour'"),
        ("{{.name}}", "unknown field 'name'"),  # case-sensitive, as Go templates
        ("{{.}}", "use {{json .}} or {{.Field}}"),
        ("{{range .}}{{end}}", "unsupported action {{range .}}"),
        ("{{.Name | printf}}", "unsupported action"),
        ("{{.Name.Sub}}", "unsupported action"),
        ("{{.Name}", "unbalanced braces"),
        ("x }}", "unbalanced braces"),
    ],
)
def test_other_actions_and_unknown_fields_are_refused(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("|", r"\|").replace(".", r"\.")):
        parse(text, FIELDS)


def test_a_refused_field_gives_its_reason() -> None:
    with pytest.raises(TemplateError, match="no swarm here"):
        parse("{{.Swarm}}", FIELDS, {"Swarm": "no swarm here"})
