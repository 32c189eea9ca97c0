"""Downstream tasks (lamigo.evaluation.tasks): the metrics on hand-made boxes, edge and depth maps
whose scores are known, the offline OpenCV tasks on real photos, and the transformers tasks on
tiny random detection and depth models saved to a folder in the test (no download)."""

import json
import math
import sys

import numpy as np
import pytest

from lamigo.errors import ConfigError, WeightsError
from lamigo.evaluation.task_metrics import Boxes, box_agreement, depth_errors, edge_f_score, mean_average_precision
from lamigo.evaluation.tasks import TASKS, FaceDetection, Task, TaskOptions, build_tasks
from lamigo.images import fit_image, load_image


def test_agreement_counts_matches_at_iou_half_by_label():
    reference = Boxes.of([[0, 0, 10, 10], [20, 20, 30, 30]], labels=[1, 2])
    # A box of IoU 0.81 with the first, one of the wrong label on the second, one far away.
    prediction = Boxes.of([[1, 1, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], labels=[1, 1, 1])
    scores = box_agreement([prediction], [reference])
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(0.4)
    # IoU 1/3 (a box shifted by half its width) is no match.
    assert box_agreement([Boxes.of([[5, 0, 15, 10]])], [Boxes.of([[0, 0, 10, 10]])])["recall"] == 0


def test_agreement_pools_images_and_one_box_matches_once():
    reference = Boxes.of([[0, 0, 10, 10]])
    twice = Boxes.of([[0, 0, 10, 10], [0, 0, 10, 10]], scores=[0.9, 0.8])
    scores = box_agreement([twice, Boxes.of(np.zeros((0, 4)))], [reference, reference])
    assert (scores["precision"], scores["recall"], scores["reference_boxes"]) == (0.5, 0.5, 2)
    nothing = box_agreement([Boxes.of(np.zeros((0, 4)))], [Boxes.of(np.zeros((0, 4)))])
    assert math.isnan(nothing["precision"]) and math.isnan(nothing["f1"])
    missed = box_agreement([Boxes.of(np.zeros((0, 4)))], [reference])
    assert missed["recall"] == 0 and missed["f1"] == 0  # a lost image that misses every box scores 0


def test_map_is_one_for_the_reference_itself_and_drops_with_loose_boxes():
    reference = Boxes.of([[0, 0, 40, 40], [50, 50, 90, 90]], labels=[1, 3])
    assert mean_average_precision([reference], [reference]) == pytest.approx({"map_50": 1.0, "map_50_95": 1.0})
    # IoU 0.81 (a 4-pixel shift of 40): found at every threshold up to 0.8, not at 0.85-0.95.
    shifted = Boxes.of([[4, 0, 44, 40], [54, 50, 94, 90]], scores=[0.9, 0.8], labels=[1, 3])
    scores = mean_average_precision([shifted], [reference])
    assert scores["map_50"] == pytest.approx(1.0)
    assert scores["map_50_95"] == pytest.approx(0.7, abs=1e-6)  # 7 of the 10 IoU thresholds
    assert mean_average_precision([Boxes.of(np.zeros((0, 4)))], [reference])["map_50"] == 0
    assert math.isnan(mean_average_precision([reference], [Boxes.of(np.zeros((0, 4)))])["map_50"])


def test_edge_f_score_tolerates_one_pixel():
    reference = np.zeros((20, 20), bool)
    reference[:, 10] = True
    assert edge_f_score([np.roll(reference, 1, axis=1)], [reference])["f_score"] == 1.0
    far = edge_f_score([np.roll(reference, 3, axis=1)], [reference])
    assert (far["precision"], far["recall"], far["f_score"]) == (0, 0, 0)
    half = reference.copy()
    half[10:, 10] = False
    scores = edge_f_score([half], [reference])
    assert (scores["precision"], scores["recall"]) == (1.0, pytest.approx(11 / 20))  # row 10 is within 1 px


def test_depth_errors_with_and_without_median_scaling():
    reference = np.linspace(1.0, 10.0, 100).reshape(10, 10)
    scaled = depth_errors([3 * reference], [reference])
    assert scaled == {"rmse": pytest.approx(0, abs=1e-9), "abs_rel": pytest.approx(0, abs=1e-12), "delta_1": 1.0}
    edge = depth_errors([reference + 1], [reference], median_scaling=False)
    assert edge["rmse"] == pytest.approx(1.0)
    assert edge["abs_rel"] == pytest.approx(np.mean(1 / reference))
    assert edge["delta_1"] == pytest.approx(np.mean((reference + 1) / reference < 1.25))
    invalid = reference.copy()
    invalid[0] = 0  # no ground truth there
    masked = depth_errors([np.where(invalid > 0, invalid, 99.0)], [invalid], median_scaling=False)
    assert masked["rmse"] == 0


def test_offline_tasks_need_no_options_and_the_others_say_why_they_were_skipped():
    tasks, skipped = build_tasks(TaskOptions())
    assert [task.name for task in tasks] == ["faces", "pedestrians", "edges"]
    assert skipped == {"detection": "no --detector DIR given", "depth": "no --depth DIR given"}


def test_missing_opencv_or_cascade_is_one_error_naming_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 fails as if it were not installed
    with pytest.raises(ConfigError, match="pip package opencv-python"):
        build_tasks(TaskOptions())
    monkeypatch.undo()
    monkeypatch.setattr(FaceDetection, "CASCADE", "haarcascade_absent.xml")
    with pytest.raises(ConfigError, match="haarcascade_absent.xml not found.*opencv-data"):
        build_tasks(TaskOptions())


def test_face_detector_finds_the_astronaut_and_agrees_with_itself():
    tasks, _ = build_tasks(TaskOptions())
    faces, pedestrians, edges = tasks
    image = fit_image(load_image("photo:astronaut"), (256, 256))
    found = faces.predict(image)
    assert len(found.boxes) == 1
    x0, y0, x1, y1 = found.boxes[0]
    assert 100 < (x0 + x1) / 2 < 200 and 0 < (y0 + y1) / 2 < 120  # her face, upper middle
    assert faces.score([found], [found])["f1"] == 1.0
    grey = np.full_like(image, 128)
    assert faces.score([faces.predict(grey)], [found])["f1"] == 0.0
    assert len(pedestrians.predict(np.zeros((32, 32, 3), np.uint8)).boxes) == 0  # smaller than HOG's window
    assert edges.score([edges.predict(grey)], [edges.predict(image)])["f_score"] == 0.0


def test_a_task_name_is_registered_once():
    class Again(Task):
        name = "faces"

        def predict(self, image):
            return None

        def score(self, predictions, references):
            return {}

    with pytest.raises(ValueError, match="taken"):
        TASKS.register(Again)


def test_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="--detector"):
        TaskOptions(detector=tmp_path / "absent")
    with pytest.raises(ConfigError, match="--detector DIR too"):
        (tmp_path / "a.json").write_text("{}")
        TaskOptions(annotations=tmp_path / "a.json")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A random YOLOS detector and a random DPT depth model, saved with their image processors."""
    import torch
    from transformers import (DPTConfig, DPTForDepthEstimation, DPTImageProcessor, YolosConfig,
                              YolosForObjectDetection, YolosImageProcessor)

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("task_models")
    detector, depth = root / "detector", root / "depth"
    config = YolosConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                         image_size=[64, 64], patch_size=16, num_detection_tokens=5,
                         id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1})
    YolosForObjectDetection(config).save_pretrained(detector)
    YolosImageProcessor(size={"shortest_edge": 64, "longest_edge": 64}).save_pretrained(detector)
    config = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37,
                       image_size=64, patch_size=16, backbone_out_indices=[0, 1, 2, 3],
                       neck_hidden_sizes=[16, 16, 32, 32], fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5])
    DPTForDepthEstimation(config).save_pretrained(depth)
    DPTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(depth)
    return detector, depth


@pytest.mark.slow  # imports transformers and builds two models: seconds on a busy CPU
def test_transformers_tasks_load_local_folders_predict_and_score(tiny_models, tmp_path):
    detector, depth = tiny_models
    with pytest.raises(WeightsError, match=r"depth model \(AutoModelForDepthEstimation\) at .* could not be loaded"):
        build_tasks(TaskOptions(depth=detector))
    tasks, skipped = build_tasks(TaskOptions(detector=detector, depth=depth, detection_threshold=0.0))
    assert not skipped
    by_name = {task.name: task for task in tasks}
    image = fit_image(load_image("photo:coffee"), (64, 96))
    boxes = by_name["detection"].predict(image)
    assert boxes.boxes.shape == (5, 4) and boxes.scores.shape == (5,)
    assert by_name["detection"].score([boxes], [boxes]) == pytest.approx({"map_50": 1.0, "map_50_95": 1.0})
    depth_map = by_name["depth"].predict(image)
    assert depth_map.shape == (64, 96) and np.isfinite(depth_map).all()
    assert set(by_name["depth"].score([depth_map], [depth_map + 1.0])) == {"rmse", "abs_rel", "delta_1"}
    # A COCO annotation file replaces the original's detections as the reference.
    annotations = tmp_path / "instances.json"
    annotations.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "coffee.jpg", "height": 200, "width": 400}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [110, 10, 20, 30]},
                        {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 40, 40]}],
        "categories": [{"id": 1, "name": "b"}]}))
    tasks, _ = build_tasks(TaskOptions(detector=detector, annotations=annotations))
    (with_truth,) = [task for task in tasks if task.name == "detection"]
    # Fitted as the image is: 400x200 -> 200x100, centre 100x100 crop (x - 50); the second box is cut away.
    truth = with_truth.ground_truth("coffee", (100, 100))
    assert truth.boxes.tolist() == [[5, 5, 15, 20]] and truth.labels.tolist() == [1]
    assert len(with_truth.ground_truth("chelsea", (100, 100)).boxes) == 0
    # Ground-truth depth maps replace the original's depth, fitted as the image is.
    truth_dir = tmp_path / "depth_truth"
    truth_dir.mkdir()
    np.save(truth_dir / "coffee.npy", np.tile(np.arange(400, dtype=np.float32), (200, 1)))
    tasks, _ = build_tasks(TaskOptions(depth=depth, depth_truth=truth_dir))
    (depth_task,) = [task for task in tasks if task.name == "depth"]
    fitted = depth_task.ground_truth("coffee", (100, 100))
    assert fitted.shape == (100, 100) and (fitted[0, 0], fitted[0, -1]) == (101, 299)  # columns 100-299, halved
    with pytest.raises(ConfigError, match="chelsea.npy"):
        depth_task.ground_truth("chelsea", (100, 100))


@pytest.mark.slow  # imports transformers
def test_a_task_folder_whose_weights_do_not_load_is_one_weights_error_line(tiny_models, tmp_path):
    """The detector and depth folders load through lamigo.models.conditions.load_pretrained, as
    the text encoders do: a bad safetensors header is one line naming the folder."""
    import shutil

    _, depth = tiny_models
    broken = tmp_path / "depth"
    shutil.copytree(depth, broken)
    (broken / "model.safetensors").write_bytes(b"\xff" * 8 + b"not a header")
    with pytest.raises(WeightsError) as raised:
        build_tasks(TaskOptions(depth=broken))
    message = str(raised.value)
    assert len(message.splitlines()) == 1 and str(broken) in message and "AutoModelForDepthEstimation" in message
