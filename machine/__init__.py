"""machine: provision Linux container hosts and drive them with the docker CLI."""

__version__ = "0.1.0"
