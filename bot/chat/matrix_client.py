"""The HTTP side of the Matrix client-server API (httpx): a few calls, each returning the answer's JSON
or raising `MatrixRequestError` (an error answer, see `bot.chat.matrix_protocol.MatrixError`) or
`ConnectionError` (no answer). Plain httpx rather than a client library: the bot uses six endpoints,
chooses its own transaction ids (the outbox message id) and honours `retry_after_ms` itself."""

from __future__ import annotations

from typing import Any

import httpx

from bot.chat.matrix_protocol import MatrixError, join_path, parse_error, send_path


class MatrixRequestError(Exception):
    def __init__(self, error: MatrixError) -> None:
        super().__init__(str(error))
        self.error = error


class MatrixClient:
    def __init__(
        self, homeserver: str, token: str, *, timeout: float, user_agent: str = "release-bot"
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=homeserver,
            headers={"Authorization": f"Bearer {token}", "User-Agent": user_agent},
            timeout=timeout,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, object] | None = None,
        params: dict[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method,
                path,
                json=body,
                params=params,
                timeout=read_timeout if read_timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise ConnectionError(f"{method} {path.split('?')[0]}: {type(exc).__name__}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 300:
            raise MatrixRequestError(
                parse_error(response.status_code, data, response.headers.get("retry-after"))
            )
        return data if isinstance(data, dict) else {}

    async def whoami(self) -> str:
        data = await self.request("GET", "/_matrix/client/v3/account/whoami")
        return str(data.get("user_id") or "")

    async def join(self, room: str) -> str:
        """Join a room by id or alias (also accepts an invitation); its room id."""
        data = await self.request("POST", join_path(room), body={})
        return str(data.get("room_id") or room)

    async def send(self, room_id: str, txn_id: str, content: dict[str, object]) -> str:
        """Send a message event; the same txn_id again (same access token) is the same event."""
        data = await self.request("PUT", send_path(room_id, txn_id), body=content)
        return str(data.get("event_id") or "")

    async def sync(self, *, since: str | None, filter: str, timeout_ms: int) -> dict[str, Any]:
        params = {"filter": filter, "timeout": str(timeout_ms)}
        if since:
            params["since"] = since
        return await self.request(
            "GET", "/_matrix/client/v3/sync", params=params, read_timeout=timeout_ms / 1000 + 30
        )
