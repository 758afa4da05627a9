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
similarity matrix built, else the rest is paired greedily by shared leaf
values through an index (bounded work per item).
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
    similarity: Callable[[int, int], float],
    keys: Callable[[int, int], set[Any]] | None = None,
) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of ``expected[i]`` with ``actual[j]``: equal items first (by
    hashing), then the optimal assignment on ``similarity(i, j)``.

    Pairs whose similarity is 0 are left out: those items count as missing
    and extra, not as a wrong value. When what is left is too big for a
    matrix, the rest pair
    greedily by the most (and rarest) keys shared (``keys(0, i)``: the set of
    hashable leaf keys of ``expected[i]``, ``keys(1, j)`` of ``actual[j]``),
    looking at no more than
    :data:`BUCKET_LIMIT` candidates per key, so the cost stays linear.
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
            matrix = [[similarity(i, j) for j in rest_a] for i in rest_e]
            pairs.extend((rest_e[r], rest_a[c]) for r, c in hungarian(matrix)
                         if matrix[r][c] > 0)
        else:
            pairs.extend(_greedy_by_keys(rest_e, rest_a, expected, actual, similarity, keys))
    return sorted(pairs)


#: Candidates looked at per shared key in the greedy pairing of long lists.
BUCKET_LIMIT = 32


def _greedy_by_keys(
    rest_e: list[int], rest_a: list[int], expected: Sequence[Any], actual: Sequence[Any],
    similarity: Callable[[int, int], float],
    keys: Callable[[int, int], set[Any]] | None,
) -> list[tuple[int, int]]:
    if keys is None:
        return [(i, j) for i, j in zip(rest_e, rest_a, strict=False) if similarity(i, j) > 0]
    e_keys = [keys(0, i) for i in rest_e]
    a_keys = [keys(1, j) for j in rest_a]
    index: dict[Any, list[int]] = {}
    for pos, found in enumerate(a_keys):
        for key in found:
            index.setdefault(key, []).append(pos)
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for pos, found in enumerate(e_keys):
        shared: dict[int, float] = {}
        for key in found:
            bucket = index.get(key, ())
            weight = 1.0 / len(bucket) if bucket else 0.0  # a rare value says more
            seen = 0
            for cand in bucket:
                if cand in used:
                    continue
                shared[cand] = shared.get(cand, 0.0) + weight
                seen += 1
                if seen >= BUCKET_LIMIT:
                    break
        if not shared:
            continue
        best = max(shared, key=lambda c: (shared[c], -c))
        if similarity(rest_e[pos], rest_a[best]) > 0:
            used.add(best)
            pairs.append((rest_e[pos], rest_a[best]))
    return pairs


__all__ = ["BUCKET_LIMIT", "MAX_CELLS", "best_pairs", "hungarian"]
