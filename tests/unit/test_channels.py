"""The channel ladder and stream ordering, asked in one place (bot/channels.py)."""

from __future__ import annotations

from bot import channels


def test_ladder_and_later_channels() -> None:
    assert channels.LADDER == ("alpha", "beta", "stable", "lts")
    assert channels.later_channels("beta") == ("stable", "lts")
    assert channels.later_channels("lts") == ()
    assert channels.later_channels("edge") == ()
    assert "edge" in channels.FLATCAR_CHANNELS


def test_lts_streams() -> None:
    assert channels.is_lts_stream("lts-2024")
    assert not channels.is_lts_stream("lts")
    assert channels.lts_year("lts-2023") == 2023
    assert channels.lts_year("stable") is None
    assert channels.channel_of("lts-2024") == "lts"
    assert channels.channel_of("beta") == "beta"
    assert channels.lts_stream(2025) == "lts-2025"


def test_one_order_for_every_listing() -> None:
    streams = ["lts", "main", "lts-2023", "stable", "alpha", "lts-2024", "beta"]
    assert sorted(streams, key=channels.stream_sort_key) == [
        "alpha",
        "beta",
        "stable",
        "lts-2024",
        "lts-2023",
        "lts",
        "main",
    ]
    by_pair = sorted(
        [("lts", "lts-2022"), ("stable", "stable"), ("lts", "lts-2024")],
        key=lambda p: channels.stream_order(*p),
    )
    assert by_pair == [("stable", "stable"), ("lts", "lts-2024"), ("lts", "lts-2022")]


def test_labels() -> None:
    assert channels.stream_label("lts", "lts-2024") == "LTS-2024"
    assert channels.stream_label("lts", "lts") == "LTS"
    assert channels.stream_label("stable", "stable") == "stable"
    assert channels.channel_label("lts") == "LTS"
