"""The guest agent: a container engine speaking the Docker Engine API on a unix socket.

Runs inside the guest on its own python3 (>= 3.9), stdlib only. It never imports machine/ or drivers/.
"""

__version__ = "0.1.0"
