"""The HTTP/1.1 side of the Engine API: a server on a unix socket, requests, routes, responses and error statuses.

Routing with versioned and unversioned paths, JSON and chunked streaming responses, request bodies with
Content-Length or chunked encoding, and connection hijacking (attach, exec start) the way the docker CLI and
docker-py expect it.

Import the modules themselves (`from .http.router import Router`): this package imports nothing, so that the
agent can listen and answer /_ping (listener.py, early.py) before the server's modules are loaded.
"""
