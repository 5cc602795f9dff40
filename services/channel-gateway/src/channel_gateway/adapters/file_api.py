"""The gateway's HTTP API for channels' files: a Vendor Central purchase-order CSV or an X12 850 interchange
uploaded as the request body (the same files the channel's drop folder takes), and the files a channel
sent, listed with their outcome (a rejected file with the reason for each bad field) and served as they
came.

An upload passes the same gate as an order (credential of the channel named in the path, rate limit,
content type, size). The answer: 202 with the orders the file carried (200 when the same file was accepted
before), or 422 problem+json naming each bad field (CSV ``/rows/<line>/<column>``, EDI
``segment <n> <element>``) with the id under which the rejected file is kept."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response

from oms_platform.http import Problem

from ..application.file_intake import FileIntake, FileOutcome, ReceivedFile
from .channel_files_view import LIST_LIMIT, ChannelFilesView
from .file_drop import TakeFile
from .http_api import OrderGate, raw_body

FILE_TYPES = ("text/csv", "application/edi-x12", "text/plain", "application/octet-stream",
              "text/tab-separated-values")
MEDIA_TYPES = {"csv": "text/csv", "x12-850": "application/edi-x12"}
FILENAME_MAX = 200


def file_routes(gate: OrderGate, intake: FileIntake, view: ChannelFilesView, take_file: TakeFile) -> APIRouter:
    routes = APIRouter(prefix="/v1/channels/{channel}/files", tags=["files"])

    def vendor_channel(channel: str, api_key: str | None):
        owner = gate.channel_named(channel, "amazon-vendor")
        return gate.authenticate(api_key, for_channel=owner.name)

    @routes.post("", status_code=202, responses={200: {"description": "the same file, accepted before"},
                                                  401: {}, 403: {}, 404: {}, 413: {}, 415: {}, 422: {}, 429: {}},
                 openapi_extra=raw_body("A Vendor Central purchase-order file: the CSV download, or an X12 850 "
                                        "interchange", *FILE_TYPES, schema={"type": "string", "format": "binary"}))
    async def upload_file(channel: str, request: Request, response: Response,
                          filename: Annotated[str | None, Query(max_length=FILENAME_MAX)] = None,
                          x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """Take a purchase-order file (CSV or X12 850) as the request body; one order per purchase order."""
        owner = vendor_channel(channel, x_api_key)
        gate.admit(owner)
        body = await gate.body(request, owner, FILE_TYPES)
        if not body.strip():
            raise Problem(422, "The file is empty", "the request body holds no file", type_="/problems/validation",
                          errors=[{"pointer": "", "detail": "an empty file"}])
        name = _filename(filename) or "upload"
        outcome = await take_file(ReceivedFile(channel=owner.name, filename=name, file_format="",
                                               received_via="upload", content=body))
        response.headers["Location"] = f"/v1/channels/{owner.name}/files/{outcome.file_id}"
        if outcome.status != "accepted":
            raise _rejected(owner.name, outcome)
        if outcome.repeated:
            response.status_code = 200
        return {"file_id": str(outcome.file_id), "channel": owner.name, "status": outcome.status,
                "orders": outcome.orders}

    @routes.get("", responses={401: {}, 403: {}, 404: {}})
    async def list_files(channel: str,
                         status: Annotated[Literal["received", "accepted", "rejected"] | None, Query()] = None,
                         limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 50,
                         x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """The channel's files, newest first; ``status=rejected`` lists the rejected ones with their reasons."""
        owner = vendor_channel(channel, x_api_key)
        return {"channel": owner.name, "files": await asyncio.to_thread(view.files, owner.name, status, limit)}

    @routes.get("/{file_id}", responses={401: {}, 403: {}, 404: {}})
    async def show_file(channel: str, file_id: UUID, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        owner = vendor_channel(channel, x_api_key)
        return (await asyncio.to_thread(_owned, owner.name, file_id, intake))[0]

    @routes.get("/{file_id}/content", responses={200: {"content": {"application/octet-stream": {}}}, 401: {},
                                                  403: {}, 404: {}})
    async def file_content(channel: str, file_id: UUID, x_api_key: Annotated[str | None, Header()] = None) -> Response:
        """The file exactly as the channel sent it."""
        owner = vendor_channel(channel, x_api_key)
        summary, content = await asyncio.to_thread(_owned, owner.name, file_id, intake)
        return Response(content, media_type=MEDIA_TYPES.get(summary["file_format"], "application/octet-stream"),
                        headers={"Content-Disposition": f'attachment; filename="{summary["filename"]}"'})

    return routes


def file_summary(file: Any) -> dict[str, Any]:
    return {"file_id": str(file.id), "channel": file.channel, "filename": file.filename,
            "file_format": file.file_format, "received_via": file.received_via, "size": file.size,
            "sha256": file.sha256, "status": file.status, "order_ids": list(file.order_ids), "problem": file.problem,
            "received_at": file.created_on.isoformat(), "updated_at": file.modified_on.isoformat()}


def _owned(channel: str, file_id: UUID, intake: FileIntake) -> tuple[dict[str, Any], bytes]:
    file = intake.file(file_id)
    if file is None or file.channel != channel:
        raise Problem(404, "File not found", f"channel {channel!r} sent no file {file_id}",
                      type_="/problems/file-not-found")
    return file_summary(file), base64.b64decode(file.content_base64)


def _filename(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or not name.isprintable() or name in (".", ".."):
        raise Problem(422, "Invalid file name", "a file name is 1 to 200 printable characters, no folders",
                      type_="/problems/validation", errors=[{"pointer": "/query/filename", "detail": "invalid"}])
    return name


def _rejected(channel: str, outcome: FileOutcome) -> Problem:
    fields = ", ".join(str(e.get("pointer") or "(the file)") for e in outcome.errors[:20])
    return Problem(422, outcome.title or "The file is invalid", f"invalid: {fields}", type_="/problems/file-rejected",
                   errors=outcome.errors, file_id=str(outcome.file_id), orders_captured=outcome.orders,
                   file=f"/v1/channels/{channel}/files/{outcome.file_id}")
