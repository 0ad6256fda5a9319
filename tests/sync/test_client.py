"""The reference device client against an in-memory protocol server and a faulty network."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from pathlib import Path

import pytest

from app.sync.mutations import MUTATIONS
from sync.client import SyncClient, SyncError
from sync.protocol import ProtocolError
from tests.sync.fakes import FakeServer, FakeTransport, FaultyTransport


def finding_args(**overrides: object) -> dict[str, object]:
    args: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "inspection_id": "6fc795c0-6ee1-46a8-abd8-cfb247d08ed3",
        "item_code": "GAS-07",
        "result": "fail",
        "recorded_at": "2026-03-01T02:00:00Z",
    }
    args.update(overrides)
    return args


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(tmp_path: Path, transport: object, server: FakeServer, **kw: object) -> SyncClient:
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("mutations", MUTATIONS)
    return SyncClient(
        str(tmp_path / "device.sqlite"),
        transport,  # type: ignore[arg-type]
        token=lambda: server.token,
        random=lambda: 1.0,
        **kw,  # type: ignore[arg-type]
    )


def test_push_then_pull_fills_local_copy(tmp_path: Path) -> None:
    server = FakeServer()
    device = make_client(tmp_path, FakeTransport(server), server)
    a = finding_args()
    assert device.enqueue("finding.put", a) == 1
    assert device.enqueue("finding.put", finding_args()) == 2
    report = device.sync()
    assert report.applied == 2
    assert [m["state"] for m in device.outbox()] == ["applied", "applied"]
    assert device.get("finding", a["id"]) == a
    assert len(device.entities("finding")) == 2


def test_outbox_and_ids_survive_restart(tmp_path: Path) -> None:
    server = FakeServer()
    device = make_client(tmp_path, FakeTransport(server), server)
    device.enqueue("finding.put", finding_args())
    client_id = device.client_id
    device.close()
    again = make_client(tmp_path, FakeTransport(server), server)
    assert again.client_id == client_id
    assert again.enqueue("finding.put", finding_args()) == 2
    assert [m["id"] for m in again.outbox("pending")] == [1, 2]


def test_enqueue_validates_args_on_the_device(tmp_path: Path) -> None:
    server = FakeServer()
    device = make_client(tmp_path, FakeTransport(server), server)
    with pytest.raises(ProtocolError) as exc:
        device.enqueue("finding.put", finding_args(result="maybe"))
    assert exc.value.errors == {"result": ["Must be one of: pass, fail, na."]}
    assert device.outbox() == []


def test_rejected_mutation_settles_and_does_not_block(tmp_path: Path) -> None:
    server = FakeServer()
    device = make_client(tmp_path, FakeTransport(server), server)
    device.enqueue("inspection.frobnicate", {}, validate=False)
    device.enqueue("finding.put", finding_args())
    report = device.sync()
    assert [r["code"] for r in report.rejected] == ["sync.unknown_mutation"]
    assert [m["state"] for m in device.outbox()] == ["rejected", "applied"]
    assert server.counters[str(device.client_id)] == 2


@pytest.mark.parametrize("fault", ["lose_request", "lose_response", "duplicate", "replay_old"])
def test_faults_apply_each_mutation_once(tmp_path: Path, fault: str) -> None:
    server = FakeServer()
    faults = itertools.chain([fault, fault], itertools.repeat("ok"))
    net = FaultyTransport(FakeTransport(server), lambda: next(faults))
    device = make_client(tmp_path, net, server, push_batch=2)
    puts = [finding_args() for _ in range(5)]
    for args in puts:
        device.enqueue("finding.put", args)
    device.sync()
    client = str(device.client_id)
    assert [i for c, i in server.applied if c == client] == [1, 2, 3, 4, 5]
    assert device.outbox("pending") == []
    assert {k[1] for k in device.entities("finding")} == {a["id"] for a in puts}


def test_server_errors_back_off_exponentially(tmp_path: Path) -> None:
    server = FakeServer(fail_next=[503, 502, 500])
    sleeps = Sleeps()
    device = make_client(tmp_path, FakeTransport(server), server, sleep=sleeps)
    device.enqueue("finding.put", finding_args())
    device.push()
    assert sleeps == [0.25, 0.5, 1.0]
    assert server.counters[str(device.client_id)] == 1


def test_gives_up_after_max_attempts(tmp_path: Path) -> None:
    server = FakeServer()
    net = FaultyTransport(FakeTransport(server), lambda: "lose_request")
    device = make_client(tmp_path, net, server, max_attempts=3)
    device.enqueue("finding.put", finding_args())
    with pytest.raises(SyncError):
        device.push()
    assert len(device.outbox("pending")) == 1


def test_expired_token_is_refreshed_once(tmp_path: Path) -> None:
    server = FakeServer()
    tokens = {"current": "stale"}

    def refresh() -> bool:
        tokens["current"] = server.token
        return True

    device = SyncClient(
        str(tmp_path / "d.sqlite"),
        FakeTransport(server),
        token=lambda: tokens["current"],
        refresh=refresh,
        sleep=Sleeps(),
    )
    device.enqueue("finding.put", finding_args())
    assert device.sync().applied == 1


def test_mutation_gap_resends_from_expected_id(tmp_path: Path) -> None:
    server = FakeServer()
    device = make_client(tmp_path, FakeTransport(server), server)
    for _ in range(3):
        device.enqueue("finding.put", finding_args())
    device.push()
    # The server is restored from a backup taken after mutation 1.
    client = str(device.client_id)
    server.counters[client] = 1
    server.applied = [(client, 1)]
    device.enqueue("finding.put", finding_args())
    report = device.push()
    assert report.gaps == 1
    assert [i for _, i in server.applied] == [1, 2, 3, 4]
    assert device.outbox("pending") == []


def test_reset_required_drops_local_copy_and_keeps_outbox(tmp_path: Path) -> None:
    server = FakeServer()
    device = make_client(tmp_path, FakeTransport(server), server)
    kept = finding_args()
    device.enqueue("finding.put", kept)
    device.sync()
    # Something the server no longer has lingers locally; the server's log is replaced.
    gone = finding_args()
    device.enqueue("finding.put", gone)
    device.push()
    server.findings.pop(gone["id"])
    server.epoch += 1
    unpushed = device.enqueue("finding.put", finding_args())
    report = device.pull()
    assert report.resets == 1
    assert set(device.entities("finding")) == {("finding", kept["id"])}
    assert [m["id"] for m in device.outbox("pending")] == [unpushed]


def test_pull_pages_until_has_more_is_false(tmp_path: Path) -> None:
    server = FakeServer()
    writer = make_client(tmp_path, FakeTransport(server), server)
    reader = SyncClient(
        str(tmp_path / "reader.sqlite"),
        FakeTransport(server),
        token=lambda: server.token,
        pull_limit=2,
    )
    reader.pull()
    for _ in range(5):
        writer.enqueue("finding.put", finding_args())
    writer.push()
    report = reader.pull()
    assert report.pages == 3
    assert len(reader.entities("finding")) == 5


def test_missing_media_is_uploaded(tmp_path: Path) -> None:
    server = FakeServer()
    device = make_client(tmp_path, FakeTransport(server), server)
    photo = b"\xff\xd8 a photo"
    digest = device.add_photo(photo)
    assert digest == hashlib.sha256(photo).hexdigest()
    absent = "0" * 64
    device.enqueue("finding.put", finding_args(photos=[digest, absent]))
    report = device.push()
    assert report.uploaded == [digest]
    assert report.media_not_on_device == [absent]
    assert server.media[digest] == photo
