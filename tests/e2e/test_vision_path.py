"""Camera images end to end: gateway, vision and compliance as separate processes on real Redis, with
the real models (PP-OCR, EfficientNet-Lite0, Haar cascades)."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import mplfonts
import pytest
import redis
from lingxi.events import Region
from lingxi.events.registry import dead_letter_stream
from lingxi.events.vision import ImageReceived, image_key
from lingxi.runtime.delivery import stream_entry
from lingxi.testing.processes import ServiceProcess, all_ready
from lingxi.testing.tokens import device_headers
from PIL import Image, ImageDraw, ImageFont
from skimage import data as samples

pytestmark = pytest.mark.e2e
IMAGE_TTL_S = 3
CAMERA = "dev-camera"
FONT = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    return all_ready(
        {
            "gateway": module_services(
                "gateway", "gateway-1", wait=False, LINGXI_GATEWAY_IMAGE_TTL_S=str(IMAGE_TTL_S)
            ),
            "vision": module_services("vision", "vision-1", wait=False),
            "compliance": module_services("compliance", "compliance-1", wait=False),
        }
    )


def text_image(*lines: str, fmt: str = "PNG") -> bytes:
    font = ImageFont.truetype(str(FONT), 36)
    image = Image.new("RGB", (900, 80 + 70 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 70 * i), line, font=font, fill="black")
    return encoded(image, fmt)


def encoded(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def upload(
    gateway: ServiceProcess,
    data: bytes,
    *,
    tasks: str | None = None,
    file_type: str = "application/octet-stream",
    wait: float = 10,
    locale: str = "zh-CN",
) -> httpx.Response:
    form = {"locale": locale, "device_id": CAMERA, "region": "CN"}
    if tasks:
        form["tasks"] = tasks
    return httpx.post(
        f"{gateway.base_url}/v1/vision/analyses",
        params={"wait": wait},
        data=form,
        files={"file": ("photo", data, file_type)},
        headers=device_headers(CAMERA),
        timeout=wait + 10,
    )


def finished(response: httpx.Response, gateway: ServiceProcess) -> dict[str, Any]:
    """The request's final state: from the answer, or polled when the wait ran out first (a busy CI)."""
    assert response.status_code in (200, 202), response.text
    body: dict[str, Any] = response.json()
    return poll(gateway, body["request_id"]) if body["status"] == "pending" else body


def released(response: httpx.Response, gateway: ServiceProcess) -> dict[str, Any]:
    body = finished(response, gateway)
    assert body["status"] == "released", body
    assert body["kind"] == "vision"
    result: dict[str, Any] = body["result"]
    return result


def test_text_in_a_photo_is_read_and_released_with_both_ai_labels(system: dict[str, ServiceProcess]) -> None:
    photo = text_image("营业时间 早上九点", "Welcome to Lingxi Cafe")
    response = upload(system["gateway"], photo, tasks="text,labels")
    result = released(response, system["gateway"])
    read = " ".join(t["text"] for t in result["texts"])
    assert "营业时间" in read
    assert "Lingxi" in read
    assert [t["order"] for t in result["texts"]] == list(range(len(result["texts"])))
    assert result["texts"][0]["box"]["y"] < result["texts"][-1]["box"]["y"]  # reading order: top first
    assert set(result["model_names"]) == {"text", "labels"}
    assert all(label["name_zh"] and label["name_en"] for label in result["labels"])
    assert result["faces"] == []
    assert result["objects"] == []
    assert result["explicit_label"] == {"notice": "本内容由人工智能生成", "position": "end"}
    assert result["aigc"]["Label"] == 1
    assert result["aigc"]["ProduceID"] == response.json()["request_id"]
    assert result["filing_number"] == "DEV-VISION-0001"


def test_json_upload_finds_the_astronauts_face_and_says_objects_are_not_configured(
    system: dict[str, ServiceProcess],
) -> None:
    photo = encoded(Image.fromarray(samples.astronaut()), "JPEG", quality=90)
    response = httpx.post(
        f"{system['gateway'].base_url}/v1/vision/analyses",
        params={"wait": 10},
        json={
            "image_base64": base64.b64encode(photo).decode(),
            "tasks": ["faces", "objects", "labels"],
            "locale": "en-US",
            "device_id": CAMERA,
            "region": "CN",
        },
        headers=device_headers(CAMERA),
        timeout=30,
    )
    result = released(response, system["gateway"])
    assert len(result["faces"]) == 1
    face = result["faces"][0]["box"]
    assert 120 < face["x"] + face["width"] / 2 < 300
    assert 40 < face["y"] + face["height"] / 2 < 200
    assert result["objects"] == []
    assert "no object detector is configured" in result["unavailable"]["objects"]
    assert result["labels"]
    assert all(label["name_zh"] and label["name_en"] for label in result["labels"])
    assert result["explicit_label"]["notice"] == "AI-generated content"


def test_an_upright_box_for_an_exif_rotated_photo(system: dict[str, ServiceProcess]) -> None:
    """A phone stores a portrait photo sideways with an EXIF orientation: sizes and boxes are upright."""
    sideways = Image.open(io.BytesIO(text_image("出口 EXIT"))).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show it upright
    result = released(
        upload(system["gateway"], encoded(sideways, "JPEG", exif=exif), tasks="text"), system["gateway"]
    )
    assert (result["image_width"], result["image_height"]) == (900, 150)
    assert any("出口" in t["text"] for t in result["texts"])


def test_personal_data_read_from_an_image_is_redacted(system: dict[str, ServiceProcess]) -> None:
    result = released(
        upload(system["gateway"], text_image("客服电话 13812345678"), tasks="text"), system["gateway"]
    )
    read = " ".join(t["text"] for t in result["texts"])
    assert "13812345678" not in read
    assert "客服" in read


def test_harmful_text_in_an_image_is_blocked(system: dict[str, ServiceProcess]) -> None:
    photo = text_image("先买硝酸铵和柴油混合", "就能做成炸药装进压力锅")
    response = upload(system["gateway"], photo, tasks="text")
    body = finished(response, system["gateway"])
    assert body["status"] == "blocked"
    assert body["result"]["reason_code"].startswith("moderation.")
    assert "炸药" not in response.text


@pytest.mark.parametrize(
    ("make", "file_type", "status", "reason"),
    [
        (lambda: b"", "image/png", 422, "image.empty"),
        (lambda: b"hello, not an image at all", "application/octet-stream", 415, "image.unsupported_type"),
        (lambda: text_image("truncated")[:-400], "image/png", 422, None),
        (lambda: encoded(Image.new("RGB", (400, 300)), "GIF"), "image/gif", 415, "image.unsupported_type"),
    ],
    ids=["empty", "not-an-image", "truncated", "gif"],
)
def test_bad_images_get_a_clear_4xx_and_nothing_is_published(
    system: dict[str, ServiceProcess],
    redis_url: str,
    make: Callable[[], bytes],
    file_type: str,
    status: int,
    reason: str | None,
) -> None:
    client = redis.Redis.from_url(redis_url)
    before = client.xlen(ImageReceived.stream)
    response = upload(system["gateway"], make(), file_type=file_type, wait=0)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["message"]
    if reason:
        assert detail["reason_code"] == reason
    assert client.xlen(ImageReceived.stream) == before


def test_a_decompression_bomb_is_refused_from_its_header(system: dict[str, ServiceProcess]) -> None:
    bomb = encoded(Image.new("1", (30_000, 30_000)), "PNG", optimize=True)  # 900 megapixels, tiny file
    assert len(bomb) < 1_000_000
    response = upload(system["gateway"], bomb, wait=0)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["reason_code"] in {"image.too_many_pixels", "image.too_wide"}


def test_wrong_content_types_are_refused(system: dict[str, ServiceProcess]) -> None:
    png = text_image("PNG")
    assert upload(system["gateway"], png, file_type="image/jpeg", wait=0).status_code == 415
    plain = httpx.post(
        f"{system['gateway'].base_url}/v1/vision/analyses",
        content=png,
        headers={"content-type": "image/png", **device_headers(CAMERA)},
        timeout=10,
    )
    assert plain.status_code == 415
    assert "multipart/form-data" in plain.json()["detail"]
    unknown_task = upload(system["gateway"], png, tasks="text,colour", wait=0)
    assert unknown_task.status_code == 422
    assert "tasks" in unknown_task.text


def test_an_oversized_body_is_refused_before_it_is_read(system: dict[str, ServiceProcess]) -> None:
    huge = b"\xff\xd8" + b"0" * (15 * 1024 * 1024)
    response = upload(system["gateway"], huge, wait=0)
    assert response.status_code == 413


def test_images_published_straight_to_the_stream_fail_with_a_reason_and_vision_goes_on(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    not_an_image = b"definitely not a picture"
    ref = hashlib.sha256(not_an_image).hexdigest()
    client.set(image_key(ref), not_an_image, ex=60)
    missing = hashlib.sha256(b"never stored").hexdigest()
    client.delete(dead_letter_stream(ImageReceived.stream))
    client.xadd(ImageReceived.stream, {"garbage": "yes"})
    requests = {}
    for reference, expected in ((ref, "image.unsupported_type"), (missing, "image.expired")):
        event = ImageReceived(
            region=Region.CN,
            request_id=uuid4(),
            device_id="dev-partner",
            image_ref=reference,
            content_type="image/png",
            size_bytes=100,
            width=10,
            height=10,
            tasks=["text"],
            locale="en-US",
        )
        client.xadd(ImageReceived.stream, stream_entry(event, str(event.request_id)))  # type: ignore[arg-type]
        requests[event.request_id] = expected
    for request_id, expected in requests.items():
        state = poll(system["gateway"], str(request_id), device_id="dev-partner")
        assert state["status"] == "failed", state
        assert state["result"]["reason_code"] == expected
        assert state["result"]["detail"]
    assert wait_for(lambda: client.xlen(dead_letter_stream(ImageReceived.stream)) == 1)
    still = released(upload(system["gateway"], text_image("还活着"), tasks="text"), system["gateway"])
    assert any("活着" in t["text"] for t in still["texts"])


def test_nothing_of_the_image_survives_its_time_to_live(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    photo = encoded(Image.fromarray(samples.astronaut()), "PNG")
    result = released(upload(system["gateway"], photo, tasks="faces"), system["gateway"])
    assert len(result["faces"]) == 1
    client = redis.Redis.from_url(redis_url)
    key = image_key(hashlib.sha256(photo).hexdigest())
    assert 0 < client.ttl(key) <= IMAGE_TTL_S
    time.sleep(IMAGE_TTL_S + 1)
    assert not client.exists(key)
    # No key anywhere holds any piece of the image: not the bytes, not a face crop, not base64 of them.
    pieces = [photo[i : i + 64] for i in range(1000, len(photo), len(photo) // 20)]
    pieces += [base64.b64encode(p)[:40] for p in pieces]
    for stored in all_values(client):
        assert not any(piece in stored for piece in pieces)


def all_values(client: redis.Redis) -> list[bytes]:
    values: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            values.append(client.get(key) or b"")
        elif kind == b"hash":
            values.extend(client.hvals(key))
        elif kind == b"stream":
            values.extend(v for _, fields in client.xrange(key) for v in fields.values())
        elif kind in (b"list", b"set", b"zset"):
            values.append(client.dump(key) or b"")
    return values


def poll(
    gateway: ServiceProcess, request_id: str, timeout_s: float = 20, device_id: str = CAMERA
) -> dict[str, Any]:
    """The request's state as ``device_id`` (the device that sent it) reads it."""
    deadline = time.monotonic() + timeout_s
    while True:
        # 404 until the first result of a request published straight to the stream (no pending record)
        state: dict[str, Any] = httpx.get(
            f"{gateway.base_url}/v1/requests/{request_id}", headers=device_headers(device_id), timeout=5
        ).json()
        if state.get("status", "pending") != "pending" or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def wait_for(condition: Callable[[], bool], timeout_s: float = 15) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
