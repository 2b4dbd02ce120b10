"""A Python tool for the subprocess tests (``tests.observability.tools:lookup_order`` in a config)."""

from __future__ import annotations


def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order by id.

    Args:
        order_id: The order number, e.g. "A-1001".
    """
    return {"order": order_id, "status": "shipped"}
