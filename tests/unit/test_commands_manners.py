"""The shared shape of chat answers: asker named and one line in a room, private answers capped."""

from __future__ import annotations

from bot.commands import shape_reply


def test_a_room_answer_names_the_asker_and_is_one_line():
    assert shape_reply(["one"], private=False, asker="alice") == ["alice: one"]
    assert shape_reply(["one", "two", "three"], private=False, asker="alice", rest_hint="/msg rb x") == [
        "alice: one (+2 more: /msg rb x)"
    ]
    assert shape_reply(["one", "two"], private=False) == ["one (+1 more in private)"]
    assert shape_reply([], private=False, asker="alice") == []


def test_a_private_answer_keeps_its_lines_up_to_the_limit():
    assert shape_reply(["a", "b"], private=True, asker="alice") == ["a", "b"]
    lines = [str(i) for i in range(12)]
    assert shape_reply(lines, private=True, max_private_lines=4) == ["0", "1", "2", "… and 9 more lines"]
