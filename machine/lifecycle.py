"""Machine lifecycle across the driver, the store, SSH and the agent: create, provision, start, stop,
restart, kill and remove, with the waits between (SSH, then the agent).

Every step is idempotent, so `machine provision` and `machine rm -f` work after a failure at any step.
The core reads a driver's capabilities (`needs_machine_key`, `ssh_timeout`), never its name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Protocol

import drivers
from drivers import Driver, DriverError, Settings, State

from . import __version__, dockercontext, guestclock, provision, tunnels
from .agent import AgentLocation
from .agent import version as agent_version
from .sharing.shares import Share
from .store import CorruptConfig, Machine, Store, StoreError
from .transport import ssh
from .vm import keys

Progress = Callable[[str], None]
FALLBACK_WAIT = 15.0  # seconds for SSH in the checks that say why a booted machine's tunnel did not reach it


def _quiet(message: str) -> None:
    pass


class NotRunning(Exception):
    """The machine is not running; the message names what starts it."""


def _context(machine: Machine) -> str:
    """What a saved state depends on besides the VM: this version of machine and the agent it runs."""
    return f"machine {__version__}, agent {machine.agent.get('version', '')}"


class Host(provision.Remote, Protocol):
    """An open session to a machine."""

    def close(self) -> None: ...


class Connector(Protocol):
    """How the lifecycle reaches machines (ssh.Connector; a fake in unit tests)."""

    def connect(self, target: ssh.Target, timeout: float = 10.0) -> Host: ...

    def wait(
        self,
        target: ssh.Target,
        timeout: float,
        learn: Callable[[str], None] | None = None,
        progress: Progress = _quiet,
    ) -> Host: ...


class TunnelStarter(Protocol):
    def __call__(self, machine: Machine, *, resumed: bool = False, boot_wait: float = 0.0) -> str:
        """Start the machine's tunnel (`resumed`: its first connection steps the guest's clock, see guestclock.py;
        `boot_wait`: the machine boots, its SSH server and agent may not answer yet); returns DOCKER_HOST once the
        agent answers through it."""
        ...


class Lifecycle:
    """The machines of a store, driven through their drivers and reached over SSH."""

    def __init__(
        self,
        store: Store,
        progress: Progress = _quiet,
        load_driver: Callable[[str], type[Driver]] = drivers.load,
        connector: Connector | None = None,
        tunnel: TunnelStarter = tunnels.ensure,
    ):
        self.store = store
        self.progress = progress
        self.load_driver = load_driver
        self.connector: Connector = connector or ssh.Connector()
        self.tunnel = tunnel

    def driver(self, machine: Machine) -> Driver:
        """The machine's driver, rebuilt from its saved settings."""
        driver_class = self.load_driver(machine.driver)
        return driver_class(
            machine.dir, driver_class.settings_class.from_config(machine.driver_settings), self.progress
        )

    def create(
        self,
        name: str,
        driver_class: type[Driver],
        settings: Settings,
        agent: AgentLocation,
        provision_agent: bool = True,
        shares: list[Share] | None = None,
    ) -> Machine:
        """Create, reach and provision a machine. On failure the record stays (state error) for `provision`/`rm`."""
        folder = self.store.reserve(name)
        machine = Machine(
            name=name,
            driver=driver_class.name,
            driver_settings=settings.to_config(),
            folder=folder,
            cache=self.store.cache,
            agent={"location": agent.to_config()},
            shares=list(shares or []),
        )
        driver = driver_class(machine.dir, settings, self.progress)
        try:
            self.progress("Running pre-create checks...")
            driver.precreate_check()
        except BaseException:
            self.store.remove(name)  # nothing was created yet
            raise
        machine.driver_settings = driver.settings.to_config()
        self.store.save(machine)
        try:
            if driver_class.needs_machine_key:
                keys.generate_key(machine.dir.key_path, f"machine-{name}")
            self.progress("Creating machine...")
            driver.create()
            machine.host_keys = driver.host_public_keys()
            self._record(machine, driver)
            if not (provision_agent and self._preinstalled(machine, driver)):
                self._reach_and_provision(machine, driver, provision_agent, driver_class.ssh_timeout)
            elif not self._reach_preinstalled(machine, driver):
                self._reach_and_provision(machine, driver, True, FALLBACK_WAIT)  # the guest had its time: says why
            machine.state = str(State.RUNNING)
            self.store.save(machine)
        except BaseException:
            if driver_class.remove_failed_create:
                self._roll_back(machine, driver)
            else:
                machine.state = str(State.ERROR)
                self.store.save(machine)
            raise
        self.mount_shares(machine)
        return machine

    @staticmethod
    def _preinstalled(machine: Machine, driver: Driver) -> bool:
        """Whether the host came with this agent started at boot, and the driver gave its host keys (an image of
        machine's own): then nothing needs a login of its own."""
        return (
            bool(machine.host_keys)
            and machine.ssh_user == "root"
            and provision.has_this_agent(machine.agent_location, driver.installed_agent())
        )

    def _reach_preinstalled(self, machine: Machine, driver: Driver) -> bool:
        """The tunnel waits for sshd, makes the one SSH connection and waits for the agent on it; False when the
        agent does not answer through it."""
        location = machine.agent_location
        self.progress("Waiting for SSH and the agent (the image has it)...")
        machine.agent = {"location": location.to_config(), "version": agent_version()}
        self.store.save(machine)
        try:
            self.tunnel(machine, boot_wait=type(driver).ssh_timeout)
            return True
        except tunnels.TunnelError as e:
            self.progress(f"  it did not answer through the tunnel ({e}): logging in to see why")
            tunnels.stop(machine)
            machine.agent = {"location": location.to_config()}
            self.store.save(machine)
            return False

    def _reach_and_provision(self, machine: Machine, driver: Driver, provision_agent: bool, timeout: float) -> None:
        """Log in (pinning the host key seen first where the driver gave none) and provision the agent."""
        self.progress("Waiting for SSH...")
        remote = self.connector.wait(machine.ssh_target, timeout, learn=machine.host_keys.append)
        try:
            self.store.save(machine)  # pins a host key learnt on this first connection
            if provision_agent:
                self._provision(machine, remote, upgrade=False, installed=driver.installed_agent())
        finally:
            remote.close()

    def mount_shares(self, machine: Machine) -> None:
        """Have the tunnel mount the machine's shares (it keeps them mounted from then on); says what failed."""
        if not machine.shares or not machine.agent.get("version"):
            return
        self.progress(f"Mounting {len(machine.shares)} shared folder{'s' if len(machine.shares) > 1 else ''}...")
        try:
            mounted, failed = tunnels.update_shares(machine)
        except tunnels.TunnelError as e:
            self.progress(f"Shared folders are not mounted: {e}")
            return
        for share in machine.shares:
            if share.guest not in mounted:
                why = failed.get(share.guest, "it did not mount in time")
                self.progress(f"Could not mount {share}: {why}. The tunnel retries; see `machine inspect`")

    def _roll_back(self, machine: Machine, driver: Driver) -> None:
        """Remove what a failed create made; what cannot be removed stays recorded for `machine rm`."""
        self.progress(f"Creating {machine.name} failed: removing what was made")
        try:
            driver.remove()
        except DriverError as e:
            self.progress(f"Could not remove everything ({e}): run `machine rm {machine.name}` when it can be reached")
            machine.driver_settings, machine.state = driver.settings.to_config(), str(State.ERROR)
            self.store.save(machine)
            return
        self.store.remove(machine.name)

    def provision(self, machine: Machine, upgrade: bool = False) -> str:
        """(Re-)install and start the agent on an existing machine; returns the agent version."""
        remote = self.connector.connect(machine.ssh_target, timeout=15)
        try:
            return self._provision(machine, remote, upgrade)
        finally:
            remote.close()

    def _provision(self, machine: Machine, remote: Host, upgrade: bool, installed: str = "") -> str:
        location = machine.agent_location
        target: provision.Remote = remote
        if machine.ssh_user != "root":  # root through sudo; the agent's socket is shared with the user's group
            target = provision.SudoRemote(remote)
            location.group = remote.run("id -gn")[1].strip()
        version = provision.provision(target, location, self.progress, upgrade=upgrade, installed=installed)
        machine.agent = {"location": location.to_config(), "version": version}
        machine.state = str(State.RUNNING)
        self.store.save(machine)
        return version

    def state(self, machine: Machine) -> State:
        """The machine's live state from its driver; `error` while a failed create or provision is unrepaired."""
        if machine.state == str(State.ERROR):
            return State.ERROR
        return self.driver(machine).state()

    def docker_host(self, machine: Machine) -> str:
        """DOCKER_HOST of a running machine, its tunnel started; NotRunning when the machine is not running
        (and then no tunnel is left behind)."""
        if not tunnels.running(machine):
            self.require_running(machine)
        try:
            return tunnels.ensure(machine)
        except tunnels.TunnelError:
            self.require_running(machine)  # it stopped under the tunnel: say that instead
            raise

    def require_running(self, machine: Machine) -> None:
        """Raise NotRunning, naming the command that starts the machine, unless it runs (or is starting)."""
        driver = self.driver(machine)
        state = driver.state()
        if state in (State.RUNNING, State.STARTING):
            return
        if not tunnels.held(machine):  # a held tunnel waits for the saved machine's resume
            tunnels.stop(machine)
        name, shown = machine.name, str(state).capitalize().replace("-", " ")
        if state is State.NOT_FOUND:
            raise NotRunning(
                f"machine {name} is not running: its host no longer exists (state {shown}). "
                f"Remove it with `machine rm {name}`"
            )
        if type(driver).start is Driver.start:  # a host machine cannot start (generic): its owner does
            raise NotRunning(
                f"machine {name} is not running (state {shown}): {machine.ssh_host}:{machine.ssh_port} does not "
                f"answer. Start the host and its SSH server, then try again"
            )
        raise NotRunning(f"machine {name} is not running (state {shown}). Start it with `machine start {name}`")

    def start(self, machine: Machine) -> None:
        """Start the machine: resumed where it was when its driver saved its state (clock and DHCP lease brought
        up to date), else booted."""
        driver = self.driver(machine)
        resuming = driver.resumes(_context(machine))
        if resuming:
            self.progress("Resuming the saved state...")
        elif tunnels.held(machine):  # the saved state is gone, and the connection kept for it with it
            tunnels.stop(machine)
        driver.start()
        self._record(machine, driver)
        if resuming and machine.agent.get("version"):
            self._resume(machine, driver)
        else:
            self._wait_ready(machine, driver, resumed=resuming)
        self.mount_shares(machine)

    def _resume(self, machine: Machine, driver: Driver) -> None:
        """A resumed machine is reached through its tunnel alone: the connection the tunnel held while the machine
        was saved (no handshake at all), or else the first one a new tunnel makes. The tunnel steps the guest's
        clock on it first, then forwards the agent, which was serving when the state was saved. A boot's checks
        run only if the agent does not answer through the tunnel, to say why."""
        self.progress("Waiting for the agent...")
        if not tunnels.held(machine):  # a tunnel left serving would not step the clock
            tunnels.stop(machine)
        try:
            self.tunnel(machine, resumed=True)
        except tunnels.TunnelError:
            self._wait_ready(machine, driver, resumed=True)

    def stop(self, machine: Machine, shutdown: bool = False) -> None:
        """Stop the machine: its state saved where the driver can (start resumes it; the tunnel keeps its
        connection for that), unless `shutdown`."""
        driver = self.driver(machine)
        if not shutdown and type(driver).save is not Driver.save:
            tunnels.hold(machine)
            self.progress("Saving the machine's state (`machine stop --shutdown` shuts it down instead)...")
            try:
                driver.save(_context(machine))
            except BaseException:
                tunnels.stop(machine)
                raise
        else:
            tunnels.stop(machine)
            self._shut_down(machine, driver)
        self._save_settings(machine, driver)

    def restart(self, machine: Machine) -> None:
        """A real shutdown and boot (a local VM is asked over SSH to power off first)."""
        tunnels.stop(machine)
        driver = self.driver(machine)
        if type(driver).local_vm:
            self._shut_down(machine, driver)
            driver.start()
        else:
            driver.restart()
        self._record(machine, driver)
        self._wait_ready(machine, driver)
        self.mount_shares(machine)

    def _shut_down(self, machine: Machine, driver: Driver, timeout: float = 60) -> None:
        """Shut the machine down. A local VM is first asked over SSH to power off, which works even before its
        ACPI button is handled (right after boot); the driver's own stop (ACPI, then force) follows, with
        nothing left to do once the guest is off."""
        if type(driver).local_vm and driver.state() is State.RUNNING:
            try:
                remote = self.connector.connect(machine.ssh_target, timeout=10)
            except ssh.SSHError:
                remote = None
            if remote is not None:
                try:
                    command = "systemctl poweroff || poweroff"
                    remote.run(command if machine.ssh_user == "root" else f"sudo -n sh -c '{command}'", timeout=10)
                except ssh.SSHError:
                    pass  # the connection may end with the guest
                finally:
                    remote.close()
                deadline = time.monotonic() + timeout
                while driver.state() in (State.RUNNING, State.STOPPING) and time.monotonic() < deadline:
                    time.sleep(0.2)
        driver.stop()

    def kill(self, machine: Machine) -> None:
        tunnels.stop(machine)
        driver = self.driver(machine)
        driver.kill()
        self._save_settings(machine, driver)

    def remove(self, name: str, force: bool) -> None:
        """Remove the host and the record (with `force`, the record even when the host cannot be removed)."""
        with self.store.lock(name):
            try:
                machine = self.store.load(name)
                tunnels.stop(machine)
                self.driver(machine).remove()
            except (CorruptConfig, DriverError, StoreError, OSError) as e:
                if not force:
                    raise
                self.progress(
                    f"Could not remove the host of {name} ({e}); removing its record anyway: what the host "
                    f"left (a VM, an instance, disks) is yours to remove by its own means"
                )
            dockercontext.remove_context(name)
            if self.store.active() == name and not os.environ.get("MACHINE_NAME"):
                self.store.set_active(None)
            self.store.remove(name)

    def _save_settings(self, machine: Machine, driver: Driver) -> None:
        """Save what the driver recorded while it worked."""
        machine.driver_settings = driver.settings.to_config()
        self.store.save(machine)

    def _record(self, machine: Machine, driver: Driver) -> None:
        """Save what the driver recorded and its SSH endpoint now (a VM may get another address at start)."""
        endpoint = driver.ssh_endpoint()
        machine.ssh_host, machine.ssh_port, machine.ssh_user = endpoint.host, endpoint.port, endpoint.user
        self._save_settings(machine, driver)

    def _wait_ready(self, machine: Machine, driver: Driver, resumed: bool = False) -> None:
        """After a boot (or a resume whose tunnel did not reach the agent): wait for SSH, then for the agent if the
        machine has one, and start its tunnel (DOCKER_HOST and the published ports work again once start returns).
        After a boot, the tunnel waits for sshd, makes the one SSH connection and waits for the agent on it; the
        checks with a connection of their own run only when it does not reach the agent, to say why. A resumed
        guest first has its clock stepped and its DHCP lease renewed (guestclock.py)."""
        timeout = type(driver).ssh_timeout
        if machine.agent.get("version") and not resumed:
            self.progress("Waiting for SSH and the agent...")
            try:
                self.tunnel(machine, boot_wait=timeout)
                return
            except tunnels.TunnelError:
                timeout = FALLBACK_WAIT  # the guest had its time: the checks below only say why
        remote = self.connector.wait(machine.ssh_target, timeout, progress=self.progress)
        try:
            if resumed:
                remote.run(guestclock.resume_command(machine.ssh_user), 30)
            if machine.agent.get("version"):  # the wait for the agent was said above, or by _resume
                provision.wait_healthy(remote, machine.agent_location)
        finally:
            remote.close()
        if machine.agent.get("version"):
            try:
                self.tunnel(machine)  # once the agent answers: through the tunnel it answers at once
            except tunnels.TunnelError as e:
                self.progress(f"The tunnel did not start: {e}")
