"""The ticket generator, run as its own process: `python ticket_program.py ORDER SEAT OUT ...`."""

import os
import sys
import time


def main() -> None:
    order_id, seat, out, work_s, cpu_s, hang = sys.argv[1:7]
    if hang == "1":
        time.sleep(3600)  # a rare hung generator: only the caller's timeout ends it
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
