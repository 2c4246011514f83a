"""Property tests of the maze model: generators, loops, layouts and BFS."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import maze as mz
from envs.grid_maze import GridMazeEnv

sizes = st.sampled_from([5, 7, 9, 11, 15, 21, 25])
# A size-5 maze has a single inner wall left to knock out, so loop tests start at 9.
loop_sizes = st.sampled_from([9, 11, 15, 21])
seeds = st.integers(0, 2**32 - 1)
generators = st.sampled_from(mz.GENERATORS)


@settings(deadline=None, max_examples=40)
@given(size=sizes, seed=seeds, generator=generators)
def test_generated_maze_is_perfect_and_connected(size, seed, generator):
    walls = mz.generate_maze(size, np.random.default_rng(seed), generator)
    cells = ((size - 1) // 2) ** 2
    assert walls.shape == (size, size) and walls.dtype == bool
    assert mz.is_connected(walls)
    assert mz.count_passages(walls) == cells - 1
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    assert not walls[1::2, 1::2].any()  # every cell is free
    assert walls[::2, ::2].all()  # every pillar is wall


@settings(deadline=None, max_examples=25)
@given(size=sizes, seed=seeds, generator=generators)
def test_same_seed_same_maze(size, seed, generator):
    a = mz.generate_maze(size, np.random.default_rng(seed), generator)
    b = mz.generate_maze(size, np.random.default_rng(seed), generator)
    np.testing.assert_array_equal(a, b)


def test_pinned_maze_is_platform_independent():
    # PCG64 streams are platform independent; this pins the backtracker's output.
    walls = mz.generate_maze(9, np.random.default_rng(0), "backtracker")
    assert mz.walls_to_text(walls) == "\n".join(
        [
            "#########",
            "#...#...#",
            "#.#.#.#.#",
            "#.#.#.#.#",
            "#.#.#.#.#",
            "#.#...#.#",
            "#.#####.#",
            "#...#...#",
            "#########",
        ]
    )


def test_generators_differ():
    rng_mazes = {g: mz.generate_maze(15, np.random.default_rng(1), g) for g in mz.GENERATORS}
    texts = {mz.walls_to_text(w) for w in rng_mazes.values()}
    assert len(texts) == len(mz.GENERATORS)


@settings(deadline=None, max_examples=25)
@given(size=loop_sizes, seed=seeds, generator=generators, loops=st.integers(1, 4))
def test_loops_count_adds_passages(size, seed, generator, loops):
    cells = ((size - 1) // 2) ** 2
    walls = mz.generate_maze(size, np.random.default_rng(seed), generator, loops=loops)
    assert mz.is_connected(walls)
    assert mz.count_passages(walls) == cells - 1 + loops


def test_loops_fraction_one_removes_every_inner_wall():
    walls = mz.generate_maze(9, np.random.default_rng(0), "prim", loops=1.0)
    assert mz.loop_candidates(walls) == []
    assert mz.count_passages(walls) == 2 * 4 * 3  # all edges of a 4 x 4 cell grid


@pytest.mark.parametrize("name", sorted(mz.LAYOUTS))
def test_named_layouts_are_connected_and_walled_in(name):
    walls, goal = mz.layout_walls(name)
    assert mz.is_connected(walls)
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    assert goal is None or not walls[goal]


def test_default_grid_maze_is_a_perfect_maze_with_dead_ends():
    walls, goal = mz.layout_walls("grid9")
    assert walls.shape == (9, 9) and goal == (7, 7)
    assert mz.count_passages(walls) == 15 and mz.is_connected(walls)
    dead_ends = [
        c
        for c in mz.free_cells(walls)
        if sum(not walls[c[0] + dr, c[1] + dc] for dr, dc in mz.MOVES) == 1 and c != goal
    ]
    assert len(dead_ends) >= 3


def test_bfs_distances_and_path():
    walls, _ = mz.layout_walls("umaze")
    dist = mz.bfs_distances(walls, (1, 1))
    assert dist[3, 1] == 6 and dist[0, 0] == -1
    path = mz.shortest_path(walls, (3, 1), (1, 1))
    assert len(path) == 7 and path[0] == (3, 1) and path[-1] == (1, 1)
    assert all(
        abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(path[:-1], path[1:], strict=True)
    )


@settings(deadline=None, max_examples=30)
@given(size=loop_sizes, seed=seeds, generator=generators, loops=st.integers(0, 3), data=st.data())
def test_bfs_length_equals_steps_of_a_bfs_following_agent(size, seed, generator, loops, data):
    env = GridMazeEnv(size=size, generator=generator, loops=loops, maze_seed=seed)
    _, info = env.reset(seed=data.draw(seeds))
    start = env.agent_pos
    assert env.goal_pos in env.free_cells() and start in env.free_cells()
    assert not env.walls[start] and not env.walls[env.goal_pos]
    expected = env.shortest_path_length(start)
    assert (
        info["optimal_length"]
        == expected
        == len(mz.shortest_path(env.walls, start, env.goal_pos)) - 1
    )
    steps, terminated = 0, False
    while not terminated:
        _, _, terminated, _, info = env.step(env.optimal_action())
        steps += 1
        assert steps <= expected
    assert steps == expected and info["is_success"] and info["distance_to_goal"] == 0


@settings(deadline=None, max_examples=20)
@given(size=loop_sizes, seed=seeds, generator=generators, loops=st.integers(0, 3), data=st.data())
def test_the_geodesic_map_measures_each_goals_way_in_one_batch(size, seed, generator, loops, data):
    """GeodesicMap is GeodesicDistance for many goals at once: same ways, same scale."""
    walls = GridMazeEnv(size=size, generator=generator, loops=loops, maze_seed=seed).walls
    geodesic_map = mz.GeodesicMap(walls)
    free = mz.free_cells(walls)
    rng = np.random.default_rng(data.draw(seeds))
    goals = [free[i] for i in rng.integers(len(free), size=6)]
    goal_xy = np.array([(c + rng.random(), r + rng.random()) for r, c in goals])
    # points anywhere, walls and the outside included (the clamp of square_of)
    points = rng.uniform(-1, size + 1, size=(6, 2))
    expected = [
        mz.GeodesicDistance(walls, goal, tuple(g))(*p)
        for goal, g, p in zip(goals, goal_xy, points, strict=True)
    ]
    np.testing.assert_allclose(geodesic_map(points, goal_xy), expected, atol=1e-12)
    assert geodesic_map.longest_to(goal_xy).tolist() == [
        mz.GeodesicDistance(walls, goal).max for goal in goals
    ]
    # one goal broadcast against many points
    one = mz.GeodesicDistance(walls, goals[0], tuple(goal_xy[0]))
    np.testing.assert_allclose(geodesic_map(points, goal_xy[0]), [one(*p) for p in points])


def test_the_geodesic_map_refuses_goals_on_walls_and_bad_points():
    walls, _ = mz.layout_walls("umaze")
    geodesic_map = mz.GeodesicMap(walls)
    with pytest.raises(ValueError, match=r"goal \(0.5, 0.5\) lies on a wall"):
        geodesic_map([1.5, 1.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="xy must be finite"):
        geodesic_map([1.5, np.nan], [1.5, 1.5])
    with pytest.raises(ValueError, match="goal_xy must be finite"):
        geodesic_map([1.5, 1.5], [[1.5, 1.5, 1.5]])
    with pytest.raises(ValueError, match="a free square"):
        mz.GeodesicMap(np.ones((3, 3), dtype=bool))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mz.generate_maze(8, np.random.default_rng(0)), "maze size 8 .*odd ints >= 5"),
        (lambda: mz.generate_maze(3, np.random.default_rng(0)), "maze size 3 .*odd ints >= 5"),
        (lambda: mz.generate_maze(9.0, np.random.default_rng(0)), "maze size 9.0 .*odd ints"),
        (
            lambda: mz.generate_maze(9, np.random.default_rng(0), "eller"),
            "'eller'.*backtracker.*prim.*kruskal",
        ),
        (
            lambda: mz.generate_maze(5, np.random.default_rng(0), loops=2),
            "loops=2.*1 inner walls.*0..1",
        ),
        (lambda: mz.generate_maze(9, np.random.default_rng(0), loops=1.5), r"loops=1.5.*\[0, 1\]"),
        (lambda: mz.generate_maze(9, np.random.default_rng(0), loops=-1), "loops=-1.*>= 0"),
        (lambda: mz.layout_walls("hard"), "'hard'.*grid9.*large.*medium.*open.*umaze"),
        (lambda: mz.parse_layout("#.#\n#x#"), r"\['x'\].*'#', '.' and 'G'"),
    ],
)
def test_bad_maze_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
