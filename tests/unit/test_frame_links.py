"""Signed frame links: a link opens its own task's frame until it lapses, and nothing else."""

from __future__ import annotations

import urllib.parse

import pytest
from labelloop_portal.frame_links import FRAMES_PATH, FrameLinks, link_key

LINKS = FrameLinks("https://portal.example.com/", link_key("token", "webhook-secret"))


def _parts(link: str) -> tuple[str, int, int, str]:
    url = urllib.parse.urlsplit(link)
    job, object_id = url.path.removeprefix(FRAMES_PATH + "/").split("/")
    query = dict(urllib.parse.parse_qsl(url.query))
    return urllib.parse.unquote(job), int(object_id), int(query["expires"]), query["sig"]


def test_a_link_opens_its_own_task_until_it_lapses() -> None:
    link = LINKS.link("stack-keypoints-l1-1", 7, expires=1_000)
    assert link.startswith(f"https://portal.example.com{FRAMES_PATH}/stack-keypoints-l1-1/7?")
    job, object_id, expires, signature = _parts(link)
    assert LINKS.valid(job, object_id, expires, signature, now=1_000)
    assert not LINKS.valid(job, object_id, expires, signature, now=1_001)  # lapsed with its task
    assert not LINKS.valid(job, 8, expires, signature, now=0)  # another task
    assert not LINKS.valid("stack-head-l1-1", object_id, expires, signature, now=0)  # another job
    assert not LINKS.valid(job, object_id, expires + 86_400, signature, now=0)  # a lengthened link


def test_another_key_refuses_the_link_and_odd_job_names_survive_the_url() -> None:
    link = LINKS.link("a job/with ünicode", 1, expires=50)
    job, object_id, expires, signature = _parts(link)
    assert job == "a job/with ünicode"
    assert LINKS.valid(job, object_id, expires, signature, now=0)
    rotated = FrameLinks("https://portal.example.com", link_key("new token", "webhook-secret"))
    assert not rotated.valid(job, object_id, expires, signature, now=0)


def test_the_base_must_be_a_web_url() -> None:
    with pytest.raises(ValueError, match="http"):
        FrameLinks("portal:8088", b"k")
