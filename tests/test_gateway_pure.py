"""Pure gateway pieces: topics, codecs, privacy filter, batcher, stream ordering, watermark."""

from __future__ import annotations

import contextlib
import json
import random
import uuid

import pytest

from gateway import codec, topics
from gateway.batcher import Batcher
from gateway.errors import PayloadError
from gateway.ordering import Streams, Watermark
from gateway.privacy import EdgeFilter
from proximity import frames

UUID = uuid.UUID("11111111-2222-3333-4444-555555555555")


def test_topics_round_trip_and_match() -> None:
    t = topics.readings("demo", "gw-door")
    assert t == "prox/v1/demo/gw/gw-door/readings"
    assert topics.parse(t) == topics.TopicRef("demo", "readings", "gw-door")
    assert topics.parse(topics.config("demo")) == topics.TopicRef("demo", "config")
    assert topics.parse("prox/v1/demo/gw/+/readings") is None
    assert topics.parse("other/v1/demo/config") is None
    assert topics.matches(topics.all_gateways("demo", "status"), topics.status("demo", "a"))
    assert not topics.matches(topics.all_gateways("demo", "status"), topics.health("demo", "a"))
    assert topics.matches("prox/#", t)


def _batch(seq: int, floor: int = 0, gw: str = "g1", boot: str = "b1", final: bool = False):
    t0 = seq * 0.5
    return codec.ReadingsBatch(gw, boot, seq, floor, t0, t0 + 0.5,
                               ((t0 + 0.1, "token:00", -60.0, -59.0),), final)  # fmt: skip


def test_batch_codec_round_trip_and_rejections() -> None:
    b = _batch(3, final=True)
    assert codec.decode_batch("t", codec.encode_batch(b)) == b
    good = json.loads(codec.encode_batch(b))
    cases = {
        "v": {**good, "v": 2},
        "seq": {**good, "seq": -1},
        "floor": {**good, "floor": 9},
        "readings[0].rssi": {**good, "readings": [[1.6, "d", 50, None]]},
        "readings[0].ts": {**good, "readings": [[9.0, "d", -50, None]]},
        "extra": {**good, "extra": 1},
        "gateway": {**good, "gateway": "a/b"},
    }
    for field, obj in cases.items():
        with pytest.raises(PayloadError) as info:
            codec.decode_batch("t", json.dumps(obj).encode())
        assert info.value.field == field
    with pytest.raises(PayloadError):
        codec.decode_batch("t", b'{"v":1,"t0":NaN}')


def test_decoders_never_raise_anything_but_payload_error() -> None:
    rng = random.Random(1234)
    print("seed 1234")
    good = codec.encode_batch(_batch(1))
    decoders = [codec.decode_batch, codec.decode_status, codec.decode_ack, codec.decode_config,
                codec.decode_health]  # fmt: skip
    for _ in range(3000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        for decode in decoders:
            with contextlib.suppress(PayloadError):
                decode("t", bytes(data))


def test_status_ordering_ignores_stale_will() -> None:
    old_will = codec.Status("offline", "boot-a", 100.0, 200.0)
    new_online = codec.Status("online", "boot-b", 150.0, 151.0)
    assert new_online.newer_than(old_will)
    assert not old_will.newer_than(new_online)
    assert codec.Status("offline", "boot-b", 150.0, 150.0).newer_than(new_online)
    s = codec.decode_status("t", codec.encode_status(new_online))
    assert s == new_online


def test_privacy_filter_passes_only_configured_beacons_and_tokens() -> None:
    f = EdgeFilter([f"ibeacon:{UUID}:1:*"], app_tokens=True)
    cid, tok = frames.build_app_token(bytes(range(8)), -59)
    assert f.admit({cid: tok}, {}) is not None
    cid, ib = frames.build_ibeacon(UUID, 1, 7, -60)
    got = f.admit({cid: ib}, {})
    assert got is not None and got.device == f"ibeacon:{UUID}:1:7" and got.tx_power == -60
    cid, other = frames.build_ibeacon(UUID, 2, 7, -60)
    assert f.admit({cid: other}, {}) is None
    assert f.admit({0x0006: b"\x01\x02"}, {}) is None
    assert f.admit({}, {}) is None
    assert (f.heard, f.passed, f.dropped) == (5, 2, 3)
    no_tokens = EdgeFilter([], app_tokens=False)
    assert no_tokens.admit({frames.APP_COMPANY_ID: tok}, {}) is None


def test_batcher_windows_are_contiguous_and_idle_is_merged() -> None:
    b = Batcher(window_s=0.5)
    assert b.add(10.1, "d", -60, None) == []
    assert b.add(10.2, "d", -61, None) == []
    closed = b.add(10.6, "d", -62, None)
    assert [(w.t0, w.t1, len(w.rows)) for w in closed] == [(10.0, 10.5, 2)]
    closed = b.due(13.3)
    assert [(w.t0, w.t1, len(w.rows)) for w in closed] == [(10.5, 13.0, 1)]
    assert b.due(13.2) == []
    last = b.finish(13.2)
    assert last.t0 == 13.0 and last.t1 >= 13.2


def test_batcher_splits_rows_by_clock_and_caps_size() -> None:
    b = Batcher(window_s=1.0, max_rows=3)
    b.due(0.0)
    b.add(0.5, "a", -60, None)
    b.add(1.5, "a", -60, None)  # closes [0, 1)
    closed = b.add(1.6, "a", -60, None)
    closed += b.add(1.7, "a", -60, None)
    assert len(closed) == 1 and len(closed[0].rows) == 3
    assert all(closed[0].t0 <= r[0] < closed[0].t1 for r in closed[0].rows)


def test_windows_closed_right_after_a_reading_survive_the_wire() -> None:
    t = 1_700_000_099.592
    b = Batcher(window_s=0.5, max_rows=2)
    b.due(t - 0.1)
    closed = b.add(t - 0.05, "a", -60, None) + b.add(t, "a", -61, None)  # full: closed at t
    b.add(t + 0.01, "a", -62, None)
    closed.append(b.finish(t + 0.01))  # end of stream right at the last reading
    for seq, w in enumerate(closed):
        batch = codec.ReadingsBatch("g", "b", seq, 0, w.t0, w.t1, w.rows, False)
        back = codec.decode_batch("t", codec.encode_batch(batch))  # rows stay inside [t0, t1)
        assert [r[2] for r in back.rows] == [r[2] for r in w.rows]


def test_streams_order_dedupe_and_floor() -> None:
    s = Streams()
    assert s.offer(_batch(1)).ready == []
    got = s.offer(_batch(0))
    assert [b.seq for b in got.ready] == [0, 1]
    assert s.offer(_batch(1)).duplicate
    assert s.processed("g1", "b1") == 1
    # seqs 2..4 were dropped by the gateway's outbox bound: floor says so
    assert [b.seq for b in s.offer(_batch(6, floor=5)).ready] == []
    assert [b.seq for b in s.offer(_batch(5, floor=5)).ready] == [5, 6]
    assert s.skipped == 3


def test_streams_shuffled_with_duplicates_yield_each_once_in_order() -> None:
    rng = random.Random(7)
    items = [_batch(i) for i in range(200)]
    items += rng.sample(items, 20)
    rng.shuffle(items)
    s = Streams()
    out = [b.seq for item in items for b in s.offer(item).ready]
    assert out == list(range(200))
    assert s.duplicates == 20


def test_watermark_waits_for_slowest_and_drops_offline() -> None:
    w = Watermark(["a", "b"], grace_s=5.0)
    w.processed(_batch(3, gw="a"))
    w.listened(1.0)
    assert w.value(100.0) is None  # b not heard yet, within grace (1 s of 5 listened)
    w.listened(5.0)
    assert w.value(6.0) == 2.0  # grace over: b not waited for
    w.processed(_batch(1, gw="b"))
    assert w.value(7.0) == 1.0
    w.set_online("b", False, 7.0)
    assert w.value(7.0) == 2.0
    w.processed(_batch(4, gw="a", final=True))
    assert w.all_final(7.0)


def test_watermark_waits_for_an_offline_gateway_during_its_grace() -> None:
    w = Watermark(["a", "b"], grace_s=0.0, offline_grace_s=10.0)
    w.processed(_batch(3, gw="a"))
    w.processed(_batch(1, gw="b"))
    w.set_online("b", False, 5.0)
    assert w.value(14.9) == 1.0  # b may be restarting: still waited for
    assert not w.all_final(14.9)
    w.set_online("b", True, 12.0)  # back in time: its outbox resumes, nothing is late
    w.set_online("b", False, 20.0)
    w.set_online("b", False, 25.0)  # a repeated offline status does not restart the grace
    assert w.value(29.9) == 1.0
    assert w.value(30.0) == 2.0  # gone: the store no longer waits for it
    w.processed(_batch(4, gw="a", final=True))
    assert w.all_final(30.0) and not w.all_final(29.0)
