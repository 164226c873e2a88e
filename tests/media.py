"""Real test media, made or fetched at test time (nothing third-party is committed).

* ``vtest_avi()``: Debian's opencv-doc ships OpenCV's ``vtest.avi`` (768x576, 10 fps, 795 frames,
  real pedestrians). Taken from the installed package if present, else ``apt-get download``-ed
  into a cache and extracted with ``dpkg-deb`` (no root needed). Cache: ``LABELLOOP_TEST_MEDIA``
  or ``~/.cache/labelloop-test-media``.
* ``h264_clip()``: an H.264 MP4 encoded with PyAV's bundled libx264 (moving shapes, known frames).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"


def media_cache() -> Path:
    path = Path(os.environ.get("LABELLOOP_TEST_MEDIA") or Path.home() / ".cache" / "labelloop-test-media")
    path.mkdir(parents=True, exist_ok=True)
    return path


def opencv_sample(name: str) -> Path:
    """A file from Debian's opencv-doc examples, fetched on first use."""
    installed = Path("/") / OPENCV_DATA / name
    if installed.is_file():
        return installed
    cached = media_cache() / name
    if cached.is_file():
        return cached
    apt, dpkg, tar = shutil.which("apt-get"), shutil.which("dpkg-deb"), shutil.which("tar")
    if apt is None or dpkg is None or tar is None:
        pytest.skip("real test media needs Debian's apt-get and dpkg-deb (to fetch opencv-doc)")
    with tempfile.TemporaryDirectory() as work:
        download = subprocess.run(
            [apt, "download", "opencv-doc"], cwd=work, capture_output=True, text=True, check=False
        )
        debs = list(Path(work).glob("opencv-doc_*.deb"))
        if not debs:
            pytest.skip(f"could not download opencv-doc: {download.stderr.strip()[-300:]}")
        for wanted in ("vtest.avi", "Megamind.avi"):
            archive = subprocess.run([dpkg, "--fsys-tarfile", str(debs[0])], capture_output=True, check=True).stdout
            subprocess.run(
                [tar, "-x", "-C", work, f"./{OPENCV_DATA}/{wanted}"], input=archive, check=True, capture_output=True
            )
            # Two pytest workers may fetch at once: each file appears whole or not at all (os.replace).
            partial = media_cache() / f".{wanted}.{os.getpid()}"
            shutil.move(Path(work) / OPENCV_DATA / wanted, partial)
            os.replace(partial, media_cache() / wanted)
    return cached


def vtest_avi() -> Path:
    return opencv_sample("vtest.avi")


def h264_clip(path: Path, *, seconds: float, fps: int = 30, size: tuple[int, int] = (320, 240), gop: int = 30) -> Path:
    """Encode an H.264 MP4 whose frame i shows i in its pixels (B-frames on, keyframe every ``gop``)."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop), "bf": "2", "preset": "veryfast"}
        for i in range(round(seconds * fps)):
            image = np.full((height, width, 3), (i * 7) % 256, np.uint8)
            cv2.putText(image, str(i), (10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A Matroska file with an audio stream and no video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp2", rate=44100)
        samples = np.zeros((1, 1152), np.int16)
        for _ in range(round(seconds * 44100 / 1152)):
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = 44100
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def image(path: Path, *, size: tuple[int, int] = (64, 48)) -> Path:
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (0, 128, 255)
    cv2.imwrite(str(path), pixels)
    return path
