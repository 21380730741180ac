"""The emulated ``/services/oauth2/token``: client credentials and the JWT bearer flow.

Tokens live in memory (a restarted emulator has forgotten them, as an org forgets revoked
sessions); ``expire_all`` makes every issued token fail with INVALID_SESSION_ID.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import jwt
from aiohttp import web

from connectors.base.emulator import json_response
from connectors.salesforce.emulator.faults import oauth_error
from connectors.salesforce.ids import make_id

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ORG_ID = make_id("00D", 1)
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class TokenBook:
    def __init__(
        self, client_id: str, client_secret: str, jwt_public_key: str | None, user_id: str
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.jwt_public_key = jwt_public_key
        self.user_id = user_id
        self._live: set[str] = set()

    def is_valid(self, token: str) -> bool:
        return token in self._live

    def expire_all(self) -> int:
        count = len(self._live)
        self._live.clear()
        return count

    def _issue(self, base_url: str) -> dict[str, Any]:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(72)}"
        self._live.add(token)
        issued_at = str(int(time.time() * 1000))
        identity = f"{base_url}/id/{ORG_ID}/{self.user_id}"
        # The real signature: HMAC-SHA256 over id + issued_at keyed with the consumer secret.
        digest = hmac.new(
            self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": token,
            "signature": base64.b64encode(digest).decode(),
            "scope": "api",
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }

    def _client_credentials(self, form: Any, base_url: str) -> web.Response:
        client_id = form.get("client_id", "")
        secret = form.get("client_secret", "")
        if not client_id or not hmac.compare_digest(client_id, self.client_id):
            return oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(secret, self.client_secret):
            return oauth_error("invalid_client", "invalid client credentials")
        return json_response(self._issue(base_url))

    def _jwt_bearer(self, form: Any, base_url: str) -> web.Response:
        assertion = form.get("assertion", "")
        if not assertion:
            return oauth_error("invalid_request", "assertion parameter is missing")
        if not self.jwt_public_key:
            return oauth_error("invalid_client", "invalid client credentials")
        try:
            claims = jwt.decode(
                assertion,
                self.jwt_public_key,
                algorithms=["RS256"],
                audience=[*LOGIN_AUDIENCES, base_url],
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            return oauth_error("invalid_grant", "expired authorization code")
        except jwt.InvalidAudienceError:
            return oauth_error("invalid_grant", "audience is invalid")
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.client_id:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if not claims.get("sub"):
            return oauth_error("invalid_grant", "user hasn't approved this consumer")
        return json_response(self._issue(base_url))

    async def handle_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        base_url = f"{request.scheme}://{request.host}"
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            return self._client_credentials(form, base_url)
        if grant == JWT_GRANT:
            return self._jwt_bearer(form, base_url)
        return oauth_error("unsupported_grant_type", "grant type not supported")
