"""The ceiling of a Faust stage on this machine: the stage loop over interactions.redacted.v1 with a
handler that does nothing but count (as outcome `not_escalated`, so the escalation bench scrapes it
like the real worker). Run by tests/bench/escalation/throughput.py beside the escalation worker, in the
same run, so the worker's events/s can be read against what Faust itself allows here.
"""

from __future__ import annotations

from collections.abc import Sequence

import faust

from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.stage import Inbound, Outbound, Stage, create_app
from services.runtime.topics import REDACTED
from services.runtime.worker import run_faust


def main() -> None:
    settings = Settings()
    app = create_app("faust-ceiling", settings)
    metrics = Metrics("escalation")
    stage = Stage(app, "escalation", settings, metrics)

    async def handle(inbound: Inbound) -> Sequence[Outbound]:
        metrics.outcome("not_escalated", "ceiling")
        return []

    @app.agent(stage.topic(REDACTED), name="ceiling")
    async def ceiling(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle)

    run_faust(app, metrics, settings)


if __name__ == "__main__":
    main()
