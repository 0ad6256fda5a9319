"""Routes: tus uploads, one-shot PUT, photo metadata, and local signed-URL file serving."""

from __future__ import annotations

from typing import Any

from flask import Response, request, send_file
from flask.views import MethodView

from app.auth.caller import current_user, public
from app.http import (
    Blueprint,
    if_none_match,
    request_now,
    sends_digest_etag,
    set_etag,
    tus_response,
)
from app.media import services
from app.media.schemas import MediaSchema, SignedFileArgsSchema

blp = Blueprint("media", __name__, description="Photo evidence: uploads and signed URLs")


def _header(name: str, description: str, required: bool = True, **schema: Any) -> dict[str, Any]:
    return {
        "in": "header",
        "name": name,
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


# The tus 1.0 request headers, so the OpenAPI document (and clients generated from it) has them.
TUS_RESUMABLE = _header("Tus-Resumable", "The tus protocol version.", enum=["1.0.0"])
UPLOAD_LENGTH = _header("Upload-Length", "Total size in bytes.", pattern="^[0-9]{1,18}$")
UPLOAD_METADATA = _header(
    "Upload-Metadata",
    "Comma-separated `key base64(value)` pairs: sha256 (required), filename, content_type.",
)
UPLOAD_OFFSET = _header("Upload-Offset", "Where this chunk starts.", pattern="^[0-9]{1,18}$")
UPLOAD_CHECKSUM = _header(
    "Upload-Checksum", "`sha1|sha256 <base64 digest>` of this chunk.", required=False
)


def _binary_body(content_type: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
    }


@blp.record_once
def _init_storage(state: Any) -> None:
    """Build the storage backend with the app, so /readyz checks the configured one."""
    state.app.extensions.setdefault("storage", services.build_storage(state.app.config))


@blp.route("/media/uploads")
class Uploads(MethodView):
    @public
    @blp.response(204)
    def options(self) -> Response:
        """Discover the tus server: version, extensions, size limit, checksum algorithms."""
        response = Response(status=204)
        response.headers.update(services.tus_discovery())
        return response

    @blp.doc(parameters=[TUS_RESUMABLE, UPLOAD_LENGTH, UPLOAD_METADATA])
    @blp.response(201)
    def post(self) -> Response:
        """Create a tus upload (Upload-Length, Upload-Metadata with sha256 and filename)."""
        upload = services.create_upload(current_user(), request.headers)
        response = tus_response(201, upload, Location=f"{request.path.rstrip('/')}/{upload.id}")
        del response.headers["Upload-Offset"]
        return response


@blp.route("/media/uploads/<upload_id>")
class Upload(MethodView):
    @blp.doc(parameters=[TUS_RESUMABLE])
    @blp.response(200)
    def head(self, upload_id: str) -> Response:
        """Tell the offset to resume from."""
        return tus_response(200, services.upload_status(current_user(), upload_id, request.headers))

    @blp.doc(
        parameters=[TUS_RESUMABLE, UPLOAD_OFFSET, UPLOAD_CHECKSUM],
        requestBody=_binary_body("application/offset+octet-stream"),
    )
    @blp.response(204)
    def patch(self, upload_id: str) -> Response:
        """Append bytes at Upload-Offset (Content-Type application/offset+octet-stream)."""
        upload = services.append_upload(
            current_user(), upload_id, request.headers, request.stream, now=request_now()
        )
        return tus_response(204, upload)

    @blp.doc(parameters=[TUS_RESUMABLE])
    @blp.response(204)
    def delete(self, upload_id: str) -> Response:
        """Abandon an upload and delete its bytes."""
        services.terminate_upload(current_user(), upload_id, request.headers)
        return tus_response(204)


@blp.route("/media/<sha256>")
class Media(MethodView):
    @blp.response(200, MediaSchema)
    @sends_digest_etag
    def get(self, sha256: str) -> Any:
        """Read a photo's metadata with short-lived signed URLs (uploader or record in scope)."""
        media = services.get_media(current_user(), sha256, base_url=request.host_url)
        etag = f'"{media["sha256"]}"'
        if if_none_match(etag):
            return Response(status=304, headers={"ETag": etag})
        set_etag(etag)
        return media

    @blp.doc(requestBody=_binary_body("application/octet-stream"))
    @blp.response(201, MediaSchema)
    @blp.alt_response(200, schema=MediaSchema, description="The same bytes were already stored")
    def put(self, sha256: str) -> Any:
        """Upload a photo in one request; the body must hash to the SHA-256 in the path."""
        obj, created = services.put_media(
            current_user(), sha256, request.stream, request.content_length, now=request_now()
        )
        return services.media_view(obj, base_url=request.host_url), 201 if created else 200


@blp.route("/media/files/<path:key>")
@public
@blp.arguments(SignedFileArgsSchema, location="query")
def signed_file(args: dict[str, Any], key: str) -> Any:
    """Serve a local-storage file named by a signed URL (the signature is the credential)."""
    path, content_type = services.signed_file(key, args["expires"], args["signature"])
    response = send_file(path, mimetype=content_type, max_age=300, conditional=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
