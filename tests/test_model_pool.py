"""Models are built once per process and never used by two threads at once."""

from __future__ import annotations

import threading
import time

from tasks.models import Pool


def test_an_idle_instance_is_reused_and_a_busy_one_is_not_shared():
    built = []

    def build():
        built.append(object())
        return built[-1]

    pool = Pool(build)
    with pool.borrow() as first:
        pass
    with pool.borrow() as again:
        assert again is first  # reused, not rebuilt
    holders: list[object] = []
    barrier = threading.Barrier(2)

    def hold():
        with pool.borrow() as item:
            barrier.wait(timeout=10)  # both threads hold an instance at the same time
            holders.append(item)
            time.sleep(0.05)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(holders) == 2 and holders[0] is not holders[1]
    assert len(built) == 2  # one more only because two threads needed one each
