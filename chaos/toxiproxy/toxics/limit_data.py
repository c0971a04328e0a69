"""limit_data: pass the first ``bytes`` bytes, then close the connection (0: close on the
first data, as Toxiproxy does)."""

from __future__ import annotations

from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stub, Toxic, register


@register
class LimitDataToxic(Toxic):
    type_name = "limit_data"
    defaults: ClassVar[dict[str, int]] = {"bytes": 0}

    async def pipe(self, stub: Stub) -> None:
        budget = self.attributes["bytes"]
        passed = 0
        while (chunk := await stub.get()) is not None:
            take = chunk.data[: max(0, budget - passed)]
            if take:
                stub.emit(take)
                passed += len(take)
            if passed >= budget:
                stub.drop()
                stub.close()
                return
        stub.finish()
