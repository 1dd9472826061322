"""The checks every projection must pass, on histories of whole supervisor workflows."""

from __future__ import annotations

import evstore_activity_board
import evstore_metrics
import evstore_steps
import evstore_workflows
from evstore.testing import ProjectionContract
from evstore_supervisor import strategies as svst


class TestActivityBoardContract(ProjectionContract):
    plugins = (evstore_activity_board, evstore_steps, evstore_metrics, evstore_workflows)
    projection_name = "activity_board"
    events = svst.histories(max_workflows=3, max_steps=3)


class TestActivityBoardWithoutTheDeclaringPlugins(ProjectionContract):
    """Installed alone in a permissive store, the board sees the same events unvalidated."""

    plugins = (evstore_activity_board,)
    projection_name = "activity_board"
    permissive = True
    events = svst.histories(max_workflows=2, max_steps=3)
    max_examples = 10
