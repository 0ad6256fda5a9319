"""Bench: photo ingest through the API against Pillow alone, and server memory for 25 MB.

    .venv/bin/python bench/media_ingest.py [--count 20] [--camera 20]

1. Generates ``--count`` 12-megapixel JPEGs (4000×3000, camera-like noise, EXIF with time,
   GPS, make, model), ``--camera`` 12-MP camera-like JPEGs (a lit scene with soft shapes,
   sharp edges and light sensor noise, ~2.8 MB like a phone's; stored sideways with EXIF
   orientation 6, time, GPS) and one ~25 MB JPEG.
2. Starts the API in a subprocess (werkzeug, threaded; a file SQLite database and local
   storage in a temp folder) and uploads every photo with ``PUT /api/v1/media/{sha256}``:
   the server streams the body to its spool, hashes, sniffs, decodes in draft mode, reads
   EXIF, makes both thumbnails and the perceptual hash, stores everything, writes the rows.
3. In this process, on the same files: Pillow alone doing open, draft and thumbnail to the
   large size — the least any server must do to make that thumbnail.
4. Prints both times and the ratio (bar: within 1.2×); then, for the camera-like photos, the
   server process's CPU time per photo for the whole ingest (HTTP, hashing, decoding, EXIF,
   thumbnails, hash, storage, rows, audit: its utime + stime) against Pillow's CPU time alone
   on the same files (bar: 60 ms per photo); then the server's peak resident memory above
   idle while receiving one ~25 MB photo, by PUT and by tus (bar: under 100 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LARGE = 1600
RATIO_BAR = 1.2
CPU_BAR_MS = 60.0


# ----------------------------------------------------------------------------- photos


def _exif(seed: int, orientation: int = 1, make: str = "Apple", model: str = "iPhone 15") -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0112] = orientation
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = f"2026:11:20 10:{seed % 60:02d}:00"
    ifd[0x9011] = "+08:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (31.0, 13.0, 10.0 + seed % 50)
    gps[3], gps[4] = "E", (121.0, 25.0, 30.0)
    gps[5], gps[6] = b"\x00", 8.5
    return exif.tobytes()


def make_photo(path: Path, seed: int, size: tuple[int, int] = (4000, 3000)) -> None:
    """Write a 12-MP JPEG with a scene, sensor-like noise and EXIF."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    scene = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(scene)
    w, h = size
    for _ in range(40):
        x, y = rng.randrange(w), rng.randrange(h)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(w // 3), y + rng.randrange(h // 3)), fill=colour)
    noise = Image.effect_noise(size, 40).convert("RGB")
    Image.blend(scene, noise, 0.25).save(path, "JPEG", quality=92, exif=_exif(seed))


def make_camera_photo(path: Path, seed: int, size: tuple[int, int] = (4000, 3000)) -> None:
    """Write a 12-MP JPEG like a phone's: a lit scene, soft shapes, sharp edges, light noise.

    Stored sideways (EXIF orientation 6, as phones held upright store them) with time and GPS.
    """
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(1000 + seed)
    w, h = size
    small = (w // 8, h // 8)
    sky = tuple(rng.randrange(120, 230) for _ in range(3))
    ground = tuple(rng.randrange(30, 120) for _ in range(3))
    light = Image.linear_gradient("L").resize(small)
    scene = Image.composite(Image.new("RGB", small, ground), Image.new("RGB", small, sky), light)
    draw = ImageDraw.Draw(scene)
    for _ in range(60):  # buildings, machines, people: soft after the lens
        x, y = rng.randrange(small[0]), rng.randrange(small[1])
        box = (x, y, x + rng.randrange(small[0] // 4), y + rng.randrange(small[1] // 4))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    scene = scene.filter(ImageFilter.GaussianBlur(2)).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(scene)
    for _ in range(400):  # fences, cables, signage: sharp edges
        x, y = rng.randrange(w), rng.randrange(h)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        end = (x + rng.randrange(-400, 400), y + rng.randrange(-400, 400))
        draw.line((x, y, *end), fill=colour, width=rng.randrange(2, 9))
    noise = Image.effect_noise(size, 24).convert("RGB")
    Image.blend(scene, noise, 0.12).save(
        path, "JPEG", quality=92, exif=_exif(seed, orientation=6, make="Xiaomi", model="14")
    )


def make_big_photo(path: Path, target: int = 25 * 1024 * 1024) -> None:
    """Write a ~25 MB JPEG: random pixels compress badly, so the size is mostly pixels."""
    from PIL import Image

    w, h = 4200, 3150
    rnd = random.Random(99).randbytes(w * h * 3)
    Image.frombytes("RGB", (w, h), rnd).save(path, "JPEG", quality=100, exif=_exif(1))
    if path.stat().st_size < target * 0.9:
        raise SystemExit(f"big photo only {path.stat().st_size} bytes")


# ----------------------------------------------------------------------------- server side


def serve(root: Path) -> None:
    """Run the API for the bench (subprocess entry point); print the port and a token."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.db import make_engine
    from app.models import metadata

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{root / 'bench.db'}",
            "SECRET_KEY": "bench",
            "MEDIA_ROOT": str(root / "media"),
            "MEDIA_SPOOL": str(root / "spool"),
            "MEDIA_MAX_BYTES": 40 * 1024 * 1024,
            "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
            "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 8, "parallelism": 1},
        }
    )
    # A throwaway database: tables straight from the models, as the tests do.
    engine = make_engine(app.config["DATABASE_URL"])
    metadata.create_all(engine)
    engine.dispose()
    with app.app_context():
        from app.auth.services import hash_password, issue_tokens
        from app.clock import utcnow
        from app.db import session
        from app.demo.org import load_org
        from app.org.models import User

        load_org()
        user = User(
            username="bench",
            password_hash=hash_password("bench-password"),
            role="inspector",
            jurisdiction_code="huayanglu",
            name="bench",
            conflicts=[],
        )
        session.add(user)
        session.flush()
        token = issue_tokens(user, "bench", now=utcnow())["access_token"]
        session.commit()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log lines
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(json.dumps({"port": server.server_address[1], "token": token}), flush=True)
    server.serve_forever()


# ----------------------------------------------------------------------------- client side


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def put(session, base: str, headers: dict, path: Path, digest: str | None = None) -> int:
    digest = digest or sha256_file(path)
    with open(path, "rb") as fp:  # requests streams a file object; nothing is held twice
        resp = session.put(f"{base}/api/v1/media/{digest}", data=fp, headers=headers, timeout=120)
    if resp.status_code not in (200, 201):
        raise SystemExit(f"upload failed: {resp.status_code} {resp.text}")
    return resp.status_code


def cpu_seconds(pid: int) -> float:
    """Return the process's CPU time so far (user + system, all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pillow_alone(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (LARGE, LARGE * im.height // im.width))
        im.thumbnail((LARGE, LARGE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--camera", type=int, default=20)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    import requests
    from tusclient import client as tus_client

    root = Path(tempfile.mkdtemp(prefix="fieldsafe-bench-"))
    photos_dir = root / "photos"
    photos_dir.mkdir()
    print(f"generating {args.count} 12-MP JPEGs with EXIF and one ~25 MB JPEG in {root} …")
    photos = []
    for i in range(args.count + 1):  # one extra for warm-up
        path = photos_dir / f"IMG_{i:04d}.jpg"
        make_photo(path, seed=i)
        photos.append(path)
    warmup, photos = photos[0], photos[1:]
    cameras = []
    for i in range(args.camera):
        path = photos_dir / f"CAM_{i:04d}.jpg"
        make_camera_photo(path, seed=i)
        cameras.append(path)
    big = photos_dir / "big.jpg"
    make_big_photo(big)
    total_mb = sum(p.stat().st_size for p in photos) / 1e6
    camera_mb = sum(p.stat().st_size for p in cameras) / 1e6
    print(
        f"  {len(photos)} photos, {total_mb:.1f} MB; {len(cameras)} camera-like, "
        f"{camera_mb:.1f} MB; big photo {big.stat().st_size / 1e6:.1f} MB"
    )

    try:
        with api_server(root / "server-ingest") as (proc, base, headers):
            http = requests.Session()
            # Warm both sides up (imports, libjpeg, the database file) outside the timings.
            put(http, base, headers, warmup)
            pillow_alone(warmup)
            # A device hashes a photo when it takes it, so the client's hashing is not timed.
            digests = [sha256_file(p) for p in photos]

            alone_before, alone_cpu_before = time_pillow_alone(photos)
            t0, cpu0 = time.perf_counter(), cpu_seconds(proc.pid)
            for path, digest in zip(photos, digests, strict=True):
                assert put(http, base, headers, path, digest) == 201
            api, api_cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
            # Pillow alone before and after, averaged: the machine's load drifts.
            alone_after, alone_cpu_after = time_pillow_alone(photos)
            alone = (alone_before + alone_after) / 2
            alone_cpu = (alone_cpu_before + alone_cpu_after) / 2

            # CPU per camera-like photo: the server's whole ingest against Pillow alone.
            camera_digests = [sha256_file(p) for p in cameras]
            pillow_before = cpu_pillow_alone(cameras)
            cpu0 = cpu_seconds(proc.pid)
            for path, digest in zip(cameras, camera_digests, strict=True):
                assert put(http, base, headers, path, digest) == 201
            server_cpu = cpu_seconds(proc.pid) - cpu0
            pillow_cpu = (pillow_before + cpu_pillow_alone(cameras)) / 2

        n = len(photos)
        ratio = api / alone
        print()
        print(
            f"ingest through the API (PUT, {n} x 12 MP): {api:7.3f} s "
            f"({api / n * 1000:6.1f} ms/photo)"
        )
        print(
            f"Pillow alone (open+draft+thumbnail {LARGE}px):   {alone:7.3f} s "
            f"({alone / n * 1000:6.1f} ms/photo)"
        )
        print(
            f"ratio API / Pillow alone: {ratio:.2f}x   (bar: <= {RATIO_BAR}x) "
            + ("OK" if ratio <= RATIO_BAR else "OVER")
        )
        print(
            f"  CPU: server {api_cpu / n * 1000:6.1f} ms/photo, Pillow alone "
            f"{alone_cpu / n * 1000:6.1f} ms/photo: ratio {api_cpu / alone_cpu:.2f}x "
            "(the wall time also holds the client's sending and the storage's fsyncs)"
        )
        m = len(cameras)
        per_photo = server_cpu / m * 1000
        print()
        print(
            f"CPU per camera-like 12-MP photo (orientation 6, GPS), {m} photos: "
            f"server {per_photo:6.1f} ms (whole ingest through PUT), "
            f"Pillow alone {pillow_cpu / m * 1000:6.1f} ms "
            f"(ratio {server_cpu / pillow_cpu:.2f}x)"
        )
        print(
            f"CPU bar: <= {CPU_BAR_MS:.0f} ms per photo: "
            + ("PASS" if per_photo <= CPU_BAR_MS else "FAIL")
        )

        # Memory: a fresh server per upload, warmed with one small photo, then one ~25 MB photo.
        size_mb = big.stat().st_size / 1e6
        print()
        for name in ("PUT", "tus, 5 MB chunks"):
            with api_server(root / f"server-{name[:3]}") as (proc, base, headers):
                http = requests.Session()
                put(http, base, headers, warmup)
                time.sleep(0.3)
                idle = rss_kb(proc.pid, "VmRSS")
                reset_peak(proc.pid)
                if name == "PUT":
                    put(http, base, headers, big)
                else:
                    client = tus_client.TusClient(f"{base}/api/v1/media/uploads", headers=headers)
                    with open(big, "rb") as fp:
                        client.uploader(
                            file_stream=fp,
                            chunk_size=5 * 1024 * 1024,
                            metadata={"sha256": sha256_file(big), "filename": big.name},
                            upload_checksum=True,
                        ).upload()
                peak = (rss_kb(proc.pid, "VmHWM") - idle) / 1024
            print(
                f"server RSS idle {idle / 1024:5.1f} MB; peak above idle for one {size_mb:.1f} MB "
                f"photo ({name}): {peak:5.1f} MB   (bar: < 100 MB) {'OK' if peak < 100 else 'OVER'}"
            )
    finally:
        if not os.environ.get("KEEP_BENCH_FILES"):
            import shutil

            shutil.rmtree(root, ignore_errors=True)


def time_pillow_alone(photos: list[Path]) -> tuple[float, float]:
    """Return Pillow alone's wall and CPU seconds over ``photos``."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    for path in photos:
        pillow_alone(path)
    return time.perf_counter() - t0, time.process_time() - cpu0


def cpu_pillow_alone(photos: list[Path]) -> float:
    t0 = time.process_time()
    for path in photos:
        pillow_alone(path)
    return time.process_time() - t0


@contextlib.contextmanager
def api_server(root: Path):
    """Start the API in a subprocess; yield (process, base URL, auth headers)."""
    root.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        yield (
            proc,
            f"http://127.0.0.1:{ready['port']}",
            {"Authorization": f"Bearer {ready['token']}"},
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
