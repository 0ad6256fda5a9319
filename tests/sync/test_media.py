"""Photos referenced by findings: missing_media, upload by the device, media_pending cleared."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from flask.testing import FlaskClient
from PIL import Image

from tests.sync.conftest import Site, device_for
from tests.sync.test_push import check_in, put


def jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


def test_device_uploads_missing_photos_and_pending_clears(
    client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    user = site.inspectors[0]
    dev = device_for(client, site.headers[user.username], tmp_path)
    photo = dev.add_photo(jpeg((200, 30, 30)))
    fid = str(uuid.uuid4())
    dev.enqueue(*check_in(site))
    dev.enqueue(*put(site, fid, result="fail", photos=[photo]))
    report = dev.sync()
    assert report.uploaded == [photo]
    finding = dev.get("finding", fid)
    assert finding is not None
    assert finding["media_pending"] is False
    assert finding["version"] == 2  # created pending, then cleared when the photo arrived


def test_photo_already_stored_is_not_missing(
    client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    user = site.inspectors[0]
    dev = device_for(client, site.headers[user.username], tmp_path)
    photo = dev.add_photo(jpeg((10, 120, 10)))
    dev.enqueue(*check_in(site))
    dev.enqueue(*put(site, photos=[photo]))
    dev.push()
    second = str(uuid.uuid4())
    dev.enqueue(*put(site, second, item_code=site.item_codes[1], photos=[photo]))
    report = dev.sync()
    assert report.uploaded == []
    assert dev.get("finding", second)["media_pending"] is False


def test_large_photo_goes_through_tus_to_a_real_server(tmp_path: Path) -> None:
    """The reference client's tus path (tuspy) against gunicorn, then the pull shows it."""
    from sync.client import RequestsTransport, SyncClient
    from tests.sync.live import Server, scratch_database, seed

    world = seed(scratch_database(None, tmp_path, "tus"), inspections=1)
    server = Server(world, tmp_path).start()
    try:
        dev = SyncClient(
            str(tmp_path / "device.sqlite"),
            RequestsTransport(server.url),
            token=lambda: world.token,
            base_url=server.url,
            put_limit=0,  # everything through tus
        )
        photo = dev.add_photo(jpeg((30, 30, 200)))
        fid = str(uuid.uuid4())
        iid = str(world.inspections[0])
        dev.enqueue(
            "inspection.check_in",
            {
                "inspection_id": iid,
                "at": "2026-03-02T01:00:00Z",
                "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 5},
            },
        )
        dev.enqueue(
            "finding.put",
            {
                "id": fid,
                "inspection_id": iid,
                "item_code": world.item_codes[0],
                "result": "fail",
                "photos": [photo],
                "recorded_at": "2026-03-02T01:05:00Z",
            },
        )
        report = dev.sync()
        assert report.uploaded == [photo], report.upload_failed
        assert dev.get("finding", fid)["media_pending"] is False
    finally:
        server.stop()
