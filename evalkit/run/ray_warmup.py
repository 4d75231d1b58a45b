"""Pre-warming Ray workers: each imports evalkit and the model's client and loads the suite while the
driver validates and reads the cases, so the first shards do not pay for it inside the run."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from evalkit.errors import UsageError
from evalkit.providers.calls import ModelCaller
from evalkit.providers.lean_vendors import connect_ahead
from evalkit.run.evaluate import prepare_target
from evalkit.run.ray_connect import connect
from evalkit.run.ray_shard import worker_suite
from evalkit.suite.loading import Suite


def warm_worker(suite_path: str, model: str, prompt: str | None, timeout: float | None) -> int:
    """The body of a pre-warming task: what a worker's first shard would otherwise do inside the run."""
    suite, _ = worker_suite(suite_path)
    target = prepare_target(suite, model, prompt, timeout)
    ModelCaller(suite.base_dir).provider_for(target.model)
    for module in ("evalkit.providers.lean_vendors", "evalkit.providers.openai_compat"):
        importlib.import_module(module)  # the HTTP clients are imported at the first call otherwise
    connect_ahead(target.model, target.api_base)  # an https:// endpoint's TLS context too
    return os.getpid()


def prewarm(suite: Suite, target: Any, options: Any) -> list[Any]:
    """Start a pre-warming task per CPU of the cluster (connecting to Ray first); returns their refs.
    Refuses ``--ray-gpus`` more than any node of the cluster has: the shard tasks would wait for ever.

    Not awaited: shards submitted later queue behind them on the same workers. Workers already
    warm (a later run in the same session) find the suite loaded and return at once.
    """
    ray = connect(options.ray)
    gpus = max((n["Resources"].get("GPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)
    if options.ray_num_gpus and gpus < options.ray_num_gpus:  # else no shard task could ever start
        raise UsageError(
            f"--ray-gpus {options.ray_num_gpus:g}: no node of the Ray cluster has that many GPUs "
            f"(at most {gpus:g}), so no shard task could start: start its GPU nodes, or leave --ray-gpus out"
        )
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(num_cpus=1, max_retries=0)(warm_worker)
    args = (
        str(Path(suite.path).resolve()),
        target.model,
        target.prompt.name if target.prompt else None,
        target.timeout,
    )
    return [task.remote(*args) for _ in range(cpus)]
