"""A Jupyter kernel manager for a kernel process a template forked (``warm_pool``).

jupyter_client's managers own the processes they launch; these kernels are launched by the
template, so the manager gets a provisioner that only watches and signals the forked process
(through a pidfd, immune to pid reuse) the way the local provisioner treats its own. Papermill
then drives the kernel as it drives a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import uuid
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerBase
from jupyter_core.utils import run_sync

log = logging.getLogger(__name__)


class ForkedProvisioner(KernelProvisionerBase):  # type: ignore[misc]
    """The kernel process a template forked: watched through a pidfd (immune to pid reuse),
    signalled as a process group like jupyter_client's local provisioner does."""

    pid: int | None = None
    _pidfd: int | None = None
    _gone = False

    def attach(self, pid: int) -> None:
        self.pid = pid
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone (and reaped)
            self._gone = True
        except (AttributeError, OSError):  # no pidfds here: fall back to the pid (reaped fast)
            self._pidfd = None

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    def _exited(self) -> bool:
        if self._gone or self.pid is None:
            return True
        if self._pidfd is not None:
            self._gone = bool(select.select([self._pidfd], [], [], 0)[0])
        else:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self._gone = True
        return self._gone

    async def poll(self) -> int | None:
        # the template reaps its children, so the exit status is not ours to read
        return None if not self._exited() else 0

    async def wait(self) -> int | None:
        while await self.poll() is None:
            await asyncio.sleep(0.05)
        return 0

    async def send_signal(self, signum: int) -> None:
        if self.pid is not None and not self._exited():
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signum)

    async def kill(self, restart: bool = False) -> None:
        if self.pid is not None:
            # the whole group: whatever the run started dies with its kernel
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("forked kernels are started by their template")

    async def cleanup(self, restart: bool = False) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class ForkedKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """A kernel manager for one forked kernel; remembers the clients Papermill opens on it,
    since a client on a kernel it does not own is left open by nbclient."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clients: list[Any] = []
        self.kernel_id = str(uuid.uuid4())
        self.write_connection_file()  # picks free ports and a key, as a fresh start does

    def client(self, **kwargs: Any) -> Any:
        kc = super().client(**kwargs)
        self.clients.append(kc)
        return kc

    def attach(self, pid: int) -> None:
        provisioner = ForkedProvisioner(
            kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
        )
        provisioner.attach(pid)
        self.provisioner = provisioner

    def close_clients(self) -> None:
        """Close the clients Papermill opened (in the thread whose event loop they use)."""
        for kc in self.clients:
            kc.stop_channels()
        self.clients.clear()

    def dispose(self) -> None:
        """Shut the kernel down as nbclient does a fresh one (politely, then by force), and
        make sure it is gone: the next run never sees this process."""

        async def down() -> None:
            if self.has_kernel and await self.is_alive():
                await self.shutdown_kernel(now=False)
            if self.provisioner is not None and await self.provisioner.poll() is None:
                await self.provisioner.kill()
                await self.provisioner.wait()
            await self.cleanup_resources()

        try:
            run_sync(down)()
        except Exception:  # a background job: say so, and make sure the process is gone
            log.exception("disposing of warm kernel %s failed; killing it", self.kernel_id)
            if isinstance(self.provisioner, ForkedProvisioner):
                run_sync(self.provisioner.kill)()
