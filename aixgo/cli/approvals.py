"""``aixgo run`` and tool calls that wait for a person's approval: ask on a terminal, refuse to guess without one.

A turn that paused (``require_approval``) is settled here: on a terminal each waiting call is shown as
``Run git_commit({"message": "…"})? [y/N]`` (on stderr; no means deny, with an optional reason the
model reads); ``--approve-all`` approves each without asking; without a terminal nothing is decided:
the turn stays stored, waiting, and the command exits :data:`EXIT_WAITING` saying how to decide (a
terminal, ``--approve-all``, or ``aixgo serve``'s approvals API). The last decision of a step continues
the turn, whose answer is printed like any other.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from aixgo.errors import SessionNotFoundError
from aixgo.session.core.approvals import Approval
from aixgo.session.types import ApprovalDecision

if TYPE_CHECKING:
    from aixgo.runtime import Result, Runtime

EXIT_WAITING = 3
"""The exit code of ``aixgo run`` when a turn waits for approval and there was no terminal to ask."""

_HIDDEN = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
"""What JSON leaves as it is but a terminal would act on or hide: DEL, C1 controls, bidirectional and
zero-width marks (JSON itself escapes the C0 controls)."""


def shown_call(approval: Approval) -> str:
    """``name({"argument": …})`` as a person is asked about it: every character visible, nothing a
    terminal would interpret (a model cannot hide an argument behind escape codes)."""
    try:
        arguments = json.dumps(json.loads(approval.arguments), ensure_ascii=False)
    except ValueError:
        arguments = json.dumps(approval.arguments, ensure_ascii=False)  # not JSON: shown as a quoted string
    visible = _HIDDEN.sub(lambda found: f"\\u{ord(found.group()):04x}", arguments)
    return f"{approval.name}({visible})"


class WaitingForApproval(click.ClickException):
    """A turn waits for approval and there is no terminal to ask (exit :data:`EXIT_WAITING`)."""

    exit_code = EXIT_WAITING

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.message}", err=True)


@dataclass
class Approver:
    """Settles the paused turns of one ``aixgo run``. ``run_decision(session_id, call_id, decision, reason,
    by)`` takes one decision and prints what the continued turn says (streamed or not, as the command
    prints answers); it returns the turn's result."""

    runtime: Runtime
    resume_command: str
    approve_all: bool
    run_decision: Callable[[str, str, ApprovalDecision, str | None, str], Result]

    def settle(self, result: Result) -> Result:
        """Decide each call ``result`` waits for, until the turn is answered (it may pause again)."""
        while result.paused:
            result = self.decide_all(result.session_id, list(result.approvals)) or result
        return result

    def settle_session(self, session_id: str) -> Result | None:
        """Decide what already waits in ``session_id`` (a resumed session), if anything; the continued
        turn's result, or None when nothing waited."""
        try:
            waiting = self.runtime.pending_approvals(session_id)
        except SessionNotFoundError:  # a session this command is about to create
            return None
        if not waiting:
            return None
        result = self.decide_all(session_id, waiting)
        return self.settle(result) if result is not None else None

    def decide_all(self, session_id: str, waiting: list[Approval]) -> Result | None:
        """Ask about each call of ``waiting`` (or approve it, with ``--approve-all``) and decide it; the
        result of the last decision (the continued turn's)."""
        if not self.approve_all and not sys.stdin.isatty():
            raise WaitingForApproval(self._no_terminal(session_id, waiting))
        result = None
        for approval in waiting:
            decision: ApprovalDecision
            if self.approve_all:
                decision, reason, by = "approve", None, "--approve-all"
            else:
                decision, reason, by = self._ask(session_id, approval)
            result = self.run_decision(session_id, approval.call_id, decision, reason, by)
        return result

    def _ask(self, session_id: str, approval: Approval) -> tuple[ApprovalDecision, str | None, str]:
        try:
            yes = click.confirm(f"Run {shown_call(approval)}?", default=False, err=True, prompt_suffix=" ")
            reason = None if yes else click.prompt("  reason (optional, the model reads it)", default="",
                                                   show_default=False, err=True).strip()
        except click.Abort:  # Ctrl-C or Ctrl-D at the question
            raise WaitingForApproval(f"not decided: the turn waits for approval in session {session_id}; "
                                     f"continue with: {self.resume_command}") from None
        return ("approve" if yes else "deny"), reason or None, _who()

    def _no_terminal(self, session_id: str, waiting: list[Approval]) -> str:
        calls = "; ".join(f"{shown_call(a)} [{a.call_id}]" for a in waiting)
        first = waiting[0].call_id
        return (f"the turn waits for approval of {calls}, and there is no terminal to ask: it stays stored in "
                f"session {session_id}.\n  Decide on a terminal with: {self.resume_command}\n"
                f"  or approve every call without asking: {self.resume_command} --approve-all\n"
                f"  or over HTTP (aixgo serve): POST /v1/sessions/{session_id}/approvals/{first} "
                '{"decision": "approve"} (or "deny", with a "reason")')


def _who() -> str:
    """Who decided at the terminal, as stored with the decision."""
    try:
        return f"{getpass.getuser()} (aixgo run)"
    except (KeyError, OSError):  # no user name for this uid
        return "aixgo run"


__all__ = ["EXIT_WAITING", "Approver", "WaitingForApproval", "shown_call"]
