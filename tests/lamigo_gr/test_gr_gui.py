"""The QT GUI loopback (flowgraphs/loopback_gui.grc) under QT_QPA_PLATFORM=offscreen: it starts,
carries a message through the shared modem blocks to a real decoder service, shows the decoded
image and the counters, renders, and stops cleanly."""

import json
import os
import subprocess
import sys

import pytest

from lamigo_gr.apps.demo import start_service

# Runs in its own process: one QApplication, as the generated script's main() makes it.
GUI_RUN = r"""
import faulthandler, json, sys, time
faulthandler.enable()  # a crash in Qt or GNU Radio code prints every thread's Python stack
from PyQt5 import Qt
from lamigo_gr.apps.flowgraphs import load_top_block_class

build_dir, service, results, screenshot = sys.argv[1:5]
app = Qt.QApplication(["loopback_gui"])
top_block = load_top_block_class("loopback_gui", build_dir)(
    images="photo:coffee", count=1, size="64x64", model_set="tiny", interval=0.0,
    service=service, results=results)
top_block.set_snr_db(10.46)  # noise voltage 0.3 on the unit-power signal
top_block.start()
top_block.show()
deadline = time.monotonic() + 240
while top_block.monitor.images_decoded == 0 and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.05)
time.sleep(0.5)  # the widgets' next refresh
app.processEvents()
if screenshot:
    top_block.grab().save(screenshot)
counters = top_block.monitor.counters()
shown = not top_block.monitor.widget()._image.pixmap().isNull()
top_block.stop()
top_block.wait()
top_block.close()
print(json.dumps({"counters": counters, "image_shown": shown}))
"""


@pytest.mark.slow
def test_gui_loopback_carries_a_message_to_the_service_and_shows_it(tmp_path):
    server, service, results = start_service(["--model-set", "tiny", "--steps", "2", "--renoise", "1"],
                                             tmp_path / "service.log")
    screenshot = tmp_path / "gui.png"
    try:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        done = subprocess.run([sys.executable, "-c", GUI_RUN, str(tmp_path), service, results, str(screenshot)],
                              env=env, capture_output=True, text=True, timeout=280)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    counters = outcome["counters"]
    assert counters["packets sent"] > 0
    assert counters["packets received"] == counters["packets sent"]
    assert counters["messages received"] == 1 and counters["packets lost"] == 0
    assert counters["images decoded"] == 1 and outcome["image_shown"]
    assert screenshot.stat().st_size > 10_000  # the window rendered: plots, counters, image
