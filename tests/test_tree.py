"""Atomic render trees."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.errors import ConflictError, InputError
from provisioner.render import MARKER, RenderedFile, TreeAccess, update_files, write_tree

Writer = Callable[..., int]


def f(path: str, data: bytes = b"x") -> RenderedFile:
    return RenderedFile(path, data, "text/plain", False)


def test_write_replaces_the_whole_tree(tmp_path: Path) -> None:
    out = tmp_path / "root"
    assert write_tree(out, [f("a.cfg", b"1"), f("sub/b.cfg", b"2")]) == 2
    assert (out / "sub" / "b.cfg").read_bytes() == b"2"
    write_tree(out, [f("c.cfg", b"3")])
    assert sorted(p.name for p in out.rglob("*")) == [MARKER, "c.cfg"]
    assert [p.name for p in tmp_path.iterdir()] == ["root"]  # no staging left behind
    mode = stat.S_IMODE((out / "c.cfg").stat().st_mode)
    assert mode & stat.S_IROTH == 0


def test_keep_carries_old_files_over(tmp_path: Path) -> None:
    out = tmp_path / "root"
    write_tree(out, [f("phone.cfg", b"good"), f("other.cfg", b"o")])
    write_tree(out, [f("other.cfg", b"o2")], keep=["phone.cfg", "missing.cfg"])
    assert (out / "phone.cfg").read_bytes() == b"good"
    assert not (out / "missing.cfg").exists()


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", ""])
def test_unsafe_paths_are_refused_and_nothing_changes(tmp_path: Path, path: str) -> None:
    out = tmp_path / "root"
    write_tree(out, [f("a.cfg", b"1")])
    with pytest.raises(InputError, match="unsafe path"):
        write_tree(out, [f("b.cfg"), f(path)])
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.cfg"]
    assert [p.name for p in tmp_path.iterdir()] == ["root"]


def test_update_files_in_place(tmp_path: Path) -> None:
    out = tmp_path / "root"
    write_tree(out, [f("a.cfg", b"1"), f("b.cfg", b"2")])
    assert update_files(out, [f("a.cfg", b"new")]) == 1
    assert (out / "a.cfg").read_bytes() == b"new"
    assert (out / "b.cfg").read_bytes() == b"2"


@pytest.mark.parametrize(
    ("access", "modes"),
    [(TreeAccess(), (0o700, 0o600)), (TreeAccess(os.getegid()), (0o750, 0o640))],
)
def test_nested_directories_get_the_tree_modes_whatever_the_umask(
    tmp_path: Path, access: TreeAccess, modes: tuple[int, int]
) -> None:
    out = tmp_path / "new" / "root"
    previous = os.umask(0)
    try:
        write_tree(out, [f("a/b/c.cfg")], access=access)
        update_files(out, [f("d/e.cfg")])  # follows the tree's own modes
    finally:
        os.umask(previous)
    dirs = [tmp_path / "new", out, out / "a", out / "a" / "b", out / "d"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in dirs} == {modes[0]}
    files = [out / "a" / "b" / "c.cfg", out / "d" / "e.cfg"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {modes[1]}


def scratch(tmp_path: Path) -> Path:
    """A directory of someone else's files: what a render must not delete."""
    out = tmp_path / "scratch"
    (out / "sub").mkdir(parents=True)
    (out / "important.txt").write_text("keep me\n")
    return out


@pytest.mark.parametrize("write", [write_tree, update_files])
def test_a_directory_render_did_not_write_is_refused(tmp_path: Path, write: Writer) -> None:
    out = scratch(tmp_path)
    with pytest.raises(ConflictError, match=r"holds files that provisioner did not render "):
        write(out, [f("a.cfg")])
    assert sorted(p.name for p in out.rglob("*")) == ["important.txt", "sub"]
    assert [p.name for p in tmp_path.iterdir()] == ["scratch"]  # no staging left behind


@pytest.mark.parametrize("write", [write_tree, update_files])
def test_replace_renders_into_it_all_the_same(tmp_path: Path, write: Writer) -> None:
    out = scratch(tmp_path)
    write(out, [f("a.cfg")], replace=True)
    assert (out / MARKER).is_file()
    assert (out / "important.txt").exists() is (write is update_files)  # --mac deletes nothing
    write(out, [f("b.cfg")])  # rendered before: no --replace needed any more


@pytest.mark.parametrize("write", [write_tree, update_files])
def test_new_and_empty_directories_are_rendered_into(tmp_path: Path, write: Writer) -> None:
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new"):
        write(out, [f("a.cfg")])
        assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.cfg"]
        write(out, [f("a.cfg", b"again")])
        assert (out / "a.cfg").read_bytes() == b"again"


def test_a_file_is_never_replaced_by_a_tree(tmp_path: Path) -> None:
    out = tmp_path / "afile"
    out.write_text("a file\n")
    for replace in (False, True):
        with pytest.raises(ConflictError, match="is not a directory"):
            write_tree(out, [f("a.cfg")], replace=replace)
    assert out.read_text() == "a file\n"


def test_the_marker_is_in_the_tree_with_its_modes(tmp_path: Path) -> None:
    out = tmp_path / "root"
    write_tree(out, [f("a.cfg")], access=TreeAccess(os.getegid()))
    assert stat.S_IMODE((out / MARKER).stat().st_mode) == 0o640
    assert b"provisioner render" in (out / MARKER).read_bytes()
