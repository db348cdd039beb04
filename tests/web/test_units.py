"""The web app's parts without a server: users file, sessions, streamed uploads, job folders, form options."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from web.auth import Authenticator, SessionSigner
from web.errors import ApiError
from web.jobs import JobFolders, JobMeta, new_job_id
from web.options import build_config, form_options, parse_values
from web.settings import WebSettings
from web.uploads import UploadLimits, receive_upload, stored_name
from web.users import UserDirectory, add_user, hash_token

BOUNDARY = "testboundary"


def test_users_file_keeps_hashes_not_tokens(tmp_path):
    path = tmp_path / "users.json"
    token = add_user(path, "alice")
    text = path.read_text()
    assert token not in text and hash_token(token) in text
    assert path.stat().st_mode & 0o077 == 0  # owner only
    directory = UserDirectory(path)
    assert directory.user_for_token(token) == "alice" and directory.user_for_token(token + "x") is None
    with pytest.raises(ValueError, match="exists"):
        add_user(path, "alice")
    with pytest.raises(ValueError, match="invalid user name"):
        add_user(path, "../evil")
    time.sleep(0.01)
    new = add_user(path, "alice", replace=True)
    assert directory.user_for_token(new) == "alice" and directory.user_for_token(token) is None


def test_session_cookie_is_signed_expires_and_ends_with_a_new_token(tmp_path):
    path = tmp_path / "users.json"
    token = add_user(path, "bob")
    auth = Authenticator(UserDirectory(path), SessionSigner(b"k" * 32, hours=1))
    user, cookie = auth.session_for(token)
    assert user == "bob" and auth.user_from_cookie(cookie) == "bob"
    assert auth.user_from_cookie(cookie.replace("bob", "eve", 1)) is None  # tampered
    assert auth.user_from_cookie("bob|99999999999|x|y") is None
    assert Authenticator(auth.users, SessionSigner(b"other key" * 4, 1)).user_from_cookie(cookie) is None
    expired = SessionSigner(b"k" * 32, hours=-1).issue("bob", hash_token(token))
    assert auth.user_from_cookie(expired) is None
    time.sleep(0.01)
    add_user(path, "bob", replace=True)
    assert auth.user_from_cookie(cookie) is None


def _body(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _receive(body: bytes, staging: Path, limits: UploadLimits, chunk: int = 1000, declared: int | None = None):
    consumed = []

    async def stream():
        for i in range(0, len(body), chunk):
            consumed.append(i)
            yield body[i:i + chunk]

    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    if declared is not None:
        headers["content-length"] = str(declared)
    return asyncio.run(receive_upload(headers, stream(), staging, limits)), consumed


LIMITS = UploadLimits({"photos": 2, "template": 1}, max_file_bytes=5000, max_request_bytes=50_000)


def test_upload_is_stored_under_safe_names(tmp_path):
    body = _body([("style", None, b"watercolor"), ("photos", "../../etc/passwd", b"a" * 10),
                  ("photos", ".bashrc", b"b" * 10), ("template", "my face (1).png", b"c" * 10)])
    upload, _ = _receive(body, tmp_path / "staging", LIMITS)
    assert upload.fields == {"style": "watercolor"}
    assert [f.path.name for f in upload.files] == ["00-passwd", "01-bashrc", "02-my_face_1_.png"]
    assert [f.path.read_bytes() for f in upload.files] == [b"a" * 10, b"b" * 10, b"c" * 10]
    assert [f.filename for f in upload.files] == ["../../etc/passwd", ".bashrc", "my face (1).png"]
    assert stored_name(3, "C:\\Users\\x\\..\\photo.JPG") == "03-photo.JPG" and stored_name(4, "...") == "04-file"


@pytest.mark.parametrize("parts, status, message", [
    ([("photos", "a.jpg", b"x" * 5001)], 413, "over the limit"),
    ([("photos", "a.jpg", b"x"), ("photos", "b.jpg", b"x"), ("photos", "c.jpg", b"x")], 400, "too many files"),
    ([("pose", "p.png", b"x")], 422, "takes no file"),
    ([("photos", "a.jpg", b"")], 422, "empty"),
    ([("style", None, b"s" * 70_000)], 413, "over"),
])
def test_refused_upload_leaves_nothing(tmp_path, parts, status, message):
    limits = UploadLimits(LIMITS.max_files, 5000, 500_000)
    with pytest.raises(ApiError) as refused:
        _receive(_body(parts), tmp_path / "staging", limits)
    assert refused.value.status == status and message in refused.value.message
    assert not (tmp_path / "staging").exists()


def test_a_declared_oversize_body_is_refused_before_reading_it(tmp_path):
    with pytest.raises(ApiError) as refused:
        _, consumed = _receive(b"x" * 10, tmp_path / "staging", LIMITS, declared=10 ** 9)
    assert refused.value.status == 413 and not (tmp_path / "staging").exists()


def test_not_multipart_is_415(tmp_path):
    async def stream():
        yield b"{}"

    with pytest.raises(ApiError) as refused:
        asyncio.run(receive_upload({"content-type": "application/json"}, stream(), tmp_path / "s", LIMITS))
    assert refused.value.status == 415


def test_job_ids_from_requests_never_reach_another_folder(tmp_path):
    folders = JobFolders(tmp_path)
    job = new_job_id()
    meta = JobMeta(job=job, user="alice", created="now", photos=[], options={}, parameters={})
    (tmp_path / "alice" / job).mkdir(parents=True)
    folders.save(tmp_path / "alice" / job, meta)
    assert folders.folder("alice", job) == tmp_path / "alice" / job
    assert folders.folder("bob", job) is None
    for hostile in ("../alice/" + job, job + "/..", "..", "", job.upper(), f"{job}\x00"):
        assert folders.folder("alice", hostile) is None
    assert [m.job for m in folders.list("alice")] == [job] and folders.list("bob") == []


def test_form_fields_follow_the_cli_options():
    names = {o.name for o in form_options()}
    assert {"style", "base_model", "num_images", "keep", "train_steps", "resolution", "seed"} <= names
    assert not names & {"user", "job", "out", "photos", "trust_pickle", "styles_dir", "adapter", "no_progress", "vae",
                        "fast"}
    # server-side paths of the template modes: people's folders and ControlNet files are not a request's to name
    assert not names & {"person", "controlnet_openpose", "controlnet_canny"}
    assert {o.name for o in form_options() if o.kind == "file"} == {"template", "pose", "pose_map", "style_lora"}
    assert parse_values({"keep": "3", "fail_below_min_photos": "true", "mode": "train"}) == {
        "keep": 3, "fail_below_min_photos": True, "mode": "train"}
    for bad, message in [({"user": "x"}, "unknown field"), ({"keep": "3.5"}, "not a valid int"),
                         ({"mode": "magic"}, "not one of"), ({"fail_below_min_photos": "maybe"}, "valid bool")]:
        with pytest.raises(ApiError, match=message):
            parse_values(bad)


def test_a_choice_the_cli_leaves_unset_is_unset_in_the_form():
    # A <select> sends its first choice unless told otherwise: --cpu-offload once sent "model" by default.
    import re

    from web.pages import templates

    field = templates.env.get_template("_option.html").module.field
    unset = [o for o in form_options() if o.choices and o.default is None]
    assert "cpu_offload" in {o.name for o in unset}
    for option in unset:
        html = str(field(option))
        selected = re.findall(r'<option value="([^"]*)" selected', html)
        assert selected == [""], (option.name, html)
    mode = next(o for o in form_options() if o.name == "mode")
    assert re.findall(r'<option value="([^"]*)" selected', str(field(mode))) == [str(mode.default)]


def test_config_is_validated_like_the_cli(tmp_path):
    settings = WebSettings(jobs_root=tmp_path, users_file=tmp_path / "u", session_key_file=tmp_path / "k")
    config = build_config({"style": "watercolor", "base_model": "tiny", "keep": 2, "num_images": 3}, {}, "alice",
                          "j20260101-000000-00000000", settings)
    assert (config.user, config.job, config.style, config.rank.keep) == ("alice", "j20260101-000000-00000000",
                                                                         "watercolor", 2)
    assert config.base.trust_pickle is False and config.curation.progress is False
    json.dumps(config.model_dump(mode="json"))  # a flow-run parameter
    for values, message in [({"base_model": "tiny"}, "style is required"),
                            ({"style": "watercolor", "base_model": "tiny", "keep": 5, "num_images": 2},
                             "cannot exceed"),
                            ({"style": "watercolor", "base_model": "tiny", "mode": "train-free"}, "adapter")]:
        with pytest.raises(ApiError, match=message):
            build_config(values, {}, "alice", "j20260101-000000-00000000", settings)
    profiled = build_config({"style": "watercolor", "base_model": "tiny", "profile": "facechain",
                             "set": ["rank.backend=embedding-similarity", "segment.backend=grabcut"]}, {}, "alice",
                            "j20260101-000000-00000000", settings)
    assert (profiled.rank.backend, profiled.curation.segment.backend, profiled.curation.tag.backend) == (
        "embedding-similarity", "grabcut", "fairface")
    for setting in ("rank.model_dir=/etc", "tag.trust_pickle=true"):  # server folders, the pickle rule
        with pytest.raises(ApiError, match="server's to choose"):
            build_config({"style": "watercolor", "base_model": "tiny", "set": [setting]}, {}, "alice",
                         "j20260101-000000-00000000", settings)
    absent = settings.model_copy(update={"base_models": ["some-org/not-cached"],
                                         "default_base_model": "some-org/not-cached"})
    with pytest.raises(ApiError, match="not-cached"):  # refused before queueing, not after
        build_config({"style": "watercolor"}, {}, "alice", "j20260101-000000-00000000", absent)


def _request(method: str, headers: dict[str, str]):
    from starlette.requests import Request

    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1:8000", **headers}.items()]
    return Request({"type": "http", "method": method, "path": "/api/v1/jobs", "headers": raw, "query_string": b""})


def test_cookie_writes_must_come_from_our_own_origin(tmp_path):
    path = tmp_path / "users.json"
    token = add_user(path, "carol")
    auth = Authenticator(UserDirectory(path), SessionSigner(b"k" * 32, hours=1))
    cookie = {"cookie": f"pp_session={auth.session_for(token)[1]}"}
    assert auth.identify(_request("GET", cookie)) == "carol"
    assert auth.identify(_request("POST", cookie)) is None  # no Origin: maybe another site's form
    assert auth.identify(_request("POST", {**cookie, "origin": "http://evil.example"})) is None
    assert auth.identify(_request("POST", {**cookie, "origin": "http://127.0.0.1:8000"})) == "carol"
    assert auth.identify(_request("POST", {"authorization": f"Bearer {token}"})) == "carol"
    assert auth.identify(_request("GET", {"authorization": "Bearer nope", **cookie})) is None  # a bad token is final


class _BusyQueue:
    """A queue with `mine` runs of the caller's and `everyone` in all, queued or running."""

    def __init__(self, mine: int, everyone: int) -> None:
        self.mine, self.everyone = mine, everyone

    async def active_count(self, user=None) -> int:
        return self.mine if user is not None else self.everyone


@pytest.mark.parametrize("mine, everyone, message", [(2, 2, "you have 2 job(s)"), (0, 5, "queue is full")])
def test_over_the_limits_is_429_before_the_upload_is_read(tmp_path, mine, everyone, message):
    from web.service import JobService

    settings = WebSettings(jobs_root=tmp_path, users_file=tmp_path / "u", session_key_file=tmp_path / "k",
                           jobs_per_user=2, max_queue=5, retry_after_s=7)
    service = JobService(settings, _BusyQueue(mine, everyone))
    with pytest.raises(ApiError) as refused:
        asyncio.run(service.submit("alice", request=None))  # the body is never touched
    assert refused.value.status == 429 and message in refused.value.message
    assert refused.value.headers == {"Retry-After": "7"} and list(tmp_path.iterdir()) == []


def test_style_list_says_which_styles_carry_loras_and_serves_their_own_preview(tmp_path):
    from web.styles import style_list, style_preview

    (tmp_path / "ink.safetensors").write_bytes(b"")
    (tmp_path / "previews").mkdir()
    (tmp_path / "previews" / "ink-look.jpg").write_bytes(b"jpg")
    (tmp_path / "ink.yaml").write_text("prompt: '{trigger}, ink'\nloras: [{source: ink.safetensors, weight: 0.5}]\n"
                                       "preview: previews/ink-look.jpg\n")
    (tmp_path / "plain.yaml").write_text("prompt: '{trigger}'\n")
    listed = {s["name"]: s for s in style_list(str(tmp_path))}
    assert listed["ink"]["lora"] and not listed["plain"]["lora"]
    assert style_preview(str(tmp_path), "ink") == (tmp_path / "previews" / "ink-look.jpg").resolve()
    assert style_preview(str(tmp_path), "plain") is None and style_preview(str(tmp_path), "nope") is None
