"""AWS Signature Version 4 for the thin path: botocore's algorithm over a known header set.

botocore's ``SigV4Auth`` signs a generic ``AWSRequest`` whose headers live in an
``email.message`` object, normalises the URL and re-derives the signing key from the secret
on every request. The thin path's requests always carry the same signed headers, so
:class:`Signer` builds the canonical request directly and keeps the day's signing key.
``tests/test_thin_client.py`` recomputes every signature it sends with ``SigV4Auth``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.utils import (  # type: ignore[import-untyped]
    is_valid_ipv6_endpoint_url,
    normalize_url_path,
)

__all__ = ["AmzDate", "Signer", "canonical_path", "host_from_url"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AmzDate:
    """SigV4's X-Amz-Date, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def amz_date(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._text = now, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        return self._text


class Signer:
    """SigV4 over a template: botocore's algorithm, with the signing key kept for the day."""

    def __init__(self, *, service: str, region: str) -> None:
        self._service = service
        self._region = region
        self._keys: dict[tuple[str, str], bytes] = {}
        self._token: str | None = None
        self._trimmed_token = ""

    def authorization(
        self,
        *,
        method: str,
        path: str,
        query: str,
        host: str,
        amz_date: str,
        content_type: str | None,
        token: str | None,
        payload_hash: str,
        credentials: Any,
    ) -> str:
        """Return the Authorization header botocore's ``SigV4Auth`` computes for this request.

        The signed headers are the ones the thin path's requests carry when botocore signs
        them: Content-Type when there is a body, Host, X-Amz-Date, and X-Amz-Security-Token
        with temporary credentials (User-Agent and X-Amzn-Trace-Id are never signed).
        """
        canonical_headers = f"host:{host}\nx-amz-date:{amz_date}\n"
        signed_names = "host;x-amz-date"
        if content_type is not None:
            canonical_headers = f"content-type:{_trim(content_type)}\n{canonical_headers}"
            signed_names = f"content-type;{signed_names}"
        if token:
            if token is not self._token:  # the same until the credentials are refreshed
                self._token, self._trimmed_token = token, _trim(token)
            canonical_headers = f"{canonical_headers}x-amz-security-token:{self._trimmed_token}\n"
            signed_names = f"{signed_names};x-amz-security-token"
        canonical = "\n".join(
            (method, path, _canonical_query(query), canonical_headers, signed_names, payload_hash)
        )
        day = amz_date[:8]
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        string_to_sign = "\n".join(
            (_ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        key = self._signing_key(credentials.secret_key, day)
        signature = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
        return (
            f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )

    def _signing_key(self, secret: str, day: str) -> bytes:
        key = self._keys.get((secret, day))
        if key is None:
            key = f"AWS4{secret}".encode()
            for part in (day, self._region, self._service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._keys = {(secret, day): key}  # one key: the day and the secret only move on
        return key


def _trim(value: str) -> str:
    # SigV4's Trimall: no space around, single spaces inside.
    return " ".join(value.split())


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{key}={value}" for key, value in pairs)


def canonical_path(url: str) -> str:
    return quote(normalize_url_path(urlsplit(url).path), safe="/~")


def host_from_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_valid_ipv6_endpoint_url(url):
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host
