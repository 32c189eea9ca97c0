"""The scores of the downstream tasks (`lamigo.evaluation.tasks`): box agreement and COCO mAP of
detections, edge-map F-score, depth errors; each over a set of images, predictions against
references."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Boxes", "box_agreement", "box_iou", "depth_errors", "edge_f_score", "mean_average_precision"]

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
