"""saq's Redis queue with a sweep that leaves alone a job a worker is picking up (saq 0.26)."""

from __future__ import annotations

import asyncio
import contextlib
import math

from saq.job import Job, Status
from saq.queue.redis import RedisQueue

# saq's own sweep snapshot: the job ids in `active` and their bodies, once per `lock` seconds.
SWEEP_SNAPSHOT = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        id_jobs[i] = {v, redis.call('GET', v)}
    end
end
return id_jobs
"""
# A pickup is two round trips; a job whose body has not changed in this long has no worker.
PICKUP_GRACE_S = 1.0


class PickupSafeQueue(RedisQueue):
    """saq's RedisQueue with a sweep that leaves alone a job that a worker is picking up.

    saq 0.26 sweeps every job in `active` whose status is not ACTIVE, but a pickup passes
    through that state: BLMOVE into `active`, then a write of status=ACTIVE. A sweep landing
    between the two aborts a live job, and then, the job having tries left, queues it again
    once it has finished: it runs twice. Here such a job is swept only if its body is still
    the one the sweep saw a moment earlier, and a job that finished meanwhile is not requeued.
    """

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        snapshot: list[list[bytes]] = await self.redis.eval(  # type: ignore[misc]
            SWEEP_SNAPSHOT, 2, self._sweep, self._active, str(lock)
        )
        seen = {job_id: body for job_id, body in snapshot}
        suspects = [i for i, body in seen.items() if not self._running(body)]
        unchanged: set[bytes] = set()
        if suspects:
            await asyncio.sleep(PICKUP_GRACE_S)
            again = await self.redis.mget(suspects)
            unchanged = {i for i, body in zip(suspects, again, strict=True) if body == seen[i]}
        swept = []
        stuck = []
        for job_id, body in seen.items():
            job = self.deserialize(body)
            if job is None:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id.decode())
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
            elif job.stuck or job_id in unchanged:
                stuck.append(job)
            else:
                continue
            swept.append(job_id.decode())
        # Side by side: each waits up to `abort` seconds for a worker that may be dead, and
        # one at a time a killed worker's ten jobs would wait ten times as long.
        await asyncio.gather(*(self._requeue(job, abort) for job in stuck))
        return swept

    async def _requeue(self, job: Job, abort: float) -> None:
        """Ask a worker that may still hold the job to drop it, then queue it again.

        saq's own abort() takes the job out of `incomplete` and `active` while it waits: for
        those seconds the job is only in this process's memory, so a sweeper that dies then
        loses it, and the queue looks empty while work is owed. Here it stays where it is,
        marked aborting (which a later sweep also takes up), until it is queued again.
        """
        job.status, job.error = Status.ABORTING, self.swept_error_message
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(job.id, self.serialize(job))
            pipe.setex(job.abort_id, math.ceil(abort) + 1, job.error)
            pipe.publish(job.id, job.status)
            await pipe.execute()
        with contextlib.suppress(asyncio.TimeoutError):
            await job.refresh(abort)
        if job.status in (Status.COMPLETE, Status.FAILED):
            return  # its worker finished it after all
        if job.retryable:
            await self.retry(job, error=self.swept_error_message)
        else:
            await self.finish(job, Status.ABORTED, error=self.swept_error_message)

    def _running(self, body: bytes | None) -> bool:
        job = self.deserialize(body)
        return job is not None and job.status == Status.ACTIVE
