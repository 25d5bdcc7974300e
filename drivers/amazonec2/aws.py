"""EC2 through boto3: a client for a machine's settings (its credentials, region and endpoint, botocore's
standard retry mode for throttling), and AWS's errors as DriverErrors that say what to do next."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import DriverError
from .settings import DEFAULT_REGION, AmazonEC2Settings

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

CREDENTIALS = "aws-credentials"  # in the machine's folder, 0600: keys given as options stay out of config.json
CREDENTIAL_WAYS = (
    "give --amazonec2-access-key and --amazonec2-secret-key, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "name a profile of ~/.aws/config with AWS_PROFILE (`aws configure`, `aws sso login`), "
    "or run on an instance with an IAM role"
)
_QUOTA = (
    "an account quota is reached: remove instances you do not need, ask for more in the Service Quotas "
    "console, or pick a smaller --amazonec2-instance-type"
)
_CAPACITY = "AWS has no capacity for it there now: try another --amazonec2-zone or --amazonec2-instance-type, or later"
_CREDENTIALS = f"check the credentials: {CREDENTIAL_WAYS}"
HINTS = {
    "AuthFailure": _CREDENTIALS,
    "InvalidClientTokenId": _CREDENTIALS,
    "SignatureDoesNotMatch": _CREDENTIALS,
    "UnrecognizedClientException": _CREDENTIALS,
    "ExpiredToken": "the credentials expired: renew them (a new session token, `aws sso login`)",
    "RequestExpired": "the request's time is off: check this computer's clock",
    "UnauthorizedOperation": "the credentials lack an EC2 permission: ask your AWS administrator for it",
    "OptInRequired": "enable the region for your account in the AWS console, or pick another with --amazonec2-region",
    "InstanceLimitExceeded": _QUOTA,
    "VcpuLimitExceeded": _QUOTA,
    "MaxSpotInstanceCountExceeded": _QUOTA,
    "InsufficientInstanceCapacity": _CAPACITY,
    "InsufficientCapacity": _CAPACITY,
    "Unsupported": _CAPACITY,
    "InvalidAMIID.NotFound": "AMIs are per region: check --amazonec2-ami and --amazonec2-region",
    "InvalidAMIID.Malformed": "check --amazonec2-ami (ami-...)",
    "InvalidInstanceType": "check --amazonec2-instance-type (`aws ec2 describe-instance-types` lists them)",
    "InvalidParameterValue": "check the option it names",
    "RequestLimitExceeded": "AWS kept throttling the requests: try again in a minute",
    "SpotMaxPriceTooLow": "raise --amazonec2-spot-price, or leave it out to pay up to the on-demand price",
}


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise DriverError(
            "the amazonec2 driver needs boto3: pip install 'machine[aws]' (or pip install boto3)"
        ) from None
    return boto3


def adopt_credentials(settings: AmazonEC2Settings, folder: Path) -> None:
    """Move credentials given as options into the machine's own 0600 file (config.json, which `machine inspect`
    prints, never holds them), and remember AWS_PROFILE so later commands use the same account."""
    if settings.access_key:
        keys = _option_keys(settings)
        fd = os.open(folder / CREDENTIALS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(keys, f)
        settings.access_key = settings.secret_key = settings.session_token = ""
    settings.profile = os.environ.get("AWS_PROFILE", "")


def _option_keys(settings: AmazonEC2Settings) -> dict[str, str]:
    keys = {"aws_access_key_id": settings.access_key, "aws_secret_access_key": settings.secret_key}
    if settings.session_token:
        keys["aws_session_token"] = settings.session_token
    return keys if settings.access_key else {}


def session(settings: AmazonEC2Settings, folder: Path) -> Any:
    """A boto3 session with the machine's credentials: its own file, else the recorded profile, else boto3's chain."""
    boto3 = _boto3()
    from botocore.exceptions import ProfileNotFound

    keys = _option_keys(settings)
    if not keys:
        with contextlib.suppress(FileNotFoundError):
            keys = json.loads((folder / CREDENTIALS).read_text())
    try:
        return boto3.Session(profile_name=None if keys else settings.profile or None, **keys)
    except ProfileNotFound as e:
        raise DriverError(
            f"{e}: add it to ~/.aws/config (`aws configure --profile NAME`) or unset AWS_PROFILE"
        ) from None


def region(settings: AmazonEC2Settings, folder: Path) -> str:
    """The region to use (the option, the AWS configuration's, us-east-1), known to botocore unless an endpoint
    is given."""
    chosen: str = settings.region or session(settings, folder).region_name or DEFAULT_REGION
    if settings.endpoint:
        return chosen
    known = _known_regions()
    if chosen not in known:
        raise DriverError(
            f"unknown region {chosen!r} (known: {', '.join(sorted(known))}); a region newer than this botocore "
            "needs `pip install -U botocore`, another service --amazonec2-endpoint"
        )
    return chosen


def _known_regions() -> set[str]:
    boto3 = _boto3()
    found: set[str] = set()
    base = boto3.Session(aws_access_key_id="-", aws_secret_access_key="-")  # no credentials looked up
    for partition in base.get_available_partitions():
        found.update(base.get_available_regions("ec2", partition_name=partition))
    return found


def client(settings: AmazonEC2Settings, folder: Path) -> EC2Client:
    """An EC2 client for the machine's region (and endpoint), retrying throttled calls (standard mode)."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": 5},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="machine-amazonec2",
    )
    ec2: EC2Client = session(settings, folder).client(
        "ec2", region_name=settings.region or DEFAULT_REGION, endpoint_url=settings.endpoint or None, config=config
    )
    return ec2


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


@contextlib.contextmanager
def errors(action: str, settings: AmazonEC2Settings) -> Iterator[None]:
    """Turn botocore's exceptions into DriverErrors naming `action`, AWS's message and what to do."""
    from botocore import exceptions

    try:
        yield
    except exceptions.ClientError as e:
        code = error_code(e)
        message = e.response.get("Error", {}).get("Message") or str(e)
        hint = HINTS.get(code, "")
        raise DriverError(f"{action}: {message} ({code})" + (f"; {hint}" if hint else "")) from None
    except (exceptions.NoCredentialsError, exceptions.PartialCredentialsError) as e:
        raise DriverError(f"{action}: {e}; {CREDENTIAL_WAYS}") from None
    except (exceptions.ConnectionError, exceptions.HTTPClientError) as e:
        where = settings.endpoint or f"region {settings.region or DEFAULT_REGION}"
        raise DriverError(
            f"{action}: cannot reach EC2 ({where}): {str(e).rstrip('. ')}. "
            "Check the network, --amazonec2-region and --amazonec2-endpoint"
        ) from None
    except exceptions.BotoCoreError as e:
        raise DriverError(f"{action}: {e}") from None
