"""Containers: records on disk, the rootfs on overlayfs, the OCI spec, and the lifecycle through conmon and the OCI
runtime, in layers: `store` (records, lookup, create) < `lifecycle` (start, stop, kill, remove, pause) <
`supervision` (exits, restart policies, recovery after an agent restart), whose `Containers` the engine uses.

Per container, under `containers/<id>/`: `container.json` (the record, written atomically), `upper/` and `work/`
(overlay), `bundle/` (OCI config.json, rootfs mount point, conmon's ctl/attach), `ctr.log` (conmon's log) and
`hosts`, `hostname`, `resolv.conf`. Exit codes land in `exits/<id>` (a small tmpfs: written even when the disk is
full). A container's conmon outlives the agent. A record the full disk had no room for stays in memory and is saved
again until it fits.
"""
