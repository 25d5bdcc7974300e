"""A create request merged with its image's config, signals and names: the pure rules of creating containers."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guest.containers import config, names, signals
from guest.errors import Conflict, InvalidInput

IMAGE_CONFIG: dict[str, Any] = {
    "Env": ["PATH=/bin", "LANG=C"],
    "Cmd": ["sh"],
    "Entrypoint": None,
    "WorkingDir": "/srv",
    "User": "app",
    "Labels": {"from": "image", "both": "image"},
    "ExposedPorts": {"80/tcp": {}},
    "StopSignal": "SIGQUIT",
}


def test_the_image_fills_in_what_the_request_leaves_out() -> None:
    merged, host = config.merge({"Image": "x"}, "x", IMAGE_CONFIG, "c" * 64)
    assert merged["Cmd"] == ["sh"] and merged["Entrypoint"] is None
    assert (merged["WorkingDir"], merged["User"], merged["StopSignal"]) == ("/srv", "app", "SIGQUIT")
    assert merged["Env"] == ["PATH=/bin", "LANG=C"] and merged["Hostname"] == "c" * 12
    assert host["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0} and host["NetworkMode"] == "default"


def test_the_request_wins_and_merges_env_labels_and_ports() -> None:
    body = {
        "Image": "x",
        "Cmd": ["echo", "hi"],
        "Env": ["LANG=C.UTF-8", "EXTRA=1"],
        "Labels": {"both": "request"},
        "ExposedPorts": {"53/udp": {}},
        "WorkingDir": "/tmp",
        "Hostname": "box",
    }
    merged, _ = config.merge(body, "x", IMAGE_CONFIG, "c" * 64)
    assert merged["Cmd"] == ["echo", "hi"] and merged["Env"] == ["PATH=/bin", "LANG=C.UTF-8", "EXTRA=1"]
    assert merged["Labels"] == {"from": "image", "both": "request"}
    assert merged["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert (merged["WorkingDir"], merged["Hostname"]) == ("/tmp", "box")


def test_an_entrypoint_in_the_request_drops_the_images_cmd() -> None:
    merged, _ = config.merge({"Image": "x", "Entrypoint": ["top"]}, "x", IMAGE_CONFIG, "c" * 64)
    assert config.command(merged) == ["top"]
    merged, _ = config.merge({"Image": "x", "Entrypoint": []}, "x", IMAGE_CONFIG, "c" * 64)
    assert config.command(merged) == ["sh"]  # an empty entrypoint clears the image's, the image's Cmd stays


@pytest.mark.parametrize(
    "body, image_config, error, message",
    [
        ({"Image": "x"}, {}, InvalidInput, "no command specified"),
        ({"Image": "x", "HostConfig": "bridge"}, IMAGE_CONFIG, InvalidInput, "invalid HostConfig"),
        ({"Image": "x", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, IMAGE_CONFIG, InvalidInput, "restart"),
        (
            {"Image": "x", "HostConfig": {"RestartPolicy": {"Name": "always"}, "AutoRemove": True}},
            IMAGE_CONFIG,
            Conflict,
            "cannot specify both --restart and --rm",
        ),
    ],
)
def test_bad_requests(body: dict[str, Any], image_config: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        config.merge(body, "x", image_config, "c" * 64)


_entries = st.lists(st.tuples(st.sampled_from("ABC"), st.text(alphabet="xyz=", max_size=3)), max_size=8)


@given(_entries, _entries)
def test_merge_env_keeps_each_key_once_where_it_first_was_with_its_last_value(
    base: list[Any], extra: list[Any]
) -> None:
    merged = config.merge_env([f"{k}={v}" for k, v in base], [f"{k}={v}" for k, v in extra])
    last = {k: f"{k}={v}" for k, v in base + extra}
    first_seen = list(dict.fromkeys(k for k, _ in base + extra))
    assert merged == [last[k] for k in first_seen]


@pytest.mark.parametrize(
    "given_signal, number",
    [(None, signal.SIGTERM), ("", signal.SIGTERM), (9, 9), ("15", 15), ("KILL", 9), ("sigint", 2), ("SIGHUP", 1)],
)
def test_signal_numbers(given_signal: str | int | None, number: int) -> None:
    assert signals.number(given_signal) == number


def test_unknown_signals_are_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="invalid signal: SIGNOPE"):
        signals.number("SIGNOPE")


def test_names() -> None:
    assert names.VALID.fullmatch("web-1.prod_x") and names.VALID.fullmatch("/web")
    for bad in ("-web", "a", "we b", "ok\n", "a/b", "..", "a\0b"):
        assert not names.VALID.fullmatch(bad)
    taken = {names.generate(set()) for _ in range(50)}
    assert all("_" in name and names.VALID.match(name) for name in taken)
    assert names.generate(taken) not in taken
