"""The ticket generator, run as its own process: `python ticket_program.py ORDER SEAT OUT ...`."""

import os
import sys
import time


def hang() -> None:
    """A rare hung generator: silent until killed. It does not outlive its parent, though: a
    worker SIGKILLed while blocked on it would otherwise leave it asleep for good."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.2)


def main() -> None:
    order_id, seat, out, work_s, cpu_s, hangs = sys.argv[1:7]
    if hangs == "1":
        hang()
        sys.exit(1)
    time.sleep(float(work_s))
    deadline = time.process_time() + float(cpu_s)
    checksum = 0
    while time.process_time() < deadline:
        checksum = (checksum * 31 + 7) % 1_000_003
    tmp = f"{out}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"TICKET order={order_id} seat={seat} check={checksum}\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
