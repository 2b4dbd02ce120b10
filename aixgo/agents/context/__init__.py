"""The context budget: fitting a long session's history into a model's context window.

:class:`~aixgo.agents.context.budget.ContextSettings` is an agent's ``context:`` block;
:class:`~aixgo.agents.context.budget.ContextBudget` fits each request (trimming, or compacting into
a durable ``summary`` entry); :mod:`~aixgo.agents.context.tokens` counts tokens;
:mod:`~aixgo.agents.context.conversation` reads a session as summary + turns
(:mod:`~aixgo.agents.context.turns`), following what :mod:`~aixgo.agents.context.turn_cache` kept.
"""
