"""An instance's description, its state as ours, and bounded waits for the states EC2 moves it through."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import DriverError, Progress, State
from .aws import error_code

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

STATES = {
    "pending": State.STARTING,
    "running": State.RUNNING,
    "stopping": State.STOPPING,
    "shutting-down": State.STOPPING,
    "stopped": State.STOPPED,
    "terminated": State.NOT_FOUND,
}
LIVE = ["pending", "running", "stopping", "stopped", "shutting-down"]
NEW_GRACE = 60.0  # EC2 is eventually consistent: a new instance may be unknown to describe calls for a while
SAY_EVERY = 30.0  # seconds between progress lines while the state stays the same


def describe(ec2: EC2Client, instance_id: str) -> InstanceTypeDef | None:
    """The instance's description, None when EC2 does not know it (anymore)."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as e:
        if error_code(e) == "InvalidInstanceID.NotFound":
            return None
        raise
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            return instance
    return None


def state_name(instance: InstanceTypeDef | None) -> str:
    return instance["State"]["Name"] if instance else "terminated"


def wait(
    ec2: EC2Client, instance_id: str, wanted: str, timeout: float, progress: Progress, interval: float
) -> InstanceTypeDef | None:
    """Poll until the instance is `wanted` (running, stopped or terminated; a gone instance is terminated) and
    return its description; DriverError when it cannot get there or takes longer than `timeout` seconds."""
    start = time.monotonic()
    said, said_at = "", start
    while True:
        instance = describe(ec2, instance_id)
        elapsed = time.monotonic() - start
        if instance is None and wanted == "running" and elapsed < NEW_GRACE:
            name = "pending"
        else:
            name = state_name(instance)
        if name == wanted:
            return instance
        gave_up = name == "stopped" and wanted == "running" and elapsed > NEW_GRACE  # e.g. no capacity to start
        if gave_up or (wanted != "terminated" and name in ("terminated", "shutting-down")):
            reason = instance.get("StateReason", {}).get("Message", "") if instance else ""
            raise DriverError(
                f"instance {instance_id} is {name} instead of {wanted}" + (f": {reason}" if reason else "")
            )
        if elapsed > timeout:
            raise DriverError(
                f"instance {instance_id} is still {name} after {timeout:.0f}s (waiting for {wanted}): "
                "see the EC2 console, then retry"
            )
        now = time.monotonic()
        if name != said or now - said_at >= SAY_EVERY:
            progress(f"Instance {instance_id} is {name} ({elapsed:.0f}s), waiting for {wanted}...")
            said, said_at = name, now
        time.sleep(interval)
