"""``labelloop demo --quick`` as a new user runs it: the whole loop on the embedded stack, then a report.

The demo accounts for frames from what the services wrote (its ledger); this test checks those
books against what the plan must produce, independently: clips x seconds x sampled fps frames,
every one auto-accepted or labeled by people exactly once, and a promoted model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from labelloop.rig import IN_CABIN_17
from labelloop_tools.demo.plan import DemoPlan
from labelloop_tools.local.stack import LOCAL_AWS_ENV
from labelloop_tools.model_sets import DEFAULT_SET_FOLDER, install_default_set

REPO = Path(__file__).parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.e2e


# The whole loop on 2 cores takes about 3 minutes alone; beside other tests it may take twice that.
# A generous bound: this test must fail for what the demo did, never for a busy machine.
@pytest.mark.timeout(1200)
@pytest.mark.long
def test_the_quick_demo_accounts_for_every_frame_promotes_a_model_and_writes_its_report(tmp_path: Path) -> None:
    """The quick demo on a fresh embedded stack: every frame has one final fate, some go to people and some
    not, the trainer promotes a better model, the random arm trains on as many frames, and the report has
    its four plots."""
    out = tmp_path / "report"
    real_set = REPO / DEFAULT_SET_FOLDER
    install_default_set(real_set)
    run = subprocess.run(
        [sys.executable, "-m", "labelloop_tools", "demo", "--quick", "--out", str(out), "--models",
         str(REPO / "models" / "initial"), "--real-models", str(real_set)],
        env={**os.environ, **LOCAL_AWS_ENV}, cwd=tmp_path, capture_output=True, text=True, timeout=1140, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    plan = DemoPlan.quick()
    frames_per_clip = int(plan.clip_seconds * plan.sample_fps)
    expected = plan.rounds * plan.clips_per_round * frames_per_clip

    frames = report["frames"]
    assert frames["total"] == expected  # nothing lost between upload and the selector
    assert frames["auto"] + frames["human"] + frames["control"] == expected  # each has one final fate...
    assert (frames["lost"], frames["duplicated"]) == (0, 0)  # ...and none was judged or sent twice
    assert frames["human"] > 0  # the selector really chose: some to people...
    assert frames["auto"] > 0  # ...and some not
    assert [r["frames"] for r in report["rounds"]] == [plan.clips_per_round * frames_per_clip] * plan.rounds
    assert sum(report["dead_letters"].values()) == 0

    assert report["promotions"] >= 1
    assert report["serving"] > 1
    promoted = [v for v in report["versions"] if v["status"] == "promoted" and v["parent"] is not None]
    assert all(v["labels"] > 0 for v in promoted)
    assert report["learning_curves"]["random_arm"][-1]["human_frames"] == frames["human"] + frames["control"]

    html = (out / "report.html").read_text()
    for name in ("fates", "learning", "quality", "progress"):
        assert (out / "plots" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
        assert f'alt="{name}" src="data:image/png;base64,' in html
    assert report["quality"]["auto_accepted"]["head_recall"] is not None
    # Which points are wrong, per point of the rig the demo's models serve (no ankles in a seated cabin).
    by_point = report["quality_by_point"]["model_on_frames_sent_to_people"]
    assert {"nose", "left_wrist", "right_hip"} <= set(by_point) <= set(IN_CABIN_17.keypoints)
    assert all(0.0 <= value <= 1.0 for value in by_point.values())
    assert "Which points are wrong" in html
    assert "every frame accounted for" in html
    # Per round, what the selector's audits said of its auto-labels beside the hidden truth.
    assert [row["round"] for row in report["audits"]] == list(range(1, plan.rounds + 1))
    assert sum(row["audits"] for row in report["audits"]) > 0
    assert any(row["measures"]["keypoint_pck"]["true"] is not None for row in report["audits"])
    assert "What the audits said, and the truth" in html
    assert "Report:" in run.stdout

    # The last act: the real set on the ultralytics wheel's two photos, drawn, with the selector's decision.
    photos = {photo["name"]: photo for photo in report["real_photos"]}
    assert set(photos) == {"bus.jpg", "zidane.jpg"}
    assert photos["bus.jpg"]["persons"] >= 3
    assert photos["zidane.jpg"]["persons"] >= 2
    for photo in photos.values():
        assert (out / photo["picture"]).read_bytes().startswith(PNG_MAGIC)
        assert photo["decision"] in html
    assert "Real photos, real model set" in html
