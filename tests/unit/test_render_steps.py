"""`render_steps` (bot/pipeline.py): a poll's rendering in slices, so that `Bot` can give the event loop
a turn between them; the same plan as `render_plan`, and a template error anywhere fails the poll."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.errors import RenderError
from bot.messages import sample_events
from bot.model import AnyEvent
from bot.pipeline import PollPlan, render_plan, render_steps
from bot.presentation.batch import current
from bot.store import OutboxMessage


def plan() -> PollPlan:
    events = tuple(sample_events())
    assert len(events) >= 3
    return PollPlan("sample", events=events)


def render(event: AnyEvent) -> Sequence[OutboxMessage]:
    # each message records how many events the batch (the notices arriving together) held
    return [OutboxMessage(sink="s", message_id=f"<{event.key}>", payload={"batch": len(current())})]


@pytest.mark.parametrize("size", [1, 2, 100])
def test_slices_give_the_plan_render_plan_gives(size: int) -> None:
    whole = plan()
    steps = render_steps(whole, render, size)
    yields = 0
    while True:
        try:
            next(steps)
            yields += 1
        except StopIteration as done:
            result = done.value
            break
    slices = -(-len(whole.events) // size)
    assert yields == slices - 1
    assert result == render_plan(whole, render)
    assert [event for event, _ in result.messages] == list(whole.events)
    assert {m.payload["batch"] for _, ms in result.messages for m in ms} == {len(whole.events)}


def test_a_template_error_in_a_later_slice_fails_the_poll() -> None:
    whole = plan()
    failing = whole.events[-1]

    def flaky(event: AnyEvent) -> Sequence[OutboxMessage]:
        if event is failing:
            raise RenderError("template broke")
        return render(event)

    steps = render_steps(whole, flaky, 1)
    with pytest.raises(StopIteration) as done:
        while True:
            next(steps)
    result = done.value.value
    assert result.render_failed and not result.messages and "template broke" in (result.error or "")


def test_no_events_renders_nothing() -> None:
    empty = PollPlan("sample")
    with pytest.raises(StopIteration) as done:
        next(render_steps(empty, render, 16))
    assert done.value.value == render_plan(empty, render)
