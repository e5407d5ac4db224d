"""The generator_behind flag says why: out of users, or users to spare and out of CPU."""

from __future__ import annotations

from runner.generator import why_behind


def test_late_starts_with_users_to_spare_are_blamed_on_the_cpu() -> None:
    why = why_behind({"peak_users": 60, "max_users": 24000, "cpu_percent": 97.0})
    assert why.startswith("not for want of users (60 of at most 24000): the machine's CPU")
    assert "97% of a core" in why


def test_late_starts_at_the_user_cap_are_blamed_on_the_cap() -> None:
    assert why_behind({"peak_users": 50, "max_users": 50}) == (
        "users ran out at the cap of 50 (--max-users)"
    )
