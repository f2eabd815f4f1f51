"""How long `accessctl emulate --people N` takes to be ready, and to serve a full user listing of
each provider (plain httpx, each provider's maximum page size).

    python bench/emulate_startup.py --people 10000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sync.bench_sync import auth_headers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "emu"
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "accessctl.cli",
                "emulate",
                "--people",
                str(args.people),
                "--workdir",
                str(workdir),
                "--write-config",
                str(workdir / "accessctl.toml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,  # where emulate reports its progress
            text=True,
            cwd=ROOT,
        )
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("Ctrl-C"):
                break
        ready_s = time.perf_counter() - started
        config = tomllib.loads((workdir / "accessctl.toml").read_text())
        verify = ssl.create_default_context(cafile=config["okta"]["ca_bundle"])
        listings = {}
        try:
            headers = _headers(config)
            for provider, first in (
                ("okta", "/api/v1/users?limit=200"),
                ("entra", "/v1.0/users?$top=999"),
                ("google", "/admin/directory/v1/users?customer=my_customer&maxResults=500"),
            ):
                base = (
                    config[provider].get("org_url")
                    or config[provider].get("graph_url")
                    or config[provider]["api_endpoint"]
                )
                t = time.perf_counter()
                count = pages = 0
                with httpx.Client(base_url=base, verify=verify, headers=headers[provider]) as client:
                    url: str | None = first
                    token = None
                    while url:
                        response = client.get(url)
                        body = response.json()
                        pages += 1
                        if provider == "okta":
                            count += len(body)
                            url = response.links.get("next", {}).get("url")
                        elif provider == "entra":
                            count += len(body["value"])
                            url = body.get("@odata.nextLink")
                        else:
                            count += len(body.get("users", []))
                            token = body.get("nextPageToken")
                            url = f"{first}&pageToken={token}" if token else None
                listings[provider] = {
                    "users": count,
                    "pages": pages,
                    "seconds": round(time.perf_counter() - t, 2),
                }
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        print(
            json.dumps({"people": args.people, "ready_s": round(ready_s, 2), "listings": listings}, indent=2)
        )


def _headers(config: dict) -> dict[str, dict[str, str]]:
    """Credentials from the files `emulate` wrote, exchanged the plain way."""
    from connectors.emulators.credentials import EmulatorSecrets

    key = json.loads(Path(config["google"]["service_account_key_file"]).read_text())
    secrets = EmulatorSecrets(
        okta_api_token=Path(config["okta"]["api_token_file"]).read_text(),
        entra_tenant_id=config["entra"]["tenant_id"],
        entra_client_id=config["entra"]["client_id"],
        entra_client_secret=Path(config["entra"]["client_secret_file"]).read_text(),
        google_customer_id=config["google"]["customer_id"],
        google_admin_email=config["google"]["admin_email"],
        google_service_account_email=key["client_email"],
        google_private_key_pem=key["private_key"],
        google_public_key_pem="",
        google_key_id=key["private_key_id"],
    )
    urls = {
        "okta": config["okta"]["org_url"],
        "entra": config["entra"]["graph_url"],
        "google": config["google"]["api_endpoint"],
    }
    return auth_headers(secrets, urls, ssl.create_default_context(cafile=config["okta"]["ca_bundle"]))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
