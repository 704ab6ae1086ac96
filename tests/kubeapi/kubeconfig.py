"""Kubeconfig files pointing at a test server, and the optional TLS material behind them."""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass
class TlsMaterial:
    server_context: ssl.SSLContext
    ca_pem: bytes


def make_tls() -> TlsMaterial:
    """A throwaway CA and a 127.0.0.1/localhost certificate (trustme is a test dependency)."""
    import trustme

    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return TlsMaterial(context, ca.cert_pem.bytes())


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    token: str | None,
    context: str,
    namespace: str | None,
    ca_pem: bytes | None,
) -> Path:
    cluster: dict[str, object] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict[str, object] = {"token": token} if token else {}
    context_body: dict[str, object] = {"cluster": f"{context}-cluster", "user": f"{context}-user"}
    if namespace:
        context_body["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": f"{context}-cluster", "cluster": cluster}],
        "users": [{"name": f"{context}-user", "user": user}],
        "contexts": [{"name": context, "context": context_body}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
