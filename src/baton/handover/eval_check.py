"""Refuse at hand-over the eval data that no evaluation could read.

The evaluation's own reader (``evaluate/datasets.py``) opens the file, checks its header
(format, rows, arrays or columns named after the signature) and reads the first batch, so
a file that cannot be read, or whose arrays do not fit the model, is refused at
``baton register`` rather than at the first ``baton evaluate``. The rest of the file is
read only when it is evaluated.
"""

from __future__ import annotations

from baton.core.manifest import Task
from baton.evaluate.datasets import EvalData
from baton.evaluate.scoring import class_indices, classes_of, scored_output
from baton.handover.bundle import HandOver

FIRST_BATCH = 256  # rows read at hand-over: enough to meet every array, cheap for any file


def check_eval_data(handover: HandOver) -> None:
    """Raise BadInput, naming the file and what does not fit, when the eval data is unusable.

    It is read as the evaluation will read it: under the name it is stored with, and with
    the target that classification and regression need (optional for the other tasks)."""
    spec, path = handover.manifest.eval, handover.eval_path
    if spec is None or path is None:
        return
    manifest = handover.manifest
    needs_target = manifest.task in (Task.CLASSIFICATION, Task.REGRESSION)
    data = EvalData(path, path.name, manifest.signature, None)
    if needs_target or data.has_key(spec.target):
        data = EvalData(path, path.name, manifest.signature, spec.target)
    first = next(iter(data.batches(FIRST_BATCH)), None)
    classes = None
    if manifest.task is Task.CLASSIFICATION and scored_output(manifest).shape:
        classes = classes_of(manifest)
    if first is not None and first.target is not None and classes is not None:
        class_indices(first.target, manifest.labels, classes, path.name)
