"""The deterministic data set: which addresses are registered and how many seats each order has."""

from __future__ import annotations

import random
from dataclasses import dataclass


def registered_email(i: int) -> str:
    return f"user{i}@example.com"


def unknown_email(i: int) -> str:
    return f"nobody{i}@example.net"


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    seats: int


def orders(seed: int, n_orders: int, n_users: int, max_seats: int) -> list[Order]:
    """Orders 1..n, each owned by a user and holding 1..max_seats seats, the same for a seed."""
    rng = random.Random(seed)
    return [
        Order(id=i, user_id=rng.randrange(n_users), seats=rng.randint(1, max_seats))
        for i in range(1, n_orders + 1)
    ]
