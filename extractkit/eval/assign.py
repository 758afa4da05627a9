"""Optimal item-to-item alignment of an expected list with an extracted one.

:func:`best_pairs` pairs items so that the summed similarity is as large as
possible (the assignment problem), by the Hungarian method with potentials
(shortest augmenting paths), O(n²·m) for an n×m matrix with n ≤ m.

Why our own ~30 lines and not ``scipy.optimize.linear_sum_assignment``: the
lists of one document are short (tens of items), the result is the same
optimum (``tests/test_eval_assign.py`` checks it against brute force over
every permutation), and scipy would be a 40 MB dependency for it.

Long lists stay linear: items equal to an expected item are paired first by
hashing; only when what is left is small (``n·m`` ≤ :data:`MAX_CELLS`) is the
similarity matrix built, else the rest is paired by position.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

#: The largest similarity matrix built (cells); beyond it the rest pairs by position.
MAX_CELLS = 40_000


def hungarian(similarity: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Row → column pairs maximizing the summed similarity (every row of the
    shorter side gets a partner)."""
    rows = len(similarity)
    cols = len(similarity[0]) if rows else 0
    if not rows or not cols:
        return []
    transpose = rows > cols
    if transpose:
        similarity = [[similarity[r][c] for r in range(rows)] for c in range(cols)]
        rows, cols = cols, rows
    # minimize cost = -similarity; 1-based arrays, index 0 is the virtual start
    inf = float("inf")
    u = [0.0] * (rows + 1)
    v = [0.0] * (cols + 1)
    owner = [0] * (cols + 1)  # owner[c] = the row assigned to column c
    way = [0] * (cols + 1)
    for row in range(1, rows + 1):
        owner[0] = row
        col0 = 0
        best = [inf] * (cols + 1)
        used = [False] * (cols + 1)
        while True:
            used[col0] = True
            r0 = owner[col0]
            delta, col1 = inf, 0
            cost_row = similarity[r0 - 1]
            for c in range(1, cols + 1):
                if used[c]:
                    continue
                reduced = -cost_row[c - 1] - u[r0] - v[c]
                if reduced < best[c]:
                    best[c], way[c] = reduced, col0
                if best[c] < delta:
                    delta, col1 = best[c], c
            for c in range(cols + 1):
                if used[c]:
                    u[owner[c]] += delta
                    v[c] -= delta
                else:
                    best[c] -= delta
            col0 = col1
            if owner[col0] == 0:
                break
        while col0:
            col1 = way[col0]
            owner[col0] = owner[col1]
            col0 = col1
    pairs = [(owner[c] - 1, c - 1) for c in range(1, cols + 1) if owner[c]]
    if transpose:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def best_pairs(
    expected: Sequence[Any],
    actual: Sequence[Any],
    similarity: Callable[[Any, Any], float],
) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of ``expected[i]`` with ``actual[j]``, best alignment first
    by equality, then by optimal assignment on ``similarity``.

    Pairs whose similarity is 0 are left out: those items count as missing
    and extra, not as a wrong value.
    """
    pairs: list[tuple[int, int]] = []
    free: dict[str, list[int]] = {}
    for j in range(len(actual) - 1, -1, -1):  # reversed: pop() gives the first
        free.setdefault(_key(actual[j]), []).append(j)
    rest_e: list[int] = []
    taken: set[int] = set()
    for i, item in enumerate(expected):
        same = free.get(_key(item))
        if same:
            j = same.pop()
            pairs.append((i, j))
            taken.add(j)
        else:
            rest_e.append(i)
    rest_a = [j for j in range(len(actual)) if j not in taken]
    if rest_e and rest_a:
        if len(rest_e) * len(rest_a) <= MAX_CELLS:
            matrix = [[similarity(expected[i], actual[j]) for j in rest_a] for i in rest_e]
            chosen = [(rest_e[r], rest_a[c]) for r, c in hungarian(matrix)
                      if matrix[r][c] > 0]
        else:
            chosen = [(i, j) for i, j in zip(rest_e, rest_a, strict=False)
                      if similarity(expected[i], actual[j]) > 0]
        pairs.extend(chosen)
    return sorted(pairs)


__all__ = ["MAX_CELLS", "best_pairs", "hungarian"]
