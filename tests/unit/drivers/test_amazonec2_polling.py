"""What moto cannot show, through botocore's Stubber: an instance that stays pending, is unknown for a while
after launch, terminates slowly, or keeps its security group busy; AWS's errors as DriverErrors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers import DriverError, MachineDir, State
from drivers.amazonec2 import AmazonEC2Driver, AmazonEC2Settings, aws, instances

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

ID = "i-0123456789abcdef0"


def described(state: str, **extra: Any) -> dict[str, Any]:
    instance = {"InstanceId": ID, "State": {"Name": state, "Code": 0}, **extra}
    return {"Reservations": [{"Instances": [instance]}]}


@pytest.fixture
def stubbed(tmp_path: Path) -> Iterator[tuple[AmazonEC2Driver, Stubber, list[str]]]:
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    said: list[str] = []
    settings = AmazonEC2Settings(region="us-east-1", instance_id=ID, token="t0k", public_ip="198.51.100.1")
    driver = AmazonEC2Driver(MachineDir("dev", tmp_path, tmp_path / "cache"), settings, said.append)
    driver.ec2 = client  # type: ignore[misc]
    driver.poll_interval = 0  # type: ignore[misc]
    with Stubber(client) as stubber:
        yield driver, stubber, said
        stubber.assert_no_pending_responses()


def test_start_waits_through_pending_and_records_the_new_address(stubbed: Any) -> None:
    driver, stubber, said = stubbed
    stubber.add_response("start_instances", {"StartingInstances": []}, {"InstanceIds": [ID]})
    for _ in range(3):
        stubber.add_response("describe_instances", described("pending"), {"InstanceIds": [ID]})
    stubber.add_response(
        "describe_instances",
        described("running", PublicIpAddress="203.0.113.9", PrivateIpAddress="10.0.0.5"),
        {"InstanceIds": [ID]},
    )
    driver.start()
    assert (driver.settings.public_ip, driver.settings.private_ip) == ("203.0.113.9", "10.0.0.5")
    assert said == [f"Instance {ID} is pending (0s), waiting for running..."]  # once per state, then every 30 s


def test_a_new_instance_unknown_to_describe_calls_is_waited_for(stubbed: Any) -> None:
    driver, stubber, _ = stubbed
    stubber.add_client_error("describe_instances", "InvalidInstanceID.NotFound", "The instance ID does not exist")
    stubber.add_response("describe_instances", described("running"), {"InstanceIds": [ID]})
    assert instances.wait(driver.ec2, ID, "running", 60, lambda m: None, 0) is not None


def test_an_instance_that_dies_while_starting_says_why(stubbed: Any) -> None:
    driver, stubber, _ = stubbed
    stubber.add_response(
        "describe_instances",
        described("terminated", StateReason={"Code": "Server.InsufficientInstanceCapacity", "Message": "no capacity"}),
    )
    with pytest.raises(DriverError, match=f"instance {ID} is terminated instead of running: no capacity"):
        instances.wait(driver.ec2, ID, "running", 60, lambda m: None, 0)


def test_waits_are_bounded(stubbed: Any) -> None:
    driver, stubber, _ = stubbed
    stubber.add_response("stop_instances", {"StoppingInstances": []}, {"InstanceIds": [ID]})
    stubber.add_response("describe_instances", described("stopping"))
    stubber.add_response("describe_instances", described("stopping"))
    driver.wait_timeout = 0.01  # type: ignore[misc]
    driver.poll_interval = 0.02  # type: ignore[misc]
    start = time.monotonic()
    with pytest.raises(DriverError, match=f"instance {ID} is still stopping after 0s"):
        driver.stop()
    assert time.monotonic() - start < 5


def test_remove_waits_for_a_slow_termination_and_a_busy_group(stubbed: Any) -> None:
    driver, stubber, said = stubbed
    token = [{"Name": "tag:machine-token", "Values": ["t0k"]}]
    stubber.add_response(
        "describe_instances",
        {"Reservations": []},
        {"Filters": [*token, {"Name": "instance-state-name", "Values": instances.LIVE}]},
    )
    stubber.add_response("terminate_instances", {"TerminatingInstances": []}, {"InstanceIds": [ID]})
    for _ in range(3):
        stubber.add_response("describe_instances", described("shutting-down"), {"InstanceIds": [ID]})
    stubber.add_response("describe_instances", described("terminated"), {"InstanceIds": [ID]})
    stubber.add_response("describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-1"}]}, {"Filters": token})
    stubber.add_client_error("delete_security_group", "DependencyViolation", "resource sg-1 has a dependent object")
    stubber.add_response("delete_security_group", {}, {"GroupId": "sg-1"})
    stubber.add_response("describe_key_pairs", {"KeyPairs": [{"KeyName": "machine-dev"}]}, {"Filters": token})
    stubber.add_response("delete_key_pair", {}, {"KeyName": "machine-dev"})
    driver.remove()
    assert said == [
        f"Terminating instance {ID}",
        f"Instance {ID} is shutting-down (0s), waiting for terminated...",
        "Deleting security group sg-1",
        "Security group sg-1 is still in use, retrying...",
        "Deleting key pair machine-dev",
    ]
    assert driver.settings.public_ip == ""


def test_remove_of_what_is_already_gone_succeeds(stubbed: Any) -> None:
    driver, stubber, _ = stubbed
    stubber.add_response("describe_instances", {"Reservations": []})
    stubber.add_client_error("terminate_instances", "InvalidInstanceID.NotFound", "gone")
    stubber.add_client_error("describe_instances", "InvalidInstanceID.NotFound", "gone")
    stubber.add_response("describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-1"}]})
    stubber.add_client_error("delete_security_group", "InvalidGroup.NotFound", "gone")
    stubber.add_response("describe_key_pairs", {"KeyPairs": []})
    driver.remove()


def test_state_maps_ec2_states(stubbed: Any) -> None:
    driver, stubber, _ = stubbed
    for name in ("pending", "running", "stopping", "stopped", "shutting-down"):
        stubber.add_response("describe_instances", described(name))
    stubber.add_client_error("describe_instances", "InvalidInstanceID.NotFound", "gone")
    seen = [driver.state() for _ in range(6)]
    assert seen == [State.STARTING, State.RUNNING, State.STOPPING, State.STOPPED, State.STOPPING, State.NOT_FOUND]


def raised(error: Exception) -> str:
    with pytest.raises(DriverError) as caught, aws.errors("launching", AmazonEC2Settings(region="eu-west-1")):
        raise error
    return str(caught.value)


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "RunInstances")


def test_aws_errors_keep_awss_message_and_say_what_to_do() -> None:
    quota = raised(client_error("VcpuLimitExceeded", "You have requested more vCPU capacity than your limit"))
    assert quota.startswith("launching: You have requested more vCPU capacity than your limit (VcpuLimitExceeded)")
    assert "Service Quotas" in quota
    assert "another --amazonec2-zone" in raised(client_error("InsufficientInstanceCapacity", "none left"))
    assert "AWS_PROFILE" in raised(client_error("AuthFailure", "AWS was not able to validate the credentials"))
    assert "AWS_ACCESS_KEY_ID" in raised(NoCredentialsError())
    unreachable = raised(EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com/"))
    assert "cannot reach EC2 (region eu-west-1)" in unreachable
    assert raised(client_error("Whatever", "new error")) == "launching: new error (Whatever)"
