"""Drivers: each one runs the sans-IO :class:`~extractkit.loop.Extraction` over a backend.

``sync`` and ``aio`` send whole requests; ``stream`` yields partial values;
``batch`` runs many extractions at once (``mapping`` turns the front doors'
inputs into its jobs) and ``batch_api`` hands them to the provider's Batch API.
They share ``send`` (the gate slot and the extraction's transport retry
budget), ``gate`` (the limiter) and ``jobs`` (what goes in and comes out).
None of them holds loop logic.
"""
