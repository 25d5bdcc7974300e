"""Dockerfile instructions as image config: one function for build steps and for import/commit --change."""

from __future__ import annotations

from typing import Any

import pytest

from guest.builds import dockerfile, imageconfig
from guest.errors import InvalidInput, Unsupported


def applied(*lines: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    config = {} if config is None else config
    cmd_set = False
    for number, line in enumerate(lines, 1):
        inst = dockerfile.parse_instruction(number, line)
        imageconfig.apply(inst, inst.raw, config, cmd_set)
        cmd_set = cmd_set or inst.keyword == "CMD"
    return config


def test_env_replaces_a_key_in_place_and_keeps_the_others() -> None:
    config = applied("ENV A=1 B=2", "ENV A=3", "ENV C four five", config={"Env": ["PATH=/bin", "B=0"]})
    assert config["Env"] == ["PATH=/bin", "B=2", "A=3", "C=four five"]


def test_labels_maintainer_user_stopsignal_expose_volume() -> None:
    config = applied(
        'LABEL a=1 "b c"=2', "MAINTAINER someone", "USER app:app", "STOPSIGNAL SIGINT", "EXPOSE 80 53/udp",
        'VOLUME ["/data", "/logs"]', "VOLUME /cache /tmp2",
    )  # fmt: skip
    assert config["Labels"] == {"a": "1", "b c": "2", "maintainer": "someone"}
    assert (config["User"], config["StopSignal"]) == ("app:app", "SIGINT")
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert list(config["Volumes"]) == ["/data", "/logs", "/cache", "/tmp2"]


def test_workdir_is_relative_to_the_previous_one() -> None:
    assert applied("WORKDIR /app", "WORKDIR src", "WORKDIR ../lib")["WorkingDir"] == "/app/lib"
    assert applied("WORKDIR rel")["WorkingDir"] == "/rel"


def test_cmd_and_entrypoint_forms_and_the_shell() -> None:
    assert applied("CMD echo hi")["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert applied('SHELL ["/bin/bash", "-lc"]', "CMD echo hi")["Cmd"] == ["/bin/bash", "-lc", "echo hi"]
    assert applied('CMD ["a", "b"]')["Cmd"] == ["a", "b"]
    assert applied("CMD")["Cmd"] == []
    with pytest.raises(InvalidInput, match="SHELL requires the arguments to be in JSON form"):
        applied("SHELL /bin/bash")


def test_entrypoint_clears_an_inherited_cmd_but_keeps_one_set_before_it() -> None:
    inherited = {"Cmd": ["sh"]}
    assert applied('ENTRYPOINT ["top"]', config=dict(inherited))["Cmd"] is None
    assert applied('CMD ["-b"]', 'ENTRYPOINT ["top"]', config=dict(inherited))["Cmd"] == ["-b"]


def test_onbuild_and_healthcheck() -> None:
    config = applied("ONBUILD RUN make", "HEALTHCHECK CMD curl -f http://localhost/")
    assert config["OnBuild"] == ["RUN make"]
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://localhost/"]}
    assert applied("HEALTHCHECK NONE")["Healthcheck"] == {"Test": ["NONE"]}


def test_changes_of_import_and_commit() -> None:
    config = imageconfig.from_changes(['CMD ["echo", "imported"]', "ENV A=1 B=2", "WORKDIR /srv", "EXPOSE 8080"])
    assert config == {
        "Cmd": ["echo", "imported"],
        "Env": ["A=1", "B=2"],
        "WorkingDir": "/srv",
        "ExposedPorts": {"8080/tcp": {}},
    }


@pytest.mark.parametrize("line", ["RUN make", "FROM busybox", "COPY a b", "bogus thing", "ARG X"])
def test_changes_refuse_instructions_docker_does_not_take_there(line: str) -> None:
    with pytest.raises(Unsupported, match=f"--change {line.split()[0].upper()} is not supported"):
        imageconfig.from_changes([line])


def test_changes_say_which_line_is_wrong() -> None:
    with pytest.raises(InvalidInput, match="invalid --change 'LABEL a=1 b': LABEL 'b' lacks '='"):
        imageconfig.from_changes(["CMD x", "LABEL a=1 b"])


def test_changes_over_a_config_expand_its_variables_and_leave_it_alone() -> None:
    base = {"Env": ["APP=/srv/app"], "Cmd": ["old"]}
    config = imageconfig.from_changes(["WORKDIR $APP", "ENV LOG=${APP}/log", "ENTRYPOINT run"], base)
    assert config == {
        "Env": ["APP=/srv/app", "LOG=/srv/app/log"],
        "WorkingDir": "/srv/app",
        "Cmd": None,
        "Entrypoint": ["/bin/sh", "-c", "run"],
    }
    assert base == {"Env": ["APP=/srv/app"], "Cmd": ["old"]}


def test_commit_merges_the_container_config_where_the_request_left_fields_empty() -> None:
    from guest.containers.commit import merge

    container = {
        "User": "app",
        "Env": ["A=1", "B=2"],
        "Cmd": ["serve"],
        "Entrypoint": None,
        "Labels": {"x": "1"},
        "ExposedPorts": {"80/tcp": {}},
        "WorkingDir": "/srv",
        "Volumes": {"/data": {}},
    }
    merged = merge({"Env": ["B=3"], "Labels": {"y": "2"}, "ExposedPorts": {"443/tcp": {}}}, container)
    assert merged["User"] == "app" and merged["WorkingDir"] == "/srv" and merged["Cmd"] == ["serve"]
    assert merged["Env"] == ["B=3", "A=1"]
    assert merged["Labels"] == {"x": "1", "y": "2"}
    assert merged["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}}
    assert merged["Volumes"] == {"/data": {}}
    assert merge({"Entrypoint": ["run"]}, container)["Cmd"] is None  # an entrypoint given: the command is not taken
