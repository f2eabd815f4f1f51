"""Per-run credentials for the emulators, written to owner-only files beside the generated config."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EmulatorSecrets:
    okta_api_token: str
    entra_tenant_id: str
    entra_client_id: str
    entra_client_secret: str
    google_customer_id: str
    google_admin_email: str
    google_service_account_email: str
    google_private_key_pem: str
    google_public_key_pem: str
    google_key_id: str

    def __repr__(self) -> str:
        return "EmulatorSecrets([redacted])"


def generate_secrets(domain: str) -> EmulatorSecrets:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return EmulatorSecrets(
        okta_api_token="00" + secrets.token_urlsafe(30),
        entra_tenant_id=str(uuid.uuid4()),
        entra_client_id=str(uuid.uuid4()),
        entra_client_secret=secrets.token_urlsafe(30),
        google_customer_id="C0" + secrets.token_hex(4),
        google_admin_email=f"it-admin@{domain}",
        google_service_account_email="accessctl-sync@accessctl-emulator.iam.gserviceaccount.com",
        google_private_key_pem=private_pem,
        google_public_key_pem=public_pem,
        google_key_id=secrets.token_hex(20),
    )


def write_secret(path: Path, content: str) -> Path:
    """Write ``content`` to a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(path, 0o600)
    return path


def google_key_json(secrets_: EmulatorSecrets, token_uri: str) -> str:
    """A service-account key file exactly in Google's format, its token_uri at the emulator."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "accessctl-emulator",
            "private_key_id": secrets_.google_key_id,
            "private_key": secrets_.google_private_key_pem,
            "client_email": secrets_.google_service_account_email,
            "client_id": "1" + "".join(str(b % 10) for b in secrets_.google_key_id.encode()[:20]),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/accessctl-sync",
            "universe_domain": "googleapis.com",
        },
        indent=2,
    )
