"""LightGBM fitted on a Dask cluster (`leadscore train --dask ADDRESS`): the same training as
training.trainer.train_model, with its LightGBM fits done by `lightgbm.dask.DaskLGBMClassifier`.

What runs where (`leadscore train --dask`, docs/scale.md):

- On the cluster: every LightGBM fit (the early-stopping fit on the fit slice, the refits on
  all training leads but one fold for the out-of-fold predictions, the final refit on all
  training leads), with the hyper-parameters train_model's own `_classifier` gives, and the
  validation curve that chooses the number of trees. The fits learn from every lead of the
  export: the examples are built on the workers' lead partitions (features.partitions) and
  their model inputs computed and kept there (`PartitionedInputs`), each fit sending only which
  stretch of time it learns from.
- On the client, exactly as train_model does them, on a sample of the leads
  (training.minimum_data.training_plan_on_cluster: `max_leads`, auto 60,000): the time split,
  the transform (category codes, missing values), the logistic model (the baseline), the
  calibration and the blend weight on the out-of-fold predictions, the holdout predictions
  and metrics, the sub-scores, the stages and the leakage report.

`inputs_on_cluster` (the client's own model inputs sent to the workers) is what segment models
use: they learn from the client's leads of their segment.

Early stopping: LightGBM's Dask estimator does not stop early reliably (each worker evaluates
its own part of the validation set and may stop at a different tree: microsoft/LightGBM#6197,
#3712). So the cluster fits `max_trees` trees on the fit slice, the workers add up the
validation slice's log loss after every tree (sklearn's log_loss, per partition), and that
curve is replayed through LightGBM's own `early_stopping` callback, which picks the tree count
exactly as the single-machine fit's callback does on the same curve.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from training.config import TrainingConfig
from training.trainer import LightGBMFitting, Split, _classifier, _safe

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from features.transform import LeadTransform

PARTITION_BYTES = 64 * 2**20
"""Target size of one partition of model inputs on the workers (64 MiB: Dask's usual chunk)."""
SHUFFLE_SEED = 20261201
"""Rows are spread over the partitions in a fixed random order, so every partition holds rows of
every slice (a worker left with no row of a slice would stop LightGBM's network training)."""


def _workers(client: "Client") -> dict:
    return client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(client) \
        else client.scheduler_info()["workers"]


def worker_threads(client: "Client") -> tuple[int, int]:
    """(workers, threads of the smallest worker) of the cluster the client talks to."""
    workers = _workers(client)
    if not workers:
        from features.errors import LeadscoreError

        raise LeadscoreError("the Dask cluster has no worker: start at least one (dask worker tcp://scheduler:8786)")
    return len(workers), min(int(w.get("nthreads", 1)) for w in workers.values())


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _take(part: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """On a worker: the rows of one partition the mask keeps."""
    return part[keep]


@dataclass
class ClusterExamples:
    """The examples' model inputs and labels on the workers: partitions of rows taken in a fixed
    random order (`order`: the example row of each position), partition i held by `workers[i]`.

    Where each partition's rows sit decides the model: LightGBM's Dask fit trains each worker on
    the rows it holds and ranks the workers by where the first partition sits, so the same rows
    on other workers give other bins and trees. Measured: with the selection left to Dask's
    scheduler, the same fits on the same 3,000-lead CRM placed their partitions differently run to
    run and the holdout ROC-AUC moved between 0.739 and 0.766 (one CI run failed the calibration
    gate that way). So every selection runs on the worker that holds its partition and nowhere
    else (`allow_other_workers=False`), and the same data gives the same model.
    """

    client: "Client"
    X_parts: list  # futures, (rows, features) float64 each
    y_parts: list  # futures, (rows,) each
    workers: list[str]  # the worker address holding each partition
    order: np.ndarray
    starts: np.ndarray  # where each partition starts in `order`; one more entry: its length
    width: int

    def rows(self, rows: np.ndarray):
        """(X, y) of the given example rows, as dask arrays on the workers, in partition order.
        Partitions that keep no row are left out."""
        import dask.array as da

        mask = np.zeros(len(self.order), dtype=bool)
        mask[rows] = True
        mask = mask[self.order]
        X_kept, y_kept = [], []
        for number, worker in enumerate(self.workers):
            keep = mask[self.starts[number]:self.starts[number + 1]]
            kept = int(keep.sum())
            if kept == 0:
                continue
            on = dict(workers=[worker], allow_other_workers=False)
            x_future = self.client.submit(_take, self.X_parts[number], keep, **on)
            y_future = self.client.submit(_take, self.y_parts[number], keep, **on)
            X_kept.append(da.from_delayed(x_future, shape=(kept, self.width), dtype=np.float64))
            y_kept.append(da.from_delayed(y_future, shape=(kept,), dtype=np.int64))
        return da.concatenate(X_kept), da.concatenate(y_kept)


def inputs_on_cluster(client: "Client", X: np.ndarray, y: np.ndarray) -> ClusterExamples:
    """Send the examples' model inputs (n, features) and labels (n,) to the workers once, in
    partitions of about PARTITION_BYTES (at least two per worker), and keep them there. Each
    partition is scattered on its own, so the client never holds a second copy of X."""
    workers, _ = worker_threads(client)
    n, width = X.shape
    parts = max(2 * workers, math.ceil(X.nbytes / PARTITION_BYTES))
    size = max(1, math.ceil(n / parts))
    order = np.random.default_rng(SHUFFLE_SEED).permutation(n)
    addresses = _worker_order(client)
    X_parts, y_parts, held_by = [], [], []
    starts = np.arange(0, n, size)
    for number, start in enumerate(starts):
        rows = order[start:start + size]
        worker = addresses[number % len(addresses)]  # a partition's inputs and labels side by side
        x_future, y_future = client.scatter([np.ascontiguousarray(X[rows], dtype=np.float64),
                                             y[rows].astype(np.int64)], hash=False, workers=[worker])
        X_parts.append(x_future)
        y_parts.append(y_future)
        held_by.append(worker)
    return ClusterExamples(client, X_parts, y_parts, held_by, order, np.append(starts, n), width)


def _worker_order(client: "Client") -> list[str]:
    """The workers' addresses by name (LocalCluster: 0, 1, ...), not address: a LocalCluster's
    ports are new on every start, and which rows sit on which LightGBM machine changes the bins
    and the trees."""
    workers_info = _workers(client)
    return sorted(workers_info, key=lambda a: (str(workers_info[a].get("name", a)), a))


def _part(inputs: tuple, i: int) -> np.ndarray:
    return inputs[i]


def _representative(order: np.ndarray, place: np.ndarray, sample_order: np.ndarray,
                    sample_place: np.ndarray) -> np.ndarray:
    """On a worker: per example, the client's sample lead that stands for it in time: the
    first sample lead at or after its (order, PLACE), the last one for examples after every
    sample lead. A sample lead stands for itself."""
    n = len(sample_order)
    if n == 0:
        return np.zeros(len(order), dtype=np.int64)
    flag = np.r_[np.ones(n, dtype=np.int8), np.zeros(len(order), dtype=np.int8)]
    ranked = np.lexsort((flag, np.r_[sample_place, place], np.r_[sample_order, order]))
    before = np.cumsum(flag[ranked])  # sample leads at or before each position (an example sorts before its equal)
    out = np.empty(len(order), dtype=np.int64)
    is_example = ranked >= n
    out[ranked[is_example] - n] = before[is_example]
    return np.minimum(out, n - 1)


def _chosen(part: np.ndarray, representative: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """On a worker: the rows of one partition whose representative sample lead is chosen."""
    return part[chosen[representative]]


def _chosen_count(representative: np.ndarray, chosen: np.ndarray) -> int:
    return int(np.count_nonzero(chosen[representative]))


@dataclass
class PartitionedInputs:
    """Every lead's model inputs on the workers (features.partitions.PartitionedExamples), for
    LightGBM, while the client holds a sample of the leads (training.minimum_data.
    training_plan_on_cluster) and fits everything else on it.

    The client's fits name example rows of its sample (the fit slice, the validation slice, all
    training leads but one fold); the cluster fits learn from every lead those rows stand for in
    time. Every example on the cluster is given, once, the sample lead that stands for it: the
    first sample lead at or after it in the time order of the single-machine path (`order`,
    then the lead's PLACE). The time split and the folds are consecutive runs of sample leads in
    that order, so a choice of them is a consecutive run of time on the cluster: leads between
    the last fit lead and the first validation lead of the sample learn with the validation
    slice, leads after the last training lead fall in the holdout, which no fit learns from.
    Without a sample (every lead on the client) each lead stands for itself and the fits learn
    from exactly the rows they name.

    Partition i is computed and kept on the i-th worker by name (modulo their number), and every
    selection runs there, so the same export on the same workers gives the same model."""

    client: "Client"
    X_parts: list
    y_parts: list
    representatives: list
    workers: list[str]
    lead_of: np.ndarray  # the client's sample: per example row, its lead (0.. in time order)
    width: int

    @classmethod
    def build(cls, client: "Client", examples, sample, places: np.ndarray, transform: "LeadTransform"):
        """examples: PartitionedExamples; sample: the client's Examples of some of its leads in
        time order, with `places` (each example's lead PLACE, as `PartitionedExamples.gather`
        gives them)."""
        workers = _worker_order(client)
        inputs = examples.model_inputs(transform, workers)
        lead = sample.lead_of
        _, first = np.unique(lead, return_index=True)
        keys = client.scatter([sample.order[first].astype(np.float64), np.asarray(places)[first].astype(np.int64)],
                              broadcast=True, hash=False)
        X_parts, y_parts, representatives, held_by = [], [], [], []
        for i, future in enumerate(inputs):
            on = dict(workers=[workers[i % len(workers)]], allow_other_workers=False)
            X_parts.append(client.submit(_part, future, 0, **on))
            y_parts.append(client.submit(_part, future, 1, **on))
            order = client.submit(_part, future, 2, **on)
            place = client.submit(_part, future, 3, **on)
            representatives.append(client.submit(_representative, order, place, *keys, **on))
            held_by.append(workers[i % len(workers)])
        width = len(transform.names)
        return cls(client, X_parts, y_parts, representatives, held_by, lead, width)

    def wait(self) -> None:
        """Until every partition's inputs are computed (so what they were computed from may go)."""
        from distributed import wait

        wait([*self.X_parts, *self.y_parts, *self.representatives])

    def _selection(self, rows: np.ndarray) -> tuple:
        """(the chosen sample leads on the workers, how many examples each partition keeps)."""
        chosen = np.zeros(int(self.lead_of.max()) + 1 if len(self.lead_of) else 0, dtype=bool)
        chosen[self.lead_of[np.asarray(rows)]] = True
        [chosen_future] = self.client.scatter([chosen], broadcast=True, hash=False)
        counts = self.client.gather([self.client.submit(_chosen_count, r, chosen_future, workers=[w],
                                                        allow_other_workers=False)
                                     for r, w in zip(self.representatives, self.workers)])
        return chosen_future, counts

    def count(self, rows: np.ndarray) -> int:
        """How many examples on the workers the client's example `rows` stand for."""
        return int(sum(self._selection(rows)[1]))

    def rows(self, rows: np.ndarray):
        """(X, y) on the workers of every example the client's example `rows` stand for, as dask
        arrays in partition order. Partitions that keep no row are left out."""
        import dask.array as da

        chosen_future, counts = self._selection(rows)
        X_kept, y_kept = [], []
        for number, (worker, kept) in enumerate(zip(self.workers, counts)):
            if kept == 0:
                continue
            on = dict(workers=[worker], allow_other_workers=False)
            x_future = self.client.submit(_chosen, self.X_parts[number], self.representatives[number], chosen_future, **on)
            y_future = self.client.submit(_chosen, self.y_parts[number], self.representatives[number], chosen_future, **on)
            X_kept.append(da.from_delayed(x_future, shape=(kept, self.width), dtype=np.float64))
            y_kept.append(da.from_delayed(y_future, shape=(kept,), dtype=np.int64))
        return da.concatenate(X_kept), da.concatenate(y_kept)


CURVE_ROWS = 20_000
"""Rows whose per-tree leaves `_validation_log_loss` holds at once (rows x trees x 8 bytes: 320 MB
at 2,000 trees)."""


def _validation_log_loss(model_string: str, X: np.ndarray, y: np.ndarray, trees: int) -> np.ndarray:
    """On a worker: the summed log loss of its rows after each of the first `trees` trees,
    (1, trees). Each row's leaf in every tree comes from one `pred_leaf` pass; the raw score
    after k trees is the sum of the first k leaf values (what LightGBM's raw_score adds up), and
    a row's loss log(1 + exp(-s)) for a won lead, log(1 + exp(s)) for a lost one (the binary log
    loss from the raw score s, as `binary_logloss` computes it). Predicting each tree on its own
    and scoring it with sklearn's log_loss cost a LightGBM pass and a full validation per tree;
    `benchmarks/validation_curve.py` prints both ways' time (tests/training/test_dask_training.py
    holds this one to LightGBM's own per-tree validation log loss)."""
    import lightgbm as lgb

    out = np.zeros((1, trees))
    if len(y) == 0:
        return out
    booster = lgb.Booster(model_str=model_string)
    infos = booster.dump_model()["tree_info"][:trees]
    leaf_values = np.zeros((trees, max(info["num_leaves"] for info in infos)))
    for tree, info in enumerate(infos):
        for leaf in range(info["num_leaves"]):
            leaf_values[tree, leaf] = booster.get_leaf_output(tree, leaf)
    sign = np.where(np.asarray(y) == 1, -1.0, 1.0)
    for start in range(0, len(y), CURVE_ROWS):
        leaves = booster.predict(X[start:start + CURVE_ROWS], pred_leaf=True, num_iteration=trees).reshape(-1, trees)
        raw = np.cumsum(leaf_values[np.arange(trees), leaves], axis=1)
        out[0] += np.logaddexp(0.0, raw * sign[start:start + CURVE_ROWS, None]).sum(axis=0)
    return out


def early_stopping_iteration(curve: np.ndarray, rounds: int) -> int:
    """The number of trees LightGBM's early_stopping(rounds) callback keeps for this validation
    log-loss curve (one value per tree), replayed through the callback itself."""
    import lightgbm as lgb

    callback = lgb.early_stopping(rounds, verbose=False)
    for tree, value in enumerate(curve):
        result = lgb.callback.EvalResult(dataset_name="valid_0", metric_name="binary_logloss",
                                         metric_value=float(value), maximize=False, metric_std_dev=None)
        env = lgb.callback.CallbackEnv(model=None, params={}, iteration=tree, begin_iteration=0,
                                       end_iteration=len(curve), evaluation_result_list=[result])
        try:
            callback(env)
        except lgb.callback.EarlyStopException as stop:
            return stop.best_iteration + 1
    return len(curve)


class _PartsInOrder:
    """The Dask client as LightGBM's Dask fit sees it: the same client, except that `who_has`
    answers in the order of the futures it is given.

    LightGBM ranks its machines and stacks each worker's parts in the order `who_has` answers
    (lightgbm/dask.py, `_train`), and distributed's `Client.who_has` asks the scheduler for a set
    of keys, whose order changes with every process's string hashing. A worker's rank decides
    which features' bins it finds from its own rows, so that order changed the model run to run.
    Given in partition order, the first partition's worker is rank 0 and every worker stacks its
    parts as they were sent."""

    def __init__(self, client: "Client"):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def who_has(self, futures=None, **kwargs):
        answer = self._client.who_has(futures, **kwargs)
        if futures is None:
            return answer
        keys = dict.fromkeys(f.key for f in self._client.futures_of(futures))
        return type(answer)({key: answer[key] for key in keys})


@dataclass
class DaskLightGBM:
    """LightGBMFitting on a Dask cluster: `fitting()` gives train_model its `lightgbm`.

    Without `partitioned`, the fits learn from the client's model inputs, sent to the workers
    (`inputs_on_cluster`). With it ((PartitionedExamples, the client's sample Examples, their
    PLACEs), as training.minimum_data.training_plan_on_cluster gives them), they learn from
    every lead on the workers (`PartitionedInputs`); train_model must then be given that
    sample, and the model inputs are built on the workers with its fitted transform."""

    client: "Client"
    partitioned: tuple | None = None
    fits: list[dict] = field(default_factory=list)  # what each fit learnt from, for the run's record
    _on_cluster: "ClusterExamples | PartitionedInputs | None" = None
    _sent: object = None  # what the inputs were made from (held, so it is never mistaken for another)

    def fitting(self) -> LightGBMFitting:
        return LightGBMFitting(fit=self.fit, refit=self.refit, examples=self.examples)

    def examples(self, rows: np.ndarray) -> int:
        """How many examples a fit naming `rows` learns from: with partitioned inputs, every
        example on the workers they stand for; else len(rows)."""
        if isinstance(self._on_cluster, PartitionedInputs):
            return self._on_cluster.count(rows)
        return len(rows)

    def release(self) -> None:
        """Drop the inputs on the workers (and the partitioned examples): no fit follows."""
        self._on_cluster, self._sent, self.partitioned = None, None, None

    def _examples(self, X: np.ndarray, y: np.ndarray, transform: "LeadTransform"):
        source = transform if self.partitioned is not None else X
        if self._on_cluster is None or self._sent is not source:
            self._on_cluster = None  # the previous arrays leave the workers before the next arrive
            if self.partitioned is not None:
                examples, sample, places = self.partitioned
                if len(sample) != len(X) or examples is None:
                    raise ValueError("DaskLightGBM: train_model was given other examples than the sample the "
                                     "partitioned inputs stand for, or a second transform (the examples are "
                                     "released once their model inputs are built)")
                self._on_cluster = PartitionedInputs.build(self.client, examples, sample, places, transform)
                # The workers keep the model inputs: the examples and the export's partitions can go.
                self._on_cluster.wait()
                self.partitioned = (None, sample, places)
            else:
                self._on_cluster = inputs_on_cluster(self.client, X, y)
            self._sent = source
        return self._on_cluster

    def _estimator(self, config: TrainingConfig, transform: "LeadTransform", n_features: int, trees: int):
        from lightgbm.dask import DaskLGBMClassifier

        params = _classifier(config, transform, n_features, trees).get_params()
        # lightgbm.dask gives each worker as many threads as the worker has (and warns about
        # any n_jobs): not a hyper-parameter, the trees do not depend on it.
        params.pop("n_jobs", None)
        return DaskLGBMClassifier(client=_PartsInOrder(self.client), **params)

    def _fit(self, X, y, rows, transform, config, trees):
        on_cluster = self._examples(X, y, transform)
        X_d, y_d = on_cluster.rows(rows)
        model = self._estimator(config, transform, X.shape[1], trees)
        with warnings.catch_warnings():
            # LightGBM's scikit-learn layer always sets the thread count, which its Dask layer then
            # replaces by each worker's threads, warning every fit: nothing a user set or can change.
            warnings.filterwarnings("ignore", message="Parameter (n_jobs|num_threads) will be ignored")
            model.fit(X_d, y_d, categorical_feature=transform.categorical_indices or "auto",
                      feature_name=[_safe(n) for n in transform.names])
        self.fits.append({"rows": int(y_d.shape[0]), "trees": trees})
        return model

    def fit(self, X: np.ndarray, y: np.ndarray, split: Split, transform: "LeadTransform", config: TrainingConfig):
        """`max_trees` trees on the fit slice, on the cluster; the number to keep from the
        validation slice's log loss after each tree, summed on the workers and replayed
        through LightGBM's early_stopping callback. Returns what fit_lightgbm returns
        (booster_, best_iteration_, n_estimators)."""
        import dask

        trees = config.model.max_trees
        model = self._fit(X, y, split.fit, transform, config, trees)
        booster = model.booster_
        trees = booster.current_iteration()
        X_v, y_v = self._on_cluster.rows(split.validation)
        model_string = dask.delayed(booster.model_to_string())
        parts = [dask.delayed(_validation_log_loss)(model_string, x, t, trees)
                 for x, t in zip(X_v.to_delayed().ravel(), y_v.to_delayed().ravel())]
        curve = np.vstack(self.client.compute(parts, sync=True)).sum(axis=0) / y_v.shape[0]
        best = early_stopping_iteration(curve, config.model.early_stopping_rounds)
        return SimpleNamespace(booster_=booster, best_iteration_=best, n_estimators=trees)

    def refit(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray, transform: "LeadTransform",
              config: TrainingConfig, trees: int):
        return self._fit(X, y, rows, transform, config, trees).booster_
