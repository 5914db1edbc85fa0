"""A document sync's chunking and embedding as Ray Data batches, when `FOUNDATION_RAY_ADDRESS` is set.

The driver (the sync, sync.py) keeps everything that decides or commits: which documents to do, the
embedding cache, the gate, Write-Audit-Publish, holds and the vector index. The cluster gets the work
that only costs CPU (or GPU): documents cut into chunk rows (Ray tasks), and the chunk texts not
cached turned into vectors by a pool of actors that load the model once each. Rows and vectors come
back in the driver's order, so both paths give the driver the same chunk rows and vectors.

Ray is imported inside functions only: definitions and quick commands never pay for it.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from dagster_project.cluster import ClusterInfo, cluster_address, connected
from dagster_project.documents.embed import (
    DEFAULT_EMBEDDER,
    Embedder,
    EmbedderError,
    MiniLMEmbedder,
    embed_checked,
    load_embedder,
)
from dagster_project.settings import Settings

Row = dict[str, Any]
ChunkFn = Callable[[Row], list[Row]]
IN_PROCESS = "in-process"
# Where each chunk row came from (document, then its place among the document's rows): the driver
# sorts on these, because Ray Data hands blocks back in the order they finish.
_DOC, _ROW = "_on_ray_document", "_on_ray_row"
# A worker that dies (killed, out of memory) gets its actor restarted and its batch retried (Ray
# Data's default is to retry forever); a batch that kills its worker every time fails the sync
# after this many attempts instead of looping.
ACTOR_RESTARTS = 3
TASK_RETRIES = 3
PROGRESS_STEPS = 10  # the run log hears about the embedding about every 10 %
BATCHES_PER_ACTOR = 4


@dataclass(frozen=True)
class HeavySteps:
    """Where one sync chunks and embeds.

    Attributes:
        execution: What the asset metadata says: `in-process`, or the cluster's description.
        chunk: Cuts documents into chunk rows with a per-document function, rows in input order.
        embedder: The embedder to use (on the cluster: the actor pool, with the same name and dimension).
    """

    execution: str
    chunk: Callable[[list[Row], ChunkFn], list[Row]]
    embedder: Embedder


@contextmanager
def heavy_steps(
    settings: Settings, embedder: Embedder, log: logging.Logger, *, work: bool = True
) -> Iterator[HeavySteps]:
    """The in-process steps, or (with `ray_address` set and `work` to do) those on the cluster.

    A sync with nothing to chunk does not connect: it needs no cluster, not even a reachable one.

    Raises:
        EnvironmentFailure: The cluster cannot be reached.
        EmbedderError: `embedder` is not the one `settings.embedder` names (the actors load that one).
    """
    if cluster_address(settings) is None or not work:
        yield HeavySteps(IN_PROCESS, chunk_in_process, embedder)
        return
    if load_embedder(settings.embedder).name != embedder.name:
        raise EmbedderError(
            f"the sync's embedder {embedder.name!r} is not FOUNDATION_EMBEDDER={settings.embedder!r}, "
            "which the cluster's actors load"
        )
    with connected(settings, log) as info:
        quiet_ray_data_console()
        actors = settings.ray_embedding_actors or default_actors(info)
        on_cluster = ClusterEmbedder(
            settings.embedder,
            embedder,
            info,
            actors=actors,
            batch_size=settings.ray_embedding_batch_size,
            log=log,
        )
        yield HeavySteps(info.describe(), lambda docs, fn: chunk_on_cluster(docs, fn, info), on_cluster)


def quiet_ray_data_console() -> None:
    """Keep Ray Data's own lines off the terminal: the run log gets our progress lines instead.

    Ray Data prints each dataset's start, plan and end at INFO on stderr (and, with progress bars
    off, a warning saying so), between the lines of `foundation ingest`. Its console handler is
    raised to ERROR; its file handler still writes everything to the session's `ray-data.log`.
    """
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    for handler in logging.getLogger("ray.data").handlers:
        # Ray's own console handler only: a handler another library put there (pytest's log capture,
        # a host application's) is not ours to quiet, and it may be shared with other loggers.
        if isinstance(handler, logging.StreamHandler) and type(handler).__module__.startswith("ray."):
            handler.setLevel(logging.ERROR)


def default_actors(info: ClusterInfo) -> int:
    """One embedding actor per GPU of the cluster, or per CPU when it has none."""
    return max(1, int(info.gpus if info.gpus else info.cpus))


def chunk_in_process(docs: list[Row], chunk: ChunkFn) -> list[Row]:
    """Every document's chunk rows, in document order, cut in this process."""
    return [row for doc in docs for row in chunk(doc)]


def chunk_on_cluster(docs: list[Row], chunk: ChunkFn, info: ClusterInfo) -> list[Row]:
    """Every document's chunk rows, cut by Ray tasks, in the order `chunk_in_process` gives.

    Args:
        docs: The documents, as rows of plain values (they travel as Arrow).
        chunk: A module-level function (or a partial of one): workers import it by name.
        info: The connected cluster (its CPUs decide how many blocks the documents are cut into).
    """
    import pyarrow as pa
    import ray

    if not docs:
        return []
    table = pa.Table.from_pylist([{**d, _DOC: i} for i, d in enumerate(docs)])
    # Two blocks per CPU: every worker busy, and a long document does not hold one task alone for long.
    size = math.ceil(len(docs) / max(1, 2 * int(info.cpus)))
    blocks = [table.slice(offset, size) for offset in range(0, len(docs), size)]
    dataset = ray.data.from_arrow(blocks).map_batches(
        _chunk_batch, fn_kwargs={"chunk": chunk}, batch_size=None, batch_format="pyarrow"
    )
    rows: list[Row] = []
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        rows.extend(batch.to_pylist())
    rows.sort(key=lambda r: (r[_DOC], r[_ROW]))
    for row in rows:
        del row[_DOC], row[_ROW]
    return rows


def _chunk_batch(batch: Any, chunk: ChunkFn) -> Any:
    """Ray task: one block of documents → their chunk rows, each tagged with where it came from."""
    import pyarrow as pa

    rows = []
    for doc in batch.to_pylist():
        position = doc.pop(_DOC)
        rows += [{**row, _DOC: position, _ROW: j} for j, row in enumerate(chunk(doc))]
    if not rows:  # documents with no chunk: an empty block that still names the ordering columns
        return pa.table({_DOC: pa.array([], pa.int64()), _ROW: pa.array([], pa.int64())})
    return pa.Table.from_pylist(rows)


class EmbeddingActor:
    """One actor of the pool: loads the embedder once, then embeds one batch of texts per call."""

    def __init__(self, spec: str, device: str) -> None:
        # The offline model goes to the actor's GPU when it holds one; a plug-in chooses its own device.
        if spec == DEFAULT_EMBEDDER and device != "cpu":
            self.embedder: Embedder = MiniLMEmbedder(device=device)
        else:
            self.embedder = load_embedder(spec)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = embed_checked(self.embedder, [str(t) for t in batch["text"]])
        return {"index": batch["index"], "vector": vectors}


class ClusterEmbedder:
    """An `Embedder` whose `embed` runs on the cluster's actor pool; same name and dimension as `local`."""

    def __init__(
        self,
        spec: str,
        local: Embedder,
        info: ClusterInfo,
        *,
        actors: int,
        batch_size: int,
        log: logging.Logger,
    ) -> None:
        self.spec, self.name, self.dimension = spec, local.name, int(local.dimension)
        self.gpus = info.gpus > 0
        self.actors, self.batch_size, self.log = actors, batch_size, log

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of `texts`, in their order, embedded as Ray Data batches by the actor pool.

        Raises:
            EmbedderError: A text came back without a vector (the pool lost a batch).
        """
        import pyarrow as pa
        import ray
        from ray.util.annotations import RayDeprecationWarning

        total = len(texts)
        out = np.zeros((total, self.dimension), dtype=np.float32)
        if not total:
            return out
        # At least BATCHES_PER_ACTOR batches for each actor (smaller than `batch_size` when the texts are
        # few): every actor gets work, and the last batch does not leave all but one actor idle.
        size = max(1, min(self.batch_size, math.ceil(total / (self.actors * BATCHES_PER_ACTOR))))
        blocks = [
            pa.table(
                {
                    "index": pa.array(range(start, min(start + size, total)), pa.int64()),
                    "text": pa.array(texts[start : start + size], pa.string()),
                }
            )
            for start in range(0, total, size)
        ]
        actors = min(self.actors, len(blocks))
        self.log.info(
            "embedding %d chunk(s) on the cluster: %d actor(s) on %s, batches of %d",
            total,
            actors,
            "GPUs" if self.gpus else "CPUs",
            size,
        )
        with warnings.catch_warnings():
            # Ray 2.60 names no parameter for the actors' restarts and retries: they go as the remote
            # arguments it deprecates (to be removed in 2.64; its defaults would retry forever).
            warnings.simplefilter("ignore", RayDeprecationWarning)
            dataset = ray.data.from_arrow(blocks).map_batches(
                EmbeddingActor,
                fn_constructor_kwargs={"spec": self.spec, "device": "cuda" if self.gpus else "cpu"},
                compute=ray.data.ActorPoolStrategy(size=actors),
                batch_size=size,
                batch_format="numpy",
                num_cpus=1,
                num_gpus=1 if self.gpus else 0,
                max_restarts=ACTOR_RESTARTS,
                max_task_retries=TASK_RETRIES,
            )
        seen = np.zeros(total, dtype=bool)
        step = max(1, math.ceil(total / PROGRESS_STEPS))
        reported = 0
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            out[batch["index"]] = batch["vector"]  # by index: a retried batch writes the same rows again
            seen[batch["index"]] = True
            done = int(seen.sum())
            if done - reported >= step or done == total:
                percent = 100 * done // total
                self.log.info("embedding on the cluster: %d/%d chunk(s) (%d%%)", done, total, percent)
                reported = done
        if not seen.all():
            raise EmbedderError(f"the cluster returned vectors for {int(seen.sum())} of {total} chunk texts")
        return out
