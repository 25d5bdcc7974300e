"""machine: provision Linux container hosts and drive them with the docker CLI.

Everything here runs on the user's computer:
- `cli/`: the click commands and their output (hosts, env, ssh/scp, guest images, containers, images,
  volumes, networks).
- the core: `store` (machine records), `lifecycle` (create/start/stop/... across driver, SSH and agent),
  `provision` (the agent onto a host over SSH), `tunnels` (each machine's tunnel process),
  `dockercontext` (the docker CLI's contexts); `agent` (the agent's artifact and service) and `busybox`
  (a sample image) are shared by them.
- `transport/`: SSH, streamlocal channels, the tunnel, port forwards, the terminal, one relay for all.
- `vm/`: the library VM drivers use: guest images and their boot files, cloud images and downloads,
  cloud-init seeds, SSH key pairs.
Drivers (../drivers) use only the driver API, `vm/` and `transport/`.
"""

import sys

__version__ = "0.1.0"

# paramiko imports invoke, and with it unittest.mock and asyncio (80 ms of every command and of each tunnel's
# start), only to run ssh_config's `Match exec`, which machine never reads: it is left unimported
sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
