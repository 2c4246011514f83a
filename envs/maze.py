"""The maze model shared by the grid and point mazes: layouts, generators and BFS.

A maze is a 2-D boolean numpy array ``walls`` (``True`` = wall) indexed
``walls[row, col]``, row 0 at the top. Positions are ``(row, col)`` tuples.

Generated mazes use the *odd-grid* convention: a maze of ``size`` ``n`` (odd,
``n >= 5``) is an ``n x n`` grid whose "cells" sit at odd coordinates
``(2i + 1, 2j + 1)`` for ``i, j < (n - 1) // 2``; the squares between two
neighbouring cells are either wall or passage, and the border is all wall. An
agent walks on every free square (cells and passages alike), so a perfect
``9 x 9`` maze has 16 cells, 15 passages and 31 free squares.

Named layouts (:data:`LAYOUTS`) are strings of ``#`` (wall), ``.`` (free) and
at most one ``G`` (a free square that is the layout's default goal). The D4RL /
Gymnasium-Robotics PointMaze layouts (open, U-maze, medium, large) are
reproduced here; they need not follow the odd-grid convention.

Every generator draws only from the ``numpy.random.Generator`` it is given, so
a seed fixes the maze (numpy's PCG64 stream is platform independent).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

Cell = tuple[int, int]

#: The accepted generator names, in the order the docs list them.
GENERATORS: tuple[str, ...] = ("backtracker", "prim", "kruskal")

#: The smallest odd grid size that still holds more than one cell per side.
MIN_SIZE = 5

#: The default ``nspdi/GridMaze-v0`` maze: a 9 x 9 perfect maze (16 cells, 31
#: free squares) with four dead ends besides the goal and a longest shortest
#: path of 22 steps, so a random start must often walk away from the goal first.
GRID_9X9 = """\
#########
#.....#.#
#.###.#.#
#.#.#.#.#
#.#.###.#
#...#...#
###.#.#.#
#.....#G#
#########"""

#: An open room without inner walls (D4RL ``OPEN``).
OPEN = """\
#######
#.....#
#.....#
#.....#
#######"""

#: The U-shaped corridor (D4RL ``U_MAZE``); the goal is the far end of the U.
U_MAZE = """\
#####
#G..#
###.#
#...#
#####"""

#: The 8 x 8 medium maze (D4RL ``MEDIUM_MAZE``).
MEDIUM_MAZE = """\
########
#..##..#
#..#...#
##...###
#..#...#
#.#..#.#
#...#.G#
########"""

#: The 12 x 9 large maze (D4RL ``LARGE_MAZE``).
LARGE_MAZE = """\
############
#....#.....#
#.##.#.#.#.#
#......#...#
#.####.###.#
#..#.#.....#
##.#.#.#.###
#..#...#..G#
############"""

#: Named layouts accepted by ``layout=`` in both environments.
LAYOUTS: dict[str, str] = {
    "grid9": GRID_9X9,
    "open": OPEN,
    "umaze": U_MAZE,
    "medium": MEDIUM_MAZE,
    "large": LARGE_MAZE,
}

# Row and column offsets of the four moves, in the action order of the grid
# maze: up, right, down, left.
MOVES: tuple[Cell, ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))


def parse_layout(text: str) -> tuple[np.ndarray, Cell | None]:
    """Turn a layout string into a wall array and its marked goal, if any.

    :param text: rows of ``#`` (wall), ``.`` (free) and at most one ``G``
        (free, the default goal), separated by newlines; all rows equally long.
    :return: ``(walls, goal)`` where ``walls`` is a bool array (``True`` = wall)
        and ``goal`` is the ``G`` square as ``(row, col)`` or ``None``.
    """
    rows = [line for line in text.strip("\n").split("\n")]
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        lengths = sorted({len(row) for row in rows})
        raise ValueError(f"layout rows must all have the same length, got lengths {lengths}")
    bad = sorted(set("".join(rows)) - set("#.G"))
    if bad:
        raise ValueError(f"layout contains characters {bad}; accepted are '#', '.' and 'G'")
    walls = np.array([[ch == "#" for ch in row] for row in rows], dtype=bool)
    goals = [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "G"]
    if len(goals) > 1:
        raise ValueError(f"layout marks {len(goals)} goals {goals}; at most one 'G' is accepted")
    return walls, (goals[0] if goals else None)


def layout_walls(name: str) -> tuple[np.ndarray, Cell | None]:
    """Walls and default goal of a named layout.

    :param name: one of :data:`LAYOUTS` (``grid9``, ``open``, ``umaze``,
        ``medium``, ``large``).
    """
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; accepted are {sorted(LAYOUTS)}")
    return parse_layout(LAYOUTS[name])


def walls_to_text(walls: np.ndarray) -> str:
    """Inverse of :func:`parse_layout` without a goal mark (``#`` and ``.``)."""
    return "\n".join("".join("#" if w else "." for w in row) for row in walls)


def check_size(size: object) -> int:
    """Validate a generated-maze size: an odd int ``>= 5``; return it as ``int``.

    :param size: the grid side length in squares (cells and walls together).
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise ValueError(f"maze size {size!r} is not an int; accepted are odd ints >= {MIN_SIZE}")
    if size < MIN_SIZE or size % 2 == 0:
        raise ValueError(
            f"maze size {size} is not accepted; accepted are odd ints >= {MIN_SIZE} "
            "(cells sit at odd coordinates with walls between them)"
        )
    return int(size)


def _cell_neighbours(i: int, j: int, m: int) -> list[Cell]:
    return [(i + di, j + dj) for di, dj in MOVES if 0 <= i + di < m and 0 <= j + dj < m]


def _backtracker(m: int, rng: np.random.Generator) -> list[tuple[Cell, Cell]]:
    """Randomised depth-first search: long corridors, few branches."""
    visited = np.zeros((m, m), dtype=bool)
    start = (int(rng.integers(m)), int(rng.integers(m)))
    visited[start] = True
    stack = [start]
    edges: list[tuple[Cell, Cell]] = []
    while stack:
        i, j = stack[-1]
        options = [n for n in _cell_neighbours(i, j, m) if not visited[n]]
        if not options:
            stack.pop()
            continue
        nxt = options[int(rng.integers(len(options)))]
        visited[nxt] = True
        edges.append(((i, j), nxt))
        stack.append(nxt)
    return edges


def _prim(m: int, rng: np.random.Generator) -> list[tuple[Cell, Cell]]:
    """Randomised Prim: grows from one cell through a random frontier edge."""
    visited = np.zeros((m, m), dtype=bool)
    start = (int(rng.integers(m)), int(rng.integers(m)))
    visited[start] = True
    frontier = [(start, n) for n in _cell_neighbours(*start, m)]
    edges: list[tuple[Cell, Cell]] = []
    while frontier:
        # Swap-remove keeps each draw O(1) without changing the distribution.
        k = int(rng.integers(len(frontier)))
        frontier[k], frontier[-1] = frontier[-1], frontier[k]
        a, b = frontier.pop()
        if visited[b]:
            continue
        visited[b] = True
        edges.append((a, b))
        frontier.extend((b, n) for n in _cell_neighbours(*b, m) if not visited[n])
    return edges


def _kruskal(m: int, rng: np.random.Generator) -> list[tuple[Cell, Cell]]:
    """Randomised Kruskal: all edges in random order, joined by union-find."""
    all_edges = [((i, j), (i, j + 1)) for i in range(m) for j in range(m - 1)]
    all_edges += [((i, j), (i + 1, j)) for i in range(m - 1) for j in range(m)]
    parent = list(range(m * m))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges: list[tuple[Cell, Cell]] = []
    for k in rng.permutation(len(all_edges)):
        a, b = all_edges[int(k)]
        ra, rb = find(a[0] * m + a[1]), find(b[0] * m + b[1])
        if ra != rb:
            parent[ra] = rb
            edges.append((a, b))
    return edges


_GENERATOR_FNS = {"backtracker": _backtracker, "prim": _prim, "kruskal": _kruskal}


def loop_candidates(walls: np.ndarray) -> list[Cell]:
    """Inner wall squares that separate two cells (removing one adds a loop)."""
    return [cell for cell in _between_cells(walls) if walls[cell]]


def generate_maze(
    size: int,
    rng: np.random.Generator,
    generator: str = "backtracker",
    loops: float | int = 0,
) -> np.ndarray:
    """Generate a maze of ``size x size`` squares (see the module docstring).

    :param size: odd grid side length, ``>= 5``; the maze has
        ``((size - 1) // 2) ** 2`` cells.
    :param rng: the only source of randomness (e.g. an env's ``np_random``).
    :param generator: ``"backtracker"`` (depth-first), ``"prim"`` or ``"kruskal"``.
    :param loops: extra walls between cells to knock out after the perfect maze
        is built: an ``int`` is a count, a ``float`` in ``[0, 1]`` a fraction of
        the remaining cell-separating walls. ``0`` (default) keeps the maze
        perfect (exactly one path between any two squares).
    :return: bool array of shape ``(size, size)``, ``True`` = wall.
    """
    n = check_size(size)
    if generator not in _GENERATOR_FNS:
        raise ValueError(f"unknown maze generator {generator!r}; accepted are {list(GENERATORS)}")
    check_loops(loops)
    m = (n - 1) // 2
    walls = np.ones((n, n), dtype=bool)
    walls[1::2, 1::2] = False
    for (i1, j1), (i2, j2) in _GENERATOR_FNS[generator](m, rng):
        walls[i1 + i2 + 1, j1 + j2 + 1] = False
    if loops:
        candidates = loop_candidates(walls)
        count = loops if isinstance(loops, int | np.integer) else round(loops * len(candidates))
        if count > len(candidates):
            raise ValueError(
                f"loops={loops} asks for more extra passages than the {len(candidates)} "
                f"inner walls a size-{n} maze has; accepted are 0..{len(candidates)}"
            )
        for k in rng.choice(len(candidates), size=int(count), replace=False):
            walls[candidates[int(k)]] = False
    return walls


def check_loops(loops: object) -> None:
    """Validate the ``loops`` option: an int ``>= 0`` or a float in ``[0, 1]``."""
    if isinstance(loops, bool) or not isinstance(loops, int | float | np.integer | np.floating):
        raise ValueError(
            f"loops={loops!r} is not accepted; accepted are an int count >= 0 "
            "or a float fraction in [0, 1]"
        )
    is_count = isinstance(loops, int | np.integer)
    if (is_count and loops < 0) or (not is_count and not 0.0 <= loops <= 1.0):
        raise ValueError(
            f"loops={loops!r} is not accepted; accepted are an int count >= 0 "
            "or a float fraction in [0, 1]"
        )


def free_cells(walls: np.ndarray) -> list[Cell]:
    """All free squares as ``(row, col)`` tuples in reading order."""
    rows, cols = np.nonzero(~walls)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]


def bfs_distances(walls: np.ndarray, source: Sequence[int]) -> np.ndarray:
    """Shortest-path step counts from ``source`` to every square (4-neighbour moves).

    :param walls: bool wall array.
    :param source: ``(row, col)`` of a free square.
    :return: int32 array shaped like ``walls``; ``-1`` for walls and squares
        that cannot be reached.
    """
    h, w = walls.shape
    r0, c0 = int(source[0]), int(source[1])
    dist = np.full((h, w), -1, dtype=np.int32)
    if walls[r0, c0]:
        return dist
    dist[r0, c0] = 0
    # Plain Python lists beat numpy item access in this tight loop.
    free = (~walls).tolist()
    d = dist.tolist()
    queue = deque([(r0, c0)])
    while queue:
        r, c = queue.popleft()
        nd = d[r][c] + 1
        for dr, dc in MOVES:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and free[rr][cc] and d[rr][cc] < 0:
                d[rr][cc] = nd
                queue.append((rr, cc))
    return np.array(d, dtype=np.int32)


def square_of(shape: tuple[int, int], x: float, y: float) -> Cell:
    """The ``(row, col)`` square of a ``shape`` maze that holds the continuous
    position ``(x, y)`` (in squares: ``x`` along the columns), clamped to the maze."""
    h, w = shape
    return (min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1))


def _points(value: Any, name: str) -> np.ndarray:
    """``value`` as an ``(N, 2)`` float array of finite points."""
    points = np.asarray(value, dtype=np.float64)
    if points.ndim == 1:
        points = points[None]
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise ValueError(f"{name} must be finite (x, y) points, shape (2,) or (N, 2), "
                         f"got {value!r}")  # fmt: skip
    return points


class GeodesicDistance:
    """The length of the way to a goal around the walls, for continuous positions.

    Positions ``(x, y)`` are in squares: ``x`` along the columns, ``y`` along the
    rows, square ``(row, col)`` spanning ``[col, col + 1) x [row, row + 1)``. In the
    goal square the way is the straight line to ``goal_xy``; elsewhere it runs
    through the centre of the nearest neighbouring square one BFS step closer to
    the goal, and from there one unit per square. Continuous within each square,
    and equal to the BFS distance at square centres when ``goal_xy`` is the goal
    square's centre. :class:`GeodesicMap` measures the same for any goal, in batches.

    :param walls: bool wall array.
    :param goal_cell: ``(row, col)`` of the goal, a free square.
    :param goal_xy: the goal point inside the goal square (default its centre).
    """

    def __init__(
        self,
        walls: np.ndarray,
        goal_cell: Sequence[int],
        goal_xy: Sequence[float] | None = None,
    ) -> None:
        r0, c0 = int(goal_cell[0]), int(goal_cell[1])
        h, w = walls.shape
        if not (0 <= r0 < h and 0 <= c0 < w) or walls[r0, c0]:
            raise ValueError(f"goal_cell {(r0, c0)} is not a free square of the maze")
        self.goal_cell: Cell = (r0, c0)
        self.goal_xy = (c0 + 0.5, r0 + 0.5) if goal_xy is None else tuple(map(float, goal_xy))
        self.steps = bfs_distances(walls, self.goal_cell)
        steps = self.steps.tolist()
        self._shape = (h, w)
        self._downhill = {
            (r, c): [
                (r + dr, c + dc)
                for dr, dc in MOVES
                if 0 <= r + dr < h
                and 0 <= c + dc < w
                and steps[r][c] > 0
                and steps[r + dr][c + dc] == steps[r][c] - 1
            ]
            for r, c in free_cells(walls)
        }
        #: the longest way from a square centre, at least 1 (a shaping scale)
        self.max = max(float(self.steps.max()), 1.0)

    def __call__(self, x: float, y: float) -> float:
        cell = square_of(self._shape, x, y)
        steps = int(self.steps[cell])
        if steps <= 0:  # the goal square (or, never for a valid position, a wall)
            return float(math.dist((x, y), self.goal_xy))
        return steps - 1 + math.dist((x, y), self._nearest_downhill(cell, x, y))

    def next_centre(self, x: float, y: float) -> tuple[float, float] | None:
        """Where the way from ``(x, y)`` runs next: the centre of the nearest
        neighbouring square one BFS step closer to the goal; None in the goal square
        (or, never for a valid position, a wall)."""
        cell = square_of(self._shape, x, y)
        return self._nearest_downhill(cell, x, y) if self.steps[cell] > 0 else None

    def _nearest_downhill(self, cell: Cell, x: float, y: float) -> tuple[float, float]:
        centres = [(c + 0.5, r + 0.5) for r, c in self._downhill[cell]]
        return min(centres, key=lambda centre: math.dist((x, y), centre))


class GeodesicMap:
    """:class:`GeodesicDistance` for every goal of a maze at once, on batches of points
    and goals: what goal-relabelling (HER) needs, whose goals change from sample to
    sample. The BFS of every free square is taken once (``(H*W)^2`` step counts).

    :param walls: bool wall array.
    """

    def __init__(self, walls: np.ndarray) -> None:
        walls = np.asarray(walls, dtype=bool)
        if walls.ndim != 2 or walls.all():
            raise ValueError(f"walls must be a 2-D bool array with a free square, got {walls!r}")
        h, w = walls.shape
        self._shape = (h, w)
        self._walls = walls
        #: steps[goal_row, goal_col, row, col]: BFS steps (-1: a wall, or no way)
        self.steps = np.full((h, w, h, w), -1, dtype=np.int32)
        for cell in free_cells(walls):
            self.steps[cell] = bfs_distances(walls, cell)
        #: per goal square, the longest way from a square centre, at least 1
        self.longest = np.maximum(self.steps.max(axis=(2, 3)), 1).astype(np.float64)

    def goal_squares(self, goal_xy: Any) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the free squares holding ``goal_xy`` (clamped to the maze).

        :raises ValueError: for a goal on a wall.
        """
        goal = _points(goal_xy, "goal_xy")
        h, w = self._shape
        rows = np.clip(np.trunc(goal[:, 1]).astype(np.int64), 0, h - 1)
        cols = np.clip(np.trunc(goal[:, 0]).astype(np.int64), 0, w - 1)
        if self._walls[rows, cols].any():
            bad = goal[self._walls[rows, cols]][0]
            raise ValueError(f"goal {tuple(bad.tolist())} lies on a wall of the maze")
        return rows, cols

    def __call__(self, xy: Any, goal_xy: Any) -> np.ndarray:
        """The ways from ``xy`` to ``goal_xy`` (points in squares, ``(2,)`` or
        ``(N, 2)``, broadcast against each other), shape ``(N,)``; the rule is
        :class:`GeodesicDistance`'s."""
        points, goal = np.broadcast_arrays(_points(xy, "xy"), _points(goal_xy, "goal_xy"))
        goal_rows, goal_cols = self.goal_squares(goal)
        h, w = self._shape
        x, y = points[:, 0], points[:, 1]
        # square_of's clamp, for arrays (int() truncates, which the clamp makes a floor)
        row = np.clip(np.trunc(y).astype(np.int64), 0, h - 1)
        col = np.clip(np.trunc(x).astype(np.int64), 0, w - 1)
        to_goal = self.steps[goal_rows, goal_cols]  # (N, H, W)
        index = np.arange(len(points))
        steps = to_goal[index, row, col]
        nearest = np.full(len(points), np.inf)
        for dr, dc in MOVES:
            r, c = row + dr, col + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            r, c = np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)
            downhill = inside & (steps > 0) & (to_goal[index, r, c] == steps - 1)
            centre = np.hypot(x - (c + 0.5), y - (r + 0.5))
            nearest = np.where(downhill, np.minimum(nearest, centre), nearest)
        straight = np.hypot(x - goal[:, 0], y - goal[:, 1])
        # the goal square (or, never for a valid position, a wall): the straight line
        return np.where(steps <= 0, straight, steps - 1 + nearest)

    def longest_to(self, goal_xy: Any) -> np.ndarray:
        """Per goal, the longest way from a square centre (at least 1), shape ``(N,)``."""
        return self.longest[self.goal_squares(goal_xy)]


def shortest_path(walls: np.ndarray, start: Sequence[int], goal: Sequence[int]) -> list[Cell]:
    """A shortest path from ``start`` to ``goal`` as a list of squares, both ends included.

    :raises ValueError: if ``goal`` cannot be reached from ``start``.
    """
    dist = bfs_distances(walls, goal)
    r, c = int(start[0]), int(start[1])
    if dist[r, c] < 0:
        raise ValueError(f"no path from {tuple(start)} to {tuple(goal)}")
    path = [(r, c)]
    while dist[r, c] > 0:
        for dr, dc in MOVES:
            rr, cc = r + dr, c + dc
            if (
                0 <= rr < walls.shape[0]
                and 0 <= cc < walls.shape[1]
                and dist[rr, cc] == dist[r, c] - 1
            ):
                r, c = rr, cc
                break
        path.append((r, c))
    return path


def is_connected(walls: np.ndarray) -> bool:
    """Whether every free square can reach every other one."""
    cells = free_cells(walls)
    if not cells:
        return False
    return bool(np.count_nonzero(bfs_distances(walls, cells[0]) >= 0) == len(cells))


def count_passages(walls: np.ndarray) -> int:
    """Number of open squares between two cells (odd-grid convention)."""
    return sum(1 for cell in _between_cells(walls) if not walls[cell])


def _between_cells(walls: np.ndarray) -> list[Cell]:
    # Between two cells means one coordinate odd (on a cell line) and the
    # other even (between cells); squares with both coordinates even are pillars.
    n = walls.shape[0]
    return [(r, c) for r in range(1, n - 1) for c in range(1 + r % 2, n - 1, 2)]


def check_square(walls: np.ndarray, free: list[Cell], name: str, value: object) -> Cell:
    """``value`` as a free square ``(row, col)`` of ``walls``, or a ValueError naming it.

    :param free: the free squares (only used to show examples in the message).
    :param name: what the square is (``start``, ``goal``) for the message.
    """
    h, w = walls.shape
    if (
        not isinstance(value, Sequence | np.ndarray)
        or len(value) != 2
        or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{name} {value!r} is not a (row, col) pair of ints")
    r, c = int(value[0]), int(value[1])
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(
            f"{name} {(r, c)} is outside the {h} x {w} grid; accepted are free squares "
            f"with row in 0..{h - 1} and col in 0..{w - 1}"
        )
    if walls[r, c]:
        raise ValueError(
            f"{name} {(r, c)} is a wall; accepted are the {len(free)} free squares, e.g. {free[:3]}"
        )
    return (r, c)
