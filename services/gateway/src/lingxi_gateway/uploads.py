"""Image uploads for analysis: the request body, as a multipart form or as JSON with base64, read into
one ``ImageUpload``; and what a rejected image means in HTTP.

The image's type is read from its bytes (``lingxi.images``), never taken from the client's word: a part
that declares one image type and holds another is refused, and so is one that declares no image at all.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from lingxi.events import Locale, Region
from lingxi.events._values import DeviceId
from lingxi.events.vision import MAX_IMAGE_BYTES, VISION_TASKS, VisionTask
from lingxi.images import ImageInfo, ImageRejected
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

M = TypeVar("M", bound=BaseModel)

MAX_UPLOAD_BODY_BYTES = (MAX_IMAGE_BYTES + 2) // 3 * 4 + 64 * 1024
"""Largest request body on the upload route: the largest image in base64, plus room for the fields."""

# Declared types that say nothing about the format: the bytes decide.
_UNSPECIFIC_TYPES = frozenset({"", "application/octet-stream"})
_SAME_FORMAT = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/heif": "image/heic"}

Tasks = Annotated[
    list[VisionTask],
    Field(
        min_length=1,
        max_length=len(VISION_TASKS),
        description="Analyses wanted, each at most once (default: all of them).",
        examples=[["text", "labels"]],
    ),
]


class _Fields(BaseModel):
    """The fields beside the image, whichever way the request carries them."""

    model_config = ConfigDict(extra="forbid")

    tasks: Tasks = Field(default_factory=lambda: list(VISION_TASKS))
    locale: Locale = Field(examples=["zh-CN"])
    device_id: DeviceId = Field(examples=["dev-42"])
    region: Region = Field(examples=["CN"])


class ImageAnalysisJson(_Fields):
    """An image to analyse, sent as JSON with the image in base64."""

    image_base64: str = Field(description="The image file's bytes, base64-encoded.", min_length=1)


@dataclass(frozen=True)
class ImageUpload:
    data: bytes
    declared_type: str
    tasks: list[VisionTask]
    locale: Locale
    device_id: str
    region: Region


REQUEST_BODY_DOC: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "locale", "device_id", "region"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The image file."},
                    "tasks": {
                        "type": "string",
                        "description": "Comma-separated tasks (text, labels, faces, objects); default all.",
                    },
                    "locale": {"type": "string", "enum": ["zh-CN", "en-US"]},
                    "device_id": {"type": "string"},
                    "region": {"type": "string"},
                },
            }
        },
        "application/json": {"schema": ImageAnalysisJson.model_json_schema()},
    },
}


async def read_upload(request: Request) -> ImageUpload:
    """The upload in ``request``; 415 for a body that is neither form nor JSON, 422 for bad fields."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _from_form(request)
    if content_type == "application/json":
        return _from_json(await request.body())
    raise HTTPException(
        status_code=415,
        detail=f"send the image as multipart/form-data (field 'file') or as application/json with "
        f"'image_base64', not {content_type or 'a body without a content type'}",
    )


async def _from_form(request: Request) -> ImageUpload:
    form = await request.form(max_files=1, max_fields=8)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise _field_error("file", "an image file is required in the form field 'file'")
        raw: dict[str, Any] = {k: v for k, v in form.items() if k != "file"}
        if isinstance(tasks := raw.get("tasks"), str):
            raw["tasks"] = [t.strip() for t in tasks.split(",") if t.strip()]
        fields = _validated(_Fields, raw)
        data = await file.read()
        declared = (file.content_type or "").lower()
    finally:
        await form.close()
    return ImageUpload(data, declared, fields.tasks, fields.locale, fields.device_id, fields.region)


def _from_json(body: bytes) -> ImageUpload:
    fields = _validated(ImageAnalysisJson, body)
    try:
        data = base64.b64decode(fields.image_base64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise _field_error("image_base64", f"not valid base64: {error}") from error
    return ImageUpload(data, "", fields.tasks, fields.locale, fields.device_id, fields.region)


def check_declared_type(upload: ImageUpload, image: ImageInfo) -> None:
    """415 when the client declared a type the bytes are not."""
    declared = _SAME_FORMAT.get(upload.declared_type, upload.declared_type)
    if declared not in _UNSPECIFIC_TYPES and declared != image.content_type:
        raise HTTPException(
            status_code=415,
            detail=f"the file was sent as {upload.declared_type} but its bytes are {image.content_type}",
        )


def rejection(error: ImageRejected) -> HTTPException:
    """The HTTP answer to an image the acceptance rules refused: 413 too big, 415 not a supported
    format, 422 anything else (truncated, undecodable, a decompression bomb, no pixels)."""
    status = {"image.too_large": 413, "image.unsupported_type": 415}.get(error.reason_code, 422)
    return HTTPException(status_code=status, detail={"reason_code": error.reason_code, "message": str(error)})


def _validated(model: type[M], raw: dict[str, Any] | bytes) -> M:
    try:
        if isinstance(raw, bytes):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error


def _field_error(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message}])
