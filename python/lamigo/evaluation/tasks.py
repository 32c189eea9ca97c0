"""Downstream tasks at the receiver (paper Tables V-VI): what a receiver can still do with an
image. A task maps an image to a prediction and scores the predictions of a set of images
against references: the original image's predictions, or ground truth where it is given.

A new task is one class registered with `@TASKS.register`; `build_tasks` makes those that can
run and says why the others were skipped. The offline tasks need only OpenCV (face and
pedestrian detection, Canny edges); `detection` and `depth` load a transformers model from a
local folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamigo.errors import ConfigError
from lamigo.registry import Registry

logger = logging.getLogger(__name__)

__all__ = ["Task", "TASKS", "TaskOptions", "Boxes", "add_task_options", "build_tasks", "box_agreement",
           "box_iou", "depth_errors", "edge_f_score", "mean_average_precision", "run_tasks", "task_options"]

IOU_MATCH = 0.5
EDGE_TOLERANCE_PX = 1  # an edge pixel counts as found within this distance (one pixel, 8-connected)
DEPTH_DELTA = 1.25


@dataclass(frozen=True)
class Boxes:
    """Detections of one image: `boxes` (N, 4) as x0, y0, x1, y1 pixels, `scores` and `labels` (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, boxes, scores=None, labels=None) -> Boxes:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        scores = np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(n)
        labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64).reshape(n)
        return cls(boxes, scores, labels)

    def above(self, threshold: float) -> Boxes:
        keep = self.scores >= threshold
        return Boxes(self.boxes[keep], self.scores[keep], self.labels[keep])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (N, 4) with every box of `b` (M, 4), x0 y0 x1 y1."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda boxes: (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def _f1(precision: float, recall: float) -> float:
    if recall == 0 or precision == 0:  # references (or predictions) met nothing: no agreement
        return 0.0
    if np.isnan(precision) or np.isnan(recall):
        return float("nan")
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def box_agreement(predictions: Sequence[Boxes], references: Sequence[Boxes],
                  iou: float = IOU_MATCH) -> dict[str, float]:
    """Precision, recall and F1 over all images: a predicted box is a hit when it matches an
    unmatched reference box of the same label at IoU >= `iou` (greedy, highest score and IoU
    first). NaN where a ratio has nothing to count (no predictions, or no references)."""
    hits = predicted = expected = 0
    for prediction, reference in zip(predictions, references, strict=True):
        predicted += len(prediction.boxes)
        expected += len(reference.boxes)
        overlap = box_iou(prediction.boxes, reference.boxes)
        overlap[prediction.labels[:, None] != reference.labels[None, :]] = 0
        taken = np.zeros(len(reference.boxes), bool)
        for i in np.argsort(-prediction.scores, kind="stable"):
            candidates = np.where(~taken & (overlap[i] >= iou))[0]
            if len(candidates):
                taken[candidates[np.argmax(overlap[i, candidates])]] = True
                hits += 1
    precision, recall = _ratio(hits, predicted), _ratio(hits, expected)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "reference_boxes": float(expected)}


def mean_average_precision(predictions: Sequence[Boxes], references: Sequence[Boxes]) -> dict[str, float]:
    """COCO mAP@0.5 and mAP@[.5:.95] of `predictions` against `references` (ground truth) over all
    images, with pycocotools' COCOeval. NaN when the references hold no box."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, detections = [], [], []
    for image_id, (prediction, reference) in enumerate(zip(predictions, references, strict=True), 1):
        images.append({"id": image_id})
        for box, label in zip(reference.boxes, reference.labels):
            x0, y0, x1, y1 = map(float, box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                                "iscrowd": 0})
        for box, score, label in zip(prediction.boxes, prediction.scores, prediction.labels):
            x0, y0, x1, y1 = map(float, box)
            detections.append({"image_id": image_id, "category_id": int(label),
                               "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score)})
    if not annotations:
        return {"map_50": float("nan"), "map_50_95": float("nan")}
    truth = COCO()
    labels = sorted({int(label) for reference in references for label in reference.labels}
                    | {int(label) for prediction in predictions for label in prediction.labels})
    truth.dataset = {"images": images, "annotations": annotations,
                     "categories": [{"id": label} for label in labels]}
    if not detections:
        return {"map_50": 0.0, "map_50_95": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints every step
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # stats[0] is AP at IoU .50:.95, stats[1] at .50; -1 means no ground truth in any category.
    return {"map_50": max(float(evaluation.stats[1]), 0.0), "map_50_95": max(float(evaluation.stats[0]), 0.0)}


def edge_f_score(predictions: Sequence[np.ndarray], references: Sequence[np.ndarray],
                 tolerance: int = EDGE_TOLERANCE_PX) -> dict[str, float]:
    """Edge-map precision, recall and F-score over all images: a predicted edge pixel is right
    when a reference edge lies within `tolerance` pixels, a reference edge is found when a
    predicted one does."""
    import cv2

    kernel = np.ones((2 * tolerance + 1,) * 2, np.uint8)
    right = predicted = found = expected = 0
    for prediction, reference in zip(predictions, references, strict=True):
        prediction, reference = prediction.astype(bool), reference.astype(bool)
        near_reference = cv2.dilate(reference.astype(np.uint8), kernel).astype(bool)
        near_prediction = cv2.dilate(prediction.astype(np.uint8), kernel).astype(bool)
        right += int((prediction & near_reference).sum())
        predicted += int(prediction.sum())
        found += int((reference & near_prediction).sum())
        expected += int(reference.sum())
    precision, recall = _ratio(right, predicted), _ratio(found, expected)
    return {"precision": precision, "recall": recall, "f_score": _f1(precision, recall)}


def depth_errors(predictions: Sequence[np.ndarray], references: Sequence[np.ndarray],
                 median_scaling: bool = True) -> dict[str, float]:
    """RMSE, AbsRel and delta < 1.25 per image, averaged over the images, on the pixels where
    the reference depth is positive; with `median_scaling` each prediction is first scaled so
    its median equals the reference's (the usual protocol for relative-depth models)."""
    rmse, abs_rel, delta = [], [], []
    for prediction, reference in zip(predictions, references, strict=True):
        prediction, reference = np.asarray(prediction, np.float64), np.asarray(reference, np.float64)
        if prediction.shape != reference.shape:
            raise ValueError(f"depth maps of shapes {prediction.shape} and {reference.shape}")
        valid = np.isfinite(reference) & (reference > 0) & np.isfinite(prediction)
        if not valid.any():
            continue
        p, r = prediction[valid], reference[valid]
        if median_scaling:
            p = p * (np.median(r) / max(np.median(p), 1e-12))
        p = np.maximum(p, 1e-12)
        rmse.append(np.sqrt(np.mean((p - r) ** 2)))
        abs_rel.append(np.mean(np.abs(p - r) / r))
        delta.append(np.mean(np.maximum(p / r, r / p) < DEPTH_DELTA))
    mean = lambda values: float(np.mean(values)) if values else float("nan")  # noqa: E731
    return {"rmse": mean(rmse), "abs_rel": mean(abs_rel), "delta_1": mean(delta)}


@dataclass(frozen=True)
class TaskOptions:
    """What the tasks may use: `detector` and `depth` folders (transformers), a COCO annotation
    file whose boxes replace the original's detections as the reference of `detection`, the
    score a detection needs to count as one of the original's, and a folder of ground-truth
    depth maps (NAME.npy) that replace the original's depth as the reference of `depth`."""

    detector: Path | None = None
    depth: Path | None = None
    annotations: Path | None = None
    detection_threshold: float = 0.5
    depth_truth: Path | None = None

    def __post_init__(self) -> None:
        for name in ("detector", "depth"):
            folder = getattr(self, name)
            if folder is not None and not Path(folder).is_dir():
                raise ConfigError(f"--{name} {folder}: no such folder (a transformers model folder)")
        if self.annotations is not None and not Path(self.annotations).is_file():
            raise ConfigError(f"--annotations {self.annotations}: no such file (a COCO annotation JSON)")
        if self.annotations is not None and self.detector is None:
            raise ConfigError("--annotations scores the detection task: give --detector DIR too")
        if self.depth_truth is not None and (self.depth is None or not Path(self.depth_truth).is_dir()):
            raise ConfigError(f"--depth-truth {self.depth_truth} must be a folder of NAME.npy depth maps, "
                              "given with --depth DIR")
        if not 0 <= self.detection_threshold <= 1:
            raise ConfigError(f"--detection-threshold must lie in [0, 1], got {self.detection_threshold}")


class Task(ABC):
    """A downstream task: `predict` maps an RGB uint8 image to a prediction, `score` scores the
    predictions of a set of images against their references (predictions of the originals, or
    `ground_truth`), returning named metrics (`metrics`, in that order); `headline` is the one
    plotted, `lower_is_better` its direction."""

    name: str = ""
    title: str = ""
    paper: str = ""
    metrics: tuple[str, ...] = ()
    headline: str = ""
    lower_is_better: bool = False
    # Why the task cannot run with these options (no folder given); None: it can. A task that
    # should run but cannot (OpenCV missing) raises ConfigError instead.
    unavailable: Callable[[TaskOptions], str | None] = staticmethod(lambda options: None)

    @abstractmethod
    def predict(self, image: np.ndarray): ...

    @abstractmethod
    def score(self, predictions: Sequence, references: Sequence) -> dict[str, float]: ...

    def ground_truth(self, image_name: str, size: tuple[int, int]):
        """The reference of an image from outside (an annotation file), fitted as the image was to
        `size` (height, width), or None: the original's prediction is the reference."""
        return None


TASKS: Registry[type[Task]] = Registry("task")  #: task classes by name


def _opencv() -> object:
    try:
        import cv2
    except ImportError as err:
        raise ConfigError(f"the offline tasks need OpenCV: install the pip package opencv-python (a "
                          f"dependency of this project; make setup) ({err})") from err
    return cv2


def _cascade_file(name: str) -> Path:
    """A Haar cascade shipped with OpenCV: in the opencv-python wheel, else Debian's opencv-data."""
    cv2 = _opencv()
    places = [Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or "/nonexistent"),
              Path("/usr/share/opencv4/haarcascades"), Path("/usr/share/opencv/haarcascades")]
    for place in places:
        if (place / name).is_file():
            return place / name
    raise ConfigError(f"OpenCV's Haar cascade {name} not found in {', '.join(map(str, places))}: "
                      "reinstall the pip package opencv-python (its wheel ships them) or install Debian's "
                      "opencv-data")


class _Agreement(Task):
    metrics = ("precision", "recall", "f1", "reference_boxes")
    headline = "f1"

    def score(self, predictions, references):
        return box_agreement(predictions, references)


@TASKS.register
class FaceDetection(_Agreement):
    """Faces found by OpenCV's frontal-face Haar cascade, scored as agreement with the original's."""

    name = "faces"
    title = "Face detection (OpenCV Haar cascade), agreement with the original's faces"
    paper = "Table VI (detection)"
    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(self, options: TaskOptions) -> None:
        cv2 = _opencv()
        self.cv2 = cv2
        self.detector = cv2.CascadeClassifier(str(_cascade_file(self.CASCADE)))
        if self.detector.empty():
            raise ConfigError(f"OpenCV could not read its cascade {self.CASCADE}")

    def predict(self, image: np.ndarray) -> Boxes:
        grey = self.cv2.equalizeHist(self.cv2.cvtColor(image, self.cv2.COLOR_RGB2GRAY))
        found = self.detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        boxes = [(x, y, x + w, y + h) for x, y, w, h in np.reshape(found, (-1, 4))]
        return Boxes.of(boxes)


@TASKS.register
class PedestrianDetection(_Agreement):
    """People found by OpenCV's built-in HOG + linear SVM detector (Dalal-Triggs), scored as agreement."""

    name = "pedestrians"
    title = "Pedestrian detection (OpenCV HOG people detector), agreement with the original's"
    paper = "Table VI (detection)"

    def __init__(self, options: TaskOptions) -> None:
        cv2 = _opencv()
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def predict(self, image: np.ndarray) -> Boxes:
        width, height = self.hog.winSize
        if image.shape[0] < height or image.shape[1] < width:  # no room for one person (OpenCV would fail)
            return Boxes.of(np.zeros((0, 4)))
        found, weights = self.hog.detectMultiScale(np.ascontiguousarray(image), winStride=(8, 8),
                                                   padding=(8, 8), scale=1.05)
        boxes = [(x, y, x + w, y + h) for x, y, w, h in np.reshape(found, (-1, 4))]
        return Boxes.of(boxes, np.reshape(weights, -1) if len(boxes) else None)


@TASKS.register
class Edges(Task):
    """Canny edges of the grey image (thresholds 100 and 200), scored as an edge-map F-score."""

    name = "edges"
    title = "Canny edge map, F-score against the original's (1-pixel tolerance)"
    paper = "structure"
    metrics = ("precision", "recall", "f_score")
    headline = "f_score"

    def __init__(self, options: TaskOptions) -> None:
        self.cv2 = _opencv()

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.cv2.Canny(self.cv2.cvtColor(image, self.cv2.COLOR_RGB2GRAY), 100, 200) > 0

    def score(self, predictions, references):
        return edge_f_score(predictions, references)


def _load_transformers(folder: Path, auto_class: str, what: str):
    """(image processor, model in eval mode) of a local transformers folder; a folder that does
    not load is one WeightsError line (`load_pretrained`, as for the text encoders)."""
    import transformers

    from lamigo.models.conditions import load_pretrained

    processor = load_pretrained(transformers.AutoImageProcessor, folder, f"{what} image processor")
    model = load_pretrained(getattr(transformers, auto_class), folder, f"{what} ({auto_class})")
    return processor, model.eval()


@TASKS.register
class ObjectDetection(Task):
    """Any transformers AutoModelForObjectDetection (DETR, YOLOS, RT-DETR, ...) from a local folder.
    The reference is the original's detections scoring at least `detection_threshold`, or the
    boxes of a COCO annotation file (matched by file name stem); mAP with pycocotools."""

    name = "detection"
    title = "Object detection (transformers), mAP against the original's detections"
    paper = "Table VI"
    metrics = ("map_50", "map_50_95")
    headline = "map_50"
    unavailable = staticmethod(lambda options: None if options.detector else "no --detector DIR given")
    MIN_SCORE = 0.05  # detections kept for mAP (COCO's usual floor)

    def __init__(self, options: TaskOptions) -> None:
        self.processor, self.model = _load_transformers(Path(options.detector), "AutoModelForObjectDetection", "detector")
        self.threshold = options.detection_threshold
        self.truth = _coco_boxes(Path(options.annotations)) if options.annotations else None

    def predict(self, image: np.ndarray) -> Boxes:
        import torch

        with torch.no_grad():
            outputs = self.model(**self.processor(images=image, return_tensors="pt"))
        (found,) = self.processor.post_process_object_detection(
            outputs, threshold=self.MIN_SCORE, target_sizes=[image.shape[:2]])
        return Boxes.of(found["boxes"].numpy(), found["scores"].numpy(), found["labels"].numpy())

    def ground_truth(self, image_name: str, size: tuple[int, int]) -> Boxes | None:
        if self.truth is None:
            return None
        if image_name not in self.truth:
            return Boxes.of(np.zeros((0, 4)))
        from lamigo.images import fit_geometry

        boxes, shape = self.truth[image_name]
        (scaled_width, scaled_height), left, top = fit_geometry(shape, size)
        scale = np.array([scaled_width / shape[1], scaled_height / shape[0]] * 2)
        fitted = boxes.boxes * scale - np.array([left, top, left, top])
        fitted = np.clip(fitted, 0, [size[1], size[0], size[1], size[0]])
        keep = (fitted[:, 2] > fitted[:, 0]) & (fitted[:, 3] > fitted[:, 1])  # boxes the crop cut away go
        return Boxes(fitted[keep], boxes.scores[keep], boxes.labels[keep])

    def score(self, predictions, references):
        if self.truth is None:  # the original's confident detections stand for ground truth
            references = [reference.above(self.threshold) for reference in references]
        return mean_average_precision(predictions, references)


def _coco_boxes(path: Path) -> dict[str, tuple[Boxes, tuple[int, int]]]:
    """Ground-truth boxes of a COCO annotation file by image file-name stem, with the (height,
    width) of the image they were drawn on."""
    try:
        data = json.loads(path.read_text())
        images = {image["id"]: (Path(image["file_name"]).stem, (int(image["height"]), int(image["width"])))
                  for image in data["images"]}
        boxes: dict[str, list] = {name: [] for name, _ in images.values()}
        for annotation in data["annotations"]:
            x, y, w, h = map(float, annotation["bbox"])
            boxes[images[annotation["image_id"]][0]].append((x, y, x + w, y + h, int(annotation["category_id"])))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path} is not a COCO annotation file: {err!r}") from err
    shapes = dict(images.values())
    return {name: (Boxes.of([row[:4] for row in rows], None, [row[4] for row in rows]), shapes[name])
            for name, rows in boxes.items()}


@TASKS.register
class DepthEstimation(Task):
    """Any transformers AutoModelForDepthEstimation (DPT, Depth Anything, ...) from a local folder:
    the received image's depth against the original's, median-scaled, in the model's own units
    (relative inverse depth for Depth Anything and MiDaS-style DPT models)."""

    name = "depth"
    title = "Depth estimation (transformers), errors against the original's depth (median scaling)"
    paper = "Table V"
    metrics = ("rmse", "abs_rel", "delta_1")
    headline = "rmse"
    lower_is_better = True
    unavailable = staticmethod(lambda options: None if options.depth else "no --depth DIR given")

    def __init__(self, options: TaskOptions) -> None:
        self.processor, self.model = _load_transformers(Path(options.depth), "AutoModelForDepthEstimation", "depth model")
        self.truth = options.depth_truth

    def ground_truth(self, image_name: str, size: tuple[int, int]) -> np.ndarray | None:
        """NAME.npy of `depth_truth` (a 2-D depth map of the image as given; 0 or NaN where unknown),
        fitted as the image was (nearest neighbour)."""
        if self.truth is None:
            return None
        from PIL import Image

        from lamigo.images import fit_geometry

        path = Path(self.truth) / f"{image_name}.npy"
        try:
            depth = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ConfigError(f"ground-truth depth {path}: {err}") from err
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
            raise ConfigError(f"ground-truth depth {path} is not a 2-D numeric array ({depth.shape}, {depth.dtype})")
        scaled_size, left, top = fit_geometry(depth.shape, size)
        scaled = Image.fromarray(depth.astype(np.float32)).resize(scaled_size, Image.Resampling.NEAREST)
        return np.asarray(scaled)[top:top + size[0], left:left + size[1]]

    def predict(self, image: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            outputs = self.model(**self.processor(images=image, return_tensors="pt"))
            depth = torch.nn.functional.interpolate(outputs.predicted_depth[:, None], size=image.shape[:2],
                                                    mode="bicubic", align_corners=False)
        return depth[0, 0].numpy()

    def score(self, predictions, references):
        return depth_errors(predictions, references)


def build_tasks(options: TaskOptions) -> tuple[list[Task], dict[str, str]]:
    """The tasks that can run with `options`, and for each other one why it was skipped."""
    tasks, skipped = [], {}
    for name, cls in TASKS.items():
        reason = cls.unavailable(options)
        if reason is None:
            tasks.append(cls(options))
        else:
            logger.info("task %s skipped: %s", name, reason)
            skipped[name] = reason
    return tasks, skipped


def add_task_options(parser) -> None:
    """The options of the downstream tasks (`lamigo eval --experiments tasks`)."""
    parser.add_argument("--detector", type=Path, default=None, metavar="DIR",
                        help="tasks experiment: a local transformers object detector folder (DETR, YOLOS, "
                        "RT-DETR, any AutoModelForObjectDetection with its image processor); adds the "
                        "detection task, mAP@0.5 and mAP@[.5:.95] (pycocotools)")
    parser.add_argument("--annotations", type=Path, default=None, metavar="FILE",
                        help="tasks experiment: a COCO annotation JSON whose boxes (images matched by file "
                        "name stem) replace the original's detections as the detection task's reference")
    parser.add_argument("--detection-threshold", type=float, default=TaskOptions.detection_threshold,
                        metavar="S", help="tasks experiment: the score an original's detection needs to "
                        "count as a reference box (default: %(default)s)")
    parser.add_argument("--depth", type=Path, default=None, metavar="DIR",
                        help="tasks experiment: a local transformers depth model folder (DPT, Depth Anything, "
                        "any AutoModelForDepthEstimation with its image processor); adds the depth task, "
                        "RMSE, AbsRel and delta<1.25 against the original's depth after median scaling")
    parser.add_argument("--depth-truth", type=Path, default=None, metavar="DIR",
                        help="tasks experiment: ground-truth depth maps, DIR/NAME.npy per image (2-D, at the "
                        "image's own size, 0 where unknown), the depth task's reference instead of the "
                        "original's depth")


def task_options(args) -> TaskOptions:
    """The `TaskOptions` of parsed `add_task_options` arguments."""
    return TaskOptions(args.detector, args.depth, args.annotations, args.detection_threshold, args.depth_truth)


def _condition_label(row: dict) -> str:
    if row.get("codec") != "lami-go":
        name = str(row["codec"])
    elif row.get("policy") == "none":
        name = "VQGAN alone"
    else:
        name = f"{row['policy']} {row['tau']}/{row['steps']}"
    if row.get("setup"):
        name += f", setup {row['setup']} PER {row['rate']:g}"
    return name


def run_tasks(out: Path, experiment, summary: Sequence[dict], items: Sequence, tasks: Sequence[Task],
              skipped: dict[str, str]) -> list[str]:
    """Run `tasks` (of `build_tasks`, with the `skipped` ones' reasons) on the originals and on
    each condition's received images (saved by the harness, lost messages mid-grey); write
    `NAME_scores.csv` (one row per condition, task and metric) and `NAME_scores.png`; return the
    report's Markdown section."""
    import csv

    from lamigo.evaluation.experiments import CONDITION_FIELDS, cell_text, condition_slug
    from lamigo.images import load_image

    scores: dict[str, list[tuple[dict, dict[str, float]]]] = {}
    for task in tasks:
        references = []
        for item in items:
            truth = task.ground_truth(item.name, item.image.shape[:2])
            references.append(task.predict(item.image) if truth is None else truth)
        for row in summary:
            folder = out / "images" / experiment.name / condition_slug(experiment.keys, row)
            predictions = [task.predict(load_image(folder / f"{item.name}.png")) for item in items]
            scores.setdefault(task.name, []).append((row, task.score(predictions, references)))
    with (out / f"{experiment.name}_scores.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*CONDITION_FIELDS, "task", "metric", "value"])
        for name, results in scores.items():
            for row, values in results:
                writer.writerows([*(cell_text(row.get(field)) for field in CONDITION_FIELDS), name, metric,
                                  cell_text(value)] for metric, value in values.items())
    if scores:
        _plot_scores(out / f"{experiment.name}_scores.png", tasks, scores)
    lines = ["### Downstream tasks", "",
             f"Each task runs on the original images and on each condition's received images "
             f"(`{experiment.name}_scores.csv`); the reference is the original's prediction unless "
             "ground truth was given. The paper scores against ground truth: its values are not "
             "expected to match ours, the trends are.", ""]
    if scores:
        lines += [f"![{experiment.name} scores]({experiment.name}_scores.png)", ""]
    for task in tasks:
        lines += [f"**{task.name}**: {task.title} (paper: {task.paper}).", ""]
        if all(np.isnan(values[task.headline]) for _, values in scores[task.name]):
            lines += ["Nothing to score: the references hold nothing this task finds in these images.", ""]
            continue
        lines += ["| condition | " + " | ".join(task.metrics) + " |", "|---|" + "---|" * len(task.metrics)]
        lines += ["| " + " | ".join([_condition_label(row)] + [_table_cell(values[m]) for m in task.metrics]) + " |"
                  for row, values in scores[task.name]]
        lines.append("")
    if skipped:
        lines += ["Skipped: " + "; ".join(f"{name} ({reason})" for name, reason in skipped.items()) + ".", ""]
    return lines


def _table_cell(value: float) -> str:
    return "-" if np.isnan(value) else format(value, ".4g")


def _plot_scores(path: Path, tasks: Sequence[Task], scores: dict) -> None:
    """One panel per task: its headline metric per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        metric = task.headline
        labels = [_condition_label(row) for row, _ in scores[task.name]]
        heights = [values[metric] for _, values in scores[task.name]]
        axis.barh(range(len(labels)), np.nan_to_num(heights, nan=0.0))
        axis.set_yticks(range(len(labels)), labels, fontsize="small")
        axis.invert_yaxis()
        axis.set_xlabel(f"{metric} ({'lower' if task.lower_is_better else 'higher'} is better)")
        axis.set_title(task.name)
        axis.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
