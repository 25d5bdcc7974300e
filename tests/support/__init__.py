"""The test harness: real parts (agent, sshd, registry, libvirtd) started for tests and benches, and
cleaned up after them whatever happened."""
