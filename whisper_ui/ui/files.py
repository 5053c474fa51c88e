"""Who may fetch a file through Gradio's `/gradio_api/file=` route: its owner only.

Gradio serves any file in its cache (`<data_dir>/gradio-tmp`: uploads, and the copies
it makes of the export files the page shows) and in `allowed_paths` to anyone who is
logged in and knows the path. With logins configured, `FileRouteGuard` stands in
front of that route for every path inside the data dir:

- `exports/<job id>/…`: the job's submitter;
- `gradio-tmp/…`: whoever it was granted to — the user whose upload response named
  the path (recorded as the response passes), or the owner of the job whose export
  Gradio copied there (`FileGrants.grant_export`, which computes the copy's path the
  way Gradio names it: `<hash of the content>/<name>`);
- anything else there (the journal, staged uploads): nobody.

Everything else is answered 404, as the API answers for another user's job. Without
logins there is no one to check (the page's browser cookie is an identity, not a
proof) and the unguessable path stays the only guard; README's security section
says so.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whisper_ui.jobs.registry import JobRegistry
from whisper_ui.ui.identity import scope_cookies

FILE_ROUTE = "/gradio_api/file="
UPLOAD_ROUTE = "/gradio_api/upload"
MAX_GRANTS = 100_000
MAX_UPLOAD_ANSWER_BYTES = 1 << 20


class FileGrants:
    """Path -> owners for files in Gradio's cache; bounded, oldest forgotten first.

    A set, not one owner: two users' identical exports are one file in Gradio's cache.
    """

    def __init__(self, cache_dir: Path, limit: int = MAX_GRANTS) -> None:
        self.cache_dir = cache_dir
        self._owners: OrderedDict[Path, frozenset[str]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()  # granted from worker threads and the loop

    def grant(self, path: str | Path, owner: str) -> None:
        key = Path(path).resolve()
        with self._lock:
            self._owners[key] = self._owners.get(key, frozenset()) | {owner}
            self._owners.move_to_end(key)
            while len(self._owners) > self._limit:
                self._owners.popitem(last=False)

    def granted(self, path: Path, owner: str) -> bool:
        with self._lock:
            return owner in self._owners.get(path.resolve(), frozenset())

    def grant_export(self, path: Path, owner: str) -> None:
        """Grant the copy Gradio will make of the export file `path` when it is shown."""
        self.grant(gradio_cache_path(path, self.cache_dir), owner)


def gradio_cache_path(path: Path, cache_dir: Path) -> Path:
    """Where Gradio copies `path` before serving it (processing_utils.save_file_to_cache)."""
    from gradio.processing_utils import hash_file
    from gradio_client.utils import strip_invalid_filename_characters  # type: ignore[import-untyped]

    name = str(strip_invalid_filename_characters(path.name))
    return cache_dir / str(hash_file(path)) / name


class GradioLogins:
    """The user a request is logged in as on the page, from Gradio's own session cookie."""

    def __init__(self) -> None:
        self._app: Any = None

    def attach(self, gradio_app: Any) -> None:
        """The mounted Gradio App (it holds the login tokens); set once it exists."""
        self._app = gradio_app

    def user(self, scope: Scope) -> str | None:
        app = self._app
        if app is None:
            return None
        jar = scope_cookies(scope)
        for cookie in (f"access-token-{app.cookie_id}", f"access-token-unsecure-{app.cookie_id}"):
            morsel = jar.get(cookie)
            if morsel is not None:
                user = app.tokens.get(morsel.value)
                if user:
                    return str(user)
        return None


class FileRouteGuard:
    """ASGI middleware: owner checks on `/gradio_api/file=`, grants from upload answers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        data_dir: Path,
        registry: JobRegistry,
        grants: FileGrants,
        logins: GradioLogins,
    ) -> None:
        self.app = app
        self.data_dir = data_dir.resolve()
        # Gradio's cache: `<data_dir>/gradio-tmp` unless GRADIO_TEMP_DIR pointed elsewhere.
        self.cache_dir = grants.cache_dir.resolve()
        self.registry = registry
        self.grants = grants
        self.logins = logins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        method = scope.get("method")
        if method in ("GET", "HEAD") and path.startswith(FILE_ROUTE):
            # Resolved as Gradio does: relative to the working directory, links followed.
            # Nobody logged in: Gradio's own check answers 401, as for every other route.
            target = (Path.cwd() / path[len(FILE_ROUTE) :]).resolve()
            user = self.logins.user(scope)
            if (
                user is not None
                and (target.is_relative_to(self.data_dir) or target.is_relative_to(self.cache_dir))
                and not self.allowed(target, user)
            ):
                await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
                return
        elif method == "POST" and path.rstrip("/") == UPLOAD_ROUTE:
            await self.app(scope, receive, self._recording(send, self.logins.user(scope)))
            return
        await self.app(scope, receive, send)

    def allowed(self, path: Path, user: str) -> bool:
        if path.is_relative_to(self.cache_dir):
            return self.grants.granted(path, user)
        relative = path.relative_to(self.data_dir)
        if relative.parts[:1] == ("exports",) and len(relative.parts) > 2:
            job = self.registry.get(relative.parts[1])
            return job is not None and job.submitter == user
        return False

    def _recording(self, send: Send, user: str | None) -> Callable[[Message], Any]:
        """`send` that also reads the upload's answer (a JSON list of the stored paths)."""
        status = 0
        body = bytearray()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200 and user:
                if len(body) < MAX_UPLOAD_ANSWER_BYTES:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self._grant_uploads(bytes(body), user)
            await send(message)

        return recording_send

    def _grant_uploads(self, body: bytes, user: str) -> None:
        try:
            paths = json.loads(body)
        except ValueError:
            return
        if isinstance(paths, list):
            for path in paths:
                if isinstance(path, str):
                    self.grants.grant(path, user)
