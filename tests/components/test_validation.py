"""User-supplied names and paths: only safe single path components, nothing outside a root."""

from __future__ import annotations

import os

import pytest

from components.validation import ALLOWED_NAME, inside, safe_name


@pytest.mark.parametrize("value", ["alice", "user_01", "Bob-2.v1", "a", "A" * 64, "0", "x.y_z-1"])
def test_safe_names_are_returned_unchanged(value):
    assert safe_name(value, "identity") == value


@pytest.mark.parametrize("value", [
    "../x", "/abs", "a/b", "a\\b", "", " ", "x\n", "\x00", "x\x00y", ".hidden", ".", "..", "a..b", "a" * 65,
    "-rf", "_x", "caf\u00e9", "x y", "a\tb", "x;rm", "$HOME", "~user", "a*", "\u0430lice",  # Cyrillic 'a'
])
def test_unsafe_names_are_refused_with_the_allowed_set(value):
    with pytest.raises(ValueError) as info:
        safe_name(value, "identity")
    message = str(info.value)
    assert message.startswith(f"invalid identity {value!r}: ")
    assert ALLOWED_NAME in message


def test_max_len_is_configurable_and_reported():
    assert safe_name("a" * 10, "style", max_len=10) == "a" * 10
    with pytest.raises(ValueError, match="longer than 9 characters"):
        safe_name("a" * 10, "style", max_len=9)


def test_non_strings_are_refused():
    with pytest.raises(ValueError, match="invalid identity"):
        safe_name(None, "identity")  # type: ignore[arg-type]


def test_inside_accepts_paths_under_the_root(tmp_path):
    (tmp_path / "sub").mkdir()
    assert inside(tmp_path, tmp_path / "sub" / "x.png") == (tmp_path / "sub" / "x.png").resolve()
    assert inside(tmp_path, "sub/x.png") == (tmp_path / "sub" / "x.png").resolve()  # relative: under root
    assert inside(tmp_path, tmp_path) == tmp_path.resolve()
    assert inside(tmp_path, "sub/../y") == (tmp_path / "y").resolve()  # ".." that stays inside is fine


@pytest.mark.parametrize("candidate", ["../x", "sub/../../x", "/etc/passwd", "/"])
def test_inside_refuses_paths_that_leave_the_root(tmp_path, candidate):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="outside"):
        inside(root, candidate)


def test_inside_refuses_a_sibling_with_the_same_prefix(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data-evil").mkdir()
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path / "data", tmp_path / "data-evil" / "x")


def test_inside_follows_symlinks_before_judging(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", root / "link")
    with pytest.raises(ValueError, match="outside"):
        inside(root, "link")
    os.symlink(root / "loop", root / "loop")
    with pytest.raises(ValueError):
        inside(root, "loop")
