"""Each page's data as plain dicts, one module per page (templates never query).

This package is the face the routes, feeds and the static build use: ``data.bill_page(...)``.
"""

from tracker.web.data.bill import bill_links, bill_page, find_bill_id, stage_bar
from tracker.web.data.changes import describe_change, recent_changes
from tracker.web.data.hearings import upcoming_hearings
from tracker.web.data.overview import overview, states_summary
from tracker.web.data.state import state_page

__all__ = [
    "bill_links",
    "bill_page",
    "describe_change",
    "find_bill_id",
    "overview",
    "recent_changes",
    "stage_bar",
    "state_page",
    "states_summary",
    "upcoming_hearings",
]
