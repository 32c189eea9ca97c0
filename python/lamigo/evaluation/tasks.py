"""Downstream tasks at the receiver (paper Tables V-VI): what a receiver can still do with an
image. A task maps an image to a prediction and scores the predictions of a set of images
against references: the original image's predictions, or ground truth where it is given.

A new task is one class registered with `@TASKS.register`; `build_tasks` makes those that can
run and says why the others were skipped. The offline tasks need only OpenCV (face and
pedestrian detection, Canny edges); `detection` and `depth` load a transformers model from a
local folder.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamigo.errors import ConfigError
from lamigo.evaluation.task_metrics import (
    Boxes,
    box_agreement,
    depth_errors,
    edge_f_score,
    mean_average_precision,
)
from lamigo.registry import Registry

logger = logging.getLogger(__name__)

__all__ = ["Task", "TASKS", "TaskOptions", "add_task_options", "build_tasks", "task_options"]


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
