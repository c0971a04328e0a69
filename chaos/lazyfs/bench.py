"""``python -m chaos.lazyfs.bench``: what the lazy filesystem costs PostgreSQL.

Prints, side by side, the embedded database's start time and fsynced commits per second
(one row per transaction, the default ``synchronous_commit = on``, several writers) with
its data directory on the plain disk and on the lazy filesystem. Figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


async def _commits_per_s(dsn: str, seconds: float, writers: int) -> float:
    import asyncpg

    setup = await asyncpg.connect(dsn)
    await setup.execute("CREATE TABLE IF NOT EXISTS bench (id bigserial PRIMARY KEY, v text)")
    await setup.close()
    done = 0
    deadline = time.monotonic() + seconds

    async def writer() -> None:
        nonlocal done
        conn = await asyncpg.connect(dsn)
        try:
            while time.monotonic() < deadline:
                await conn.execute("INSERT INTO bench (v) VALUES ($1)", "x" * 200)
                done += 1
        finally:
            await conn.close()

    start = time.monotonic()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return done / (time.monotonic() - start)


@contextlib.contextmanager
def _data_dir(lazy: bool) -> Iterator[Path]:
    if not lazy:
        with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
            yield Path(tmp) / "data"
        return
    from chaos.lazyfs import LazyMount

    with LazyMount() as mount:
        yield mount.path


def _measure(lazy: bool, seconds: float, writers: int) -> tuple[float, float]:
    from sentinel_backend.pg import EmbeddedPostgres

    with _data_dir(lazy) as data:
        pg = EmbeddedPostgres(data)
        start = time.monotonic()
        pg.start()
        started = time.monotonic() - start
        try:
            rate = asyncio.run(_commits_per_s(pg.dsn, seconds, writers))
        finally:
            pg.stop("fast", remove=False)
    return started, rate


def main(argv: list[str] | None = None) -> int:
    from chaos.lazyfs import fuse_unavailable

    parser = argparse.ArgumentParser(prog="python -m chaos.lazyfs.bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--writers", type=int, default=8, help="concurrent connections")
    args = parser.parse_args(argv)
    why = fuse_unavailable()
    rows = [("plain disk", *_measure(False, args.seconds, args.writers))]
    if why is None:
        rows.append(("lazy filesystem", *_measure(True, args.seconds, args.writers)))
    print(f"{'data dir on':<18}{'start s':>10}{'commits/s':>12}   ({args.writers} writers, "
          f"{args.seconds:.0f} s, synchronous_commit on)")
    for name, started, rate in rows:
        print(f"{name:<18}{started:>10.1f}{rate:>12.0f}")
    if why is not None:
        print(f"lazy filesystem: skipped ({why})")
    else:
        print(f"cost: {rows[0][2] / max(rows[1][2], 1e-9):.1f}x fewer commits/s on the lazy fs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
