"""Frame extraction: ingest's decoder vs ``ffmpeg -vf fps=N`` (a JPEG per frame), same clip, one run.

    .venv/bin/python benchmarks/ingest.py [--clip PATH] [--rates 1 0.1]

The clip defaults to the 60 s 1080p30 H.264 clip of ENVIRONMENT.md (testsrc2 + temporal noise,
keyframe every 30 frames), generated once with the ffmpeg CLI and cached under
``.labelloop/bench/``. Both sides write one JPEG per sampled frame to a temporary folder (no S3:
this measures extraction, not the emulator). Needs the ffmpeg CLI (`apt-get install ffmpeg`).
Prints seconds, frames and the speed ratio ffmpeg_time / ingest_time per sampling rate.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
from labelloop_ingest.media import DecodedFrame, probe, sampled_frames

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".labelloop" / "bench"
TARGETS = {1.0: 1.1, 0.1: 5.0}  # rate → the minimum speed-up over ffmpeg


def ffmpeg_binary() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        sys.exit("benchmarks/ingest.py needs the ffmpeg CLI: apt-get install ffmpeg")
    return found


def default_clip(ffmpeg: str) -> Path:
    clip = CACHE / "testsrc2-1080p30-60s.mp4"
    if not clip.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {clip} (once; several minutes on 2 cores)...", flush=True)
        partial = clip.with_suffix(".partial.mp4")
        subprocess.run(
            [
                ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi",
                "-i", "testsrc2=size=1920x1080:rate=30:duration=60",
                "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p", str(partial),
            ],
            check=True,
        )  # fmt: skip
        partial.replace(clip)
    return clip


def run_ffmpeg(ffmpeg: str, clip: Path, fps: float, out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-i", str(clip), "-vf", f"fps={fps}", "-q:v", "2", str(out / "%06d.jpg")],
        check=True,
    )
    return time.perf_counter() - started, len(list(out.glob("*.jpg")))


def run_ingest(clip: Path, fps: float, out: Path) -> tuple[float, int]:
    """What ingest does per clip, minus S3: probe, sample (seeking when it pays), encode, write."""
    started = time.perf_counter()

    def write(frame: DecodedFrame) -> None:
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for frame {frame.frame_no}")
        (out / f"{frame.frame_no:06d}.jpg").write_bytes(jpeg.tobytes())

    info = probe(clip, 40_000_000)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, sampled_frames(clip, info, fps)))
    return time.perf_counter() - started, len(list(out.glob("*.jpg")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, help="clip to extract from (default: the generated 1080p30 clip)")
    parser.add_argument("--rates", type=float, nargs="+", default=list(TARGETS), help="sampling rates in fps")
    args = parser.parse_args()
    ffmpeg = ffmpeg_binary()
    clip = args.clip or default_clip(ffmpeg)
    info = probe(clip, 40_000_000)
    print(
        f"clip {clip.name}: {info.width}x{info.height} {float(info.average_rate):.2f} fps {info.duration_s:.1f} s, "
        f"{len(info.keyframe_times)} keyframes, codec {info.codec}"
    )
    print(f"{'rate':>6} {'ffmpeg s':>9} {'frames':>6} {'ingest s':>9} {'frames':>6} {'speed-up':>9} {'target':>7}")
    failed = False
    for fps in args.rates:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            ffmpeg_s, ffmpeg_n = run_ffmpeg(ffmpeg, clip, fps, Path(a))
            ingest_s, ingest_n = run_ingest(clip, fps, Path(b))
        ratio = ffmpeg_s / ingest_s
        target = TARGETS.get(fps)
        verdict = "" if target is None else (f">={target}x ok" if ratio >= target else f">={target}x MISSED")
        failed |= target is not None and ratio < target
        print(f"{fps:>6g} {ffmpeg_s:>9.2f} {ffmpeg_n:>6} {ingest_s:>9.2f} {ingest_n:>6} {ratio:>8.2f}x {verdict:>7}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
