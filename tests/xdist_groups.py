"""How the tests are grouped and ordered on pytest-xdist workers (scripts/test: --dist loadgroup).

A pytest plugin (tests/conftest.py loads it): pure pytest, no Airflow, so that its own test can run it
in a bare pytest (tests/unit/test_xdist_groups.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Run first under pytest-xdist (scripts/test passes --no-loadscope-reorder, so the work queue keeps
# this order): each group runs on one worker for many minutes, and started last they would be the
# run's tail. The soaks and the other tests that start a whole Airflow.
LONG_GROUPS = ("soak", "airflow-processes")


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Under pytest-xdist: the long groups first; and a module whose tests share a module-scoped
    fixture (a backend, a DAG run) becomes a group of its own, so that the fixture is set up once on
    one worker, not once on each. (A wrapper: xdist reads the groups in its own implementation.)"""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for item in items:
            if item.get_closest_marker("xdist_group") is not None or not isinstance(item, pytest.Function):
                continue
            fixtures = item._fixtureinfo.name2fixturedefs.values()
            if any(definition.scope == "module" for definitions in fixtures for definition in definitions):
                item.add_marker(pytest.mark.xdist_group(item.module.__name__))
        items.sort(key=lambda item: not _in_a_long_group(item))
    yield
    if getattr(config.option, "loadgroup", False):
        _name_the_groups(items)


def _name_the_groups(items: list[pytest.Item]) -> None:
    """pytest-xdist 3.8 puts an item's group in its node id (``...::test@group``, what its scheduler
    groups by) through ``_nodeid``, which pytest 9.2 no longer reads: without this, --dist loadgroup
    would ignore every group. A no-op where xdist's renaming took."""
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # an older pytest: xdist's own renaming works
        return
    for item in items:
        names = sorted({str(mark.args[0]) for mark in item.iter_markers("xdist_group") if mark.args})
        if names and "@" not in item.nodeid.rsplit("]", 1)[-1]:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")  # type: ignore[attr-defined]


def _in_a_long_group(item: pytest.Item) -> bool:
    return any(mark.args[:1] and mark.args[0] in LONG_GROUPS for mark in item.iter_markers("xdist_group"))
