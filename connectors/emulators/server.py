"""Run an emulator's ASGI app on a loopback port in a background thread, optionally over TLS.

The TLS material comes from a CA generated on the spot (trustme), so clients that demand https
(MSAL) verify the emulator by pointing their CA bundle at ``TlsMaterial.ca_path``.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    ca_path: Path
    cert_path: Path
    key_path: Path


def make_tls(directory: Path) -> TlsMaterial:
    """Create a CA and a server certificate for 127.0.0.1/localhost in ``directory`` (mode 0600 key)."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="accessctl emulator CA")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    material = TlsMaterial(
        directory / "emulator-ca.pem", directory / "emulator-cert.pem", directory / "emulator-key.pem"
    )
    ca.cert_pem.write_to_path(str(material.ca_path))
    cert.cert_chain_pems[0].write_to_path(str(material.cert_path))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(material.cert_path), append=True)
    material.key_path.touch(mode=0o600)
    cert.private_key_pem.write_to_path(str(material.key_path))
    return material


class ServerThread:
    """A uvicorn server for ``app`` on 127.0.0.1, started in a daemon thread.

    ``port=0`` picks a free port; ``url`` is known once :meth:`start` returns.
    """

    def __init__(
        self, app: Any = None, *, host: str = "127.0.0.1", port: int = 0, tls: TlsMaterial | None = None
    ) -> None:
        self.app = app  # may be set after construction, once ``url`` is known
        self.host = host
        self.tls = tls
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self._server: Any = None
        self._thread = threading.Thread(target=self._run, name=f"emulator:{self.port}", daemon=True)

    def _config(self) -> Any:
        import uvicorn

        tls = self.tls
        return uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
            backlog=4096,
            ssl_certfile=str(tls.cert_path) if tls else None,
            ssl_keyfile=str(tls.key_path) if tls else None,
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout_s: float = 10.0) -> ServerThread:
        import uvicorn

        if self.app is None:
            raise RuntimeError("ServerThread.app must be set before start()")
        self._server = uvicorn.Server(self._config())
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"emulator server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for clients' idle keep-alive connections
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
