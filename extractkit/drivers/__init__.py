"""Drivers: each one runs the sans-IO :class:`~extractkit.loop.Extraction` over a backend.

``sync`` and ``aio`` send whole requests; ``stream`` yields partial values;
``batch`` runs many extractions at once. None of them holds loop logic.
"""
