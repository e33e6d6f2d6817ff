"""The recording player: inside the page up to what one websocket message holds, Streamlit's media store beyond."""

import base64

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from ccr.ui.audio_player import MESSAGE_SHARE, inline_limit_bytes


def _player_app(size: int) -> None:
    from ccr.ui.audio_player import play_recording

    play_recording(bytes(range(256)) * (size // 256), "audio/wav", start_s=12, autoplay=True)


@pytest.fixture
def max_message_mb():
    """Set Streamlit's websocket message limit (``server.maxMessageSize``, MB) for the test."""
    before = config.get_option("server.maxMessageSize")
    yield lambda mb: config.set_option("server.maxMessageSize", mb)
    config.set_option("server.maxMessageSize", before)


def test_the_inline_limit_leaves_room_for_base64_and_the_page(max_message_mb):
    max_message_mb(200)
    assert inline_limit_bytes() == int(200_000_000 * MESSAGE_SHARE * 3 / 4)  # 120 MB of audio


@pytest.mark.parametrize(("size", "inline"), [(256 * 1024, True), (1024 * 1024, False)])
def test_a_recording_is_sent_inside_the_page_unless_too_large_for_one_message(max_message_mb, size, inline):
    max_message_mb(1)  # inline up to 600 kB
    at = AppTest.from_function(_player_app, args=(size,))
    at.run()
    assert not at.exception
    (player,) = at.get("audio")
    assert player.proto.start_time == 12 and player.proto.autoplay
    if inline:
        prefix = "data:audio/wav;base64,"
        assert player.proto.url.startswith(prefix)
        assert base64.b64decode(player.proto.url[len(prefix):]) == bytes(range(256)) * (size // 256)
    else:
        assert "/media/" in player.proto.url and not player.proto.url.startswith("data:")
