"""Bridges to other engines; each lives in its own module and needs its own extra.

* :mod:`extractkit.integrations.ray`: extraction over a Ray Data dataset
  (``pip install 'extractkit[ray]'``).
"""
