"""Real ``redis-server`` processes with ACLs, TLS or Sentinel, and the certificates TLS needs.

Used by ``test_connections.py``. Every server gets a free port on 127.0.0.1, its own
configuration and log file in a test directory, no persistence, and is stopped by the fixture
that started it. Certificates are made with ``cryptography``: one CA, a server certificate for
``localhost`` and ``127.0.0.1``, and a client certificate for mutual TLS.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_binary() -> str | None:
    """The ``redis-server`` executable, or None when it is not installed."""
    return shutil.which("redis-server")


class RedisServer:
    """One ``redis-server`` (or sentinel) subprocess.

    Args:
        directory: Where its configuration and log file go.
        name: Names those files.
        config: Configuration lines; ``port``/``bind``/``logfile``/persistence are added.
        port: The port to listen on (the TLS port when ``tls`` is set).
        tls: Listen with TLS only (the lines must configure the certificates).
        sentinel: Start in Sentinel mode.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        config: Sequence[str],
        *,
        port: int | None = None,
        tls: bool = False,
        sentinel: bool = False,
    ) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.port = port or free_port()
        self.name = name
        self.log = directory / f"{name}.log"
        self.config_file = directory / f"{name}.conf"
        listen = ["port 0", f"tls-port {self.port}"] if tls else [f"port {self.port}"]
        lines = [
            "bind 127.0.0.1",
            *listen,
            f"dir {directory}",
            f"logfile {self.log}",
            *([] if sentinel else ['save ""', "appendonly no"]),
            *config,
        ]
        # Sentinel rewrites its configuration file, so it must be a file of its own.
        self.config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        argv = [binary, str(self.config_file), *(["--sentinel"] if sentinel else [])]
        self.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def output(self) -> str:
        """The server's log so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode}:\n{self.output()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} did not listen on {self.port} within {START_TIMEOUT:g}s:\n"
                        + self.output()
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


@dataclass(frozen=True)
class Certificates:
    """PEM files of a test PKI."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_config(self, *, auth_clients: bool = False) -> list[str]:
        """``redis-server`` lines for TLS with these files."""
        return [
            f"tls-cert-file {self.server_cert}",
            f"tls-key-file {self.server_key}",
            f"tls-ca-cert-file {self.ca}",
            f"tls-auth-clients {'yes' if auth_clients else 'no'}",
        ]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: str,
    *,
    ca: bool = False,
    usage: Sequence[x509.ObjectIdentifier] = (),
    names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usage)), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate (localhost, 127.0.0.1) and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("dagcore test CA", ca_key, ca_key, "dagcore test CA", ca=True)
    files = Certificates(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    server = _issue(
        "localhost",
        server_key,
        ca_key,
        "dagcore test CA",
        usage=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        names=server_names,
    )
    # Redis shows its server certificate as its client one too when it connects out
    # (replication, Sentinel to a master), so it is issued for both purposes.
    files.server_cert.write_bytes(server.public_bytes(pem))
    _write_key(files.server_key, server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(
        "dagcore-client",
        client_key,
        ca_key,
        "dagcore test CA",
        usage=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    )
    files.client_cert.write_bytes(client.public_bytes(pem))
    _write_key(files.client_key, client_key)
    return files
