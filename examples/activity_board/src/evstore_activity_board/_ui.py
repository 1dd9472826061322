"""The activity board in ``evstore ui``: one panel on the front page and the same board
as a page of its own. A model for plugin authors: ``docs/ui.md`` walks through it."""

from __future__ import annotations

from collections.abc import Callable

from evstore.ui import Child, Page, Panel, View, badge, percent, table, tag

from ._queries import activity_board


def board(view: View) -> Child:
    """Every role's line: open steps, outcomes, measured runs."""
    lines = activity_board(view.store)  # the plugin's own public query
    return table(
        ["role", "open steps", "started", "completed", "failed", "retries", "success (measured)", "last active"],
        [
            [
                tag("a", line.role, href=view.log_url(text=line.role)),  # links are quoted for you
                badge(str(line.open_steps), "run" if line.open_steps else "off"),
                line.steps_started, line.steps_completed, line.steps_failed, line.retries,
                percent(line.success_rate) if line.success_rate is not None else "—",
                line.last_active_at.isoformat(timespec="seconds"),
            ]
            for line in lines
        ],
        numeric=[2, 3, 4, 5],
        empty="No role has done anything yet.",
    )


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Panel("board", "Activity board", board))  # on the front page
    register(Page("board", "Activity board", board, description="what each role is doing"))
