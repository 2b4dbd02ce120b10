"""Which tool calls wait for a person's approval before they run: ``require_approval`` settings.

A setting is ``True`` (every tool it covers), ``False`` (none), or glob patterns (``git_*``) matched
against a tool's names: the name the model sees and, for an MCP server's tool, ``SERVER/TOOL`` with
the tool's name on its server. It is given per tool (:attr:`BaseTool.require_approval
<aixgo.agents.tools.base.BaseTool.require_approval>`), per MCP server (``MCPToolset(...,
require_approval=...)``) and per agent (``ToolRegistry(..., require_approval=...)``); a call waits
when any of them says so. What a paused turn stores: :mod:`aixgo.session.core.approvals`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

ApprovalSetting = bool | Sequence[str]
"""``True``, ``False``, or glob patterns of tool names (``["git_commit", "git/push*"]``)."""


def covers(setting: ApprovalSetting, names: Iterable[str]) -> bool:
    """Whether ``setting`` asks for approval of a tool known by ``names``."""
    if isinstance(setting, bool):
        return setting
    listed = tuple(names)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in setting for name in listed)


def as_setting(setting: ApprovalSetting) -> bool | tuple[str, ...]:
    """``setting`` frozen: a bool, or a tuple of patterns (a string alone is one pattern)."""
    if isinstance(setting, bool):
        return setting
    if isinstance(setting, str):
        return (setting,)
    return tuple(setting)


__all__ = ["ApprovalSetting", "as_setting", "covers"]
