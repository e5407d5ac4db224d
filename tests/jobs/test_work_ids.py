"""A queued job's work id follows from its function and args, as the contract names them."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.tasks import work_id_of


@pytest.mark.parametrize(
    ("function", "args", "work_id"),
    [
        ("send_magic_link", ("r1", "user1@example.com", "http://t/login/verify"), "login:r1"),
        ("process_payment", ("evt_1", 42, "r2"), "order:42"),
        ("generate_ticket", (42, 3, "r2"), "order:42"),
        ("send_tickets", (42, "r2"), "order:42"),
    ],
)
def test_each_job_maps_to_the_work_it_serves(
    function: str, args: tuple[Any, ...], work_id: str
) -> None:
    assert work_id_of(function, args) == work_id
    assert work_id_of(function, list(args)) == work_id


@pytest.mark.parametrize(("function", "args"), [("resize_video", (1,)), ("send_tickets", ())])
def test_an_unknown_job_has_no_work_id(function: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="no work id"):
        work_id_of(function, args)
