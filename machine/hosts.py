"""Machine lifecycle across driver, store, SSH and provisioning: what the host commands call."""

from __future__ import annotations

from typing import Any, Callable

import drivers
from drivers import Driver, State

from . import provision, ssh
from .store import Machine, Store

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def driver_for(machine: Machine, progress: Progress = _quiet) -> Driver:
    """The machine's driver, rebuilt from its saved settings."""
    return drivers.load(machine.driver)(machine.dir, machine.driver_settings, progress)


def target_for(machine: Machine) -> ssh.Target:
    return ssh.Target(machine.name, machine.ssh_host, machine.ssh_port, machine.ssh_user, machine.dir.key_path,
                      machine.host_keys)


def session(machine: Machine, timeout: float = 10.0) -> ssh.Session:
    """An SSH session to a machine, refusing a changed host key."""
    return ssh.Session(ssh.connect(target_for(machine), timeout=timeout))


def refresh_endpoint(store: Store, machine: Machine, driver: Driver) -> None:
    """Record the driver's current SSH endpoint (a VM may get another address after a restart)."""
    endpoint = driver.ssh_endpoint()
    if (endpoint.host, endpoint.port, endpoint.user) != (machine.ssh_host, machine.ssh_port, machine.ssh_user):
        machine.ssh_host, machine.ssh_port, machine.ssh_user = endpoint.host, endpoint.port, endpoint.user
        store.save(machine)


def create(store: Store, name: str, driver_class: type[Driver], settings: dict[str, Any], progress: Progress,
           agent: provision.AgentLocation, provision_agent: bool = True) -> Machine:
    """Create, reach and provision a machine. On failure the record stays (state error) for `provision`/`rm`."""
    folder = store.reserve(name)
    machine = Machine(name=name, driver=driver_class.name, driver_settings=settings, folder=folder,
                      agent={"location": agent.to_config()})
    driver = driver_class(machine.dir, settings, progress)
    try:
        progress("Running pre-create checks...")
        driver.precreate_check()
    except BaseException:
        store.remove(name)  # nothing was created yet
        raise
    store.save(machine)
    try:
        if driver_class.name != "generic":
            ssh.generate_key(machine.dir.key_path, f"machine-{name}")
        progress("Creating machine...")
        driver.create()
        machine.driver_settings = driver.settings
        machine.host_keys = driver.host_public_keys()
        refresh_endpoint(store, machine, driver)
        store.save(machine)
        progress("Waiting for SSH...")
        transport = ssh.wait_for_ssh(target_for(machine), timeout=driver_class.ssh_timeout,
                                     learn=lambda key: machine.host_keys.append(key))
        store.save(machine)  # pins a host key learnt on this first connection
        with ssh.Session(transport) as remote:
            if provision_agent:
                _provision(store, machine, remote, progress, upgrade=False)
        machine.state = str(State.RUNNING)
        store.save(machine)
        return machine
    except BaseException:
        machine.state = str(State.ERROR)
        store.save(machine)
        raise


def provision_machine(store: Store, machine: Machine, progress: Progress, upgrade: bool = False) -> str:
    """(Re-)install and start the agent on an existing machine; returns the agent version."""
    with session(machine, timeout=15) as remote:
        return _provision(store, machine, remote, progress, upgrade)


def _provision(store: Store, machine: Machine, remote: ssh.Session, progress: Progress, upgrade: bool) -> str:
    location = agent_location(machine)
    target: provision.Remote = remote
    if machine.ssh_user != "root":  # root through sudo; the agent's socket is shared with the user's group
        target = provision.SudoRemote(remote)
        location.group = remote.run("id -gn")[1].strip()
    version = provision.provision(target, location, progress, upgrade=upgrade)
    machine.agent = {"location": location.to_config(), "version": version}
    machine.state = str(State.RUNNING)
    store.save(machine)
    return version


def agent_location(machine: Machine) -> provision.AgentLocation:
    return provision.AgentLocation.from_config(machine.agent.get("location"))


def state(machine: Machine) -> State:
    """The machine's live state from its driver; `error` while a failed create or provision is unrepaired."""
    if machine.state == str(State.ERROR):
        return State.ERROR
    return driver_for(machine).state()


def wait_ready(machine: Machine, progress: Progress) -> None:
    """After a (re)start: wait for SSH, then for the agent if the machine has one."""
    timeout = drivers.load(machine.driver).ssh_timeout
    transport = ssh.wait_for_ssh(target_for(machine), timeout=timeout, progress=progress)
    try:
        if machine.agent.get("version"):
            progress("Waiting for the agent...")
            provision.wait_healthy(transport, agent_location(machine))
    finally:
        transport.close()
