"""/v1/snapshot: GET streams a Consul snapshot archive of the current state (``X-Consul-Index`` = its index);
PUT restores one on every server. Both need the management token when one is set.

The archive is spooled to a temporary file (memory up to a few MiB, disk beyond), never held whole in memory: a
restore body is streamed in with a size limit, so a huge or hostile upload costs disk, not the agent's memory,
and is verified by the backend before anything changes. A bad archive is a 400 naming the failed check.
"""

from __future__ import annotations

import tempfile

from aiohttp import web

from raftstore.agent.api.forward import FILE_BODY_KEY
from raftstore.agent.api.keys import FORWARDER, core_of
from raftstore.agent.api.reads import check_datacenter, ensure_consistency, meta_headers, query_options
from raftstore.agent.backend import NotLeaderError
from raftstore.agent.errors import InvalidRequest, TooLarge
from raftstore.fsm.snapshot_stream import SnapshotFormatError
from raftstore.snapshot import ArchiveError

_SPOOL = 8 << 20
_CHUNK = 256 * 1024


async def save(request: web.Request) -> web.StreamResponse:
    opts = query_options(request)
    await ensure_consistency(request, opts)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as archive:
        index = await core_of(request).backend.snapshot_save(archive)  # type: ignore[arg-type]
        size = archive.tell()
        archive.seek(0)
        response = web.StreamResponse(headers=meta_headers(request, index, opts))
        response.content_type = "application/x-gzip"
        response.content_length = size
        await response.prepare(request)
        while chunk := archive.read(_CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response


async def restore(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    if "stale" in request.query:
        raise InvalidRequest("Cannot use ?stale when restoring a snapshot")
    limit = core_of(request).config.snapshot_max_size
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"Request body({request.content_length} bytes) too large, max size: {limit} bytes")
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as archive:
        size = 0
        while chunk := await request.content.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"Request body({size} bytes) too large, max size: {limit} bytes")
            archive.write(chunk)
        request[FILE_BODY_KEY] = archive
        archive.seek(0)
        try:
            await core_of(request).backend.snapshot_restore(archive)  # type: ignore[arg-type]
        except (ArchiveError, SnapshotFormatError) as error:
            raise InvalidRequest(f"Invalid snapshot: {error}") from None
        except NotLeaderError as error:  # forwarded from here: the spooled body is gone once this block ends
            return await request.app[FORWARDER].forward(request, error.leader_http)
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/snapshot", save)
    app.router.add_route("PUT", "/v1/snapshot", restore)
