"""The HTTP/1.1 side of the Engine API: a server on a unix socket, requests, routes, responses and error statuses.

Routing with versioned and unversioned paths, JSON and chunked streaming responses, request bodies with
Content-Length or chunked encoding, and connection hijacking (attach, exec start) the way the docker CLI and
docker-py expect it.
"""

from __future__ import annotations

from .request import Request
from .responses import Response, json_response, json_stream, no_content, progress_stream
from .router import Router
from .server import Server

__all__ = ["Request", "Response", "Router", "Server", "json_response", "json_stream", "no_content", "progress_stream"]
