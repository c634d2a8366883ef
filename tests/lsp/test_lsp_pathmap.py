"""Path mapping rules, on real files in a temporary tree."""
from __future__ import annotations

from pathlib import Path

from lsp import pathmap
from lsp.pathmap import GoEnv, PathMapper


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("package x\n")
    return path


def test_each_kind_of_file_name(tmp_path):
    ws = tmp_path / "ws"
    svc = touch(ws / "svc" / "api" / "handler.go")
    (ws / "svc" / "go.mod").write_text("module example.com/svc\n\ngo 1.22\n")
    lib = touch(ws / "lib" / "util" / "strings.go")
    (ws / "lib" / "go.mod").write_text("module example.com/lib\n")
    goroot = tmp_path / "goroot"
    proc = touch(goroot / "src" / "runtime" / "proc.go")
    modcache = tmp_path / "mod"
    dep = touch(modcache / "golang.org" / "x" / "net@v0.1.0" / "http2" / "frame.go")
    mapper = PathMapper.build([ws], rules=[("/build/out", str(ws / "svc"))], go_env=GoEnv(goroot, modcache))

    assert mapper.resolve("/build/out/api/handler.go") == svc.resolve()          # rule
    assert mapper.resolve(str(svc)) == svc.resolve()                             # as is
    assert mapper.resolve("example.com/svc/api/handler.go") == svc.resolve()     # go.mod module (trimpath)
    assert mapper.resolve("example.com/lib/util/strings.go") == lib.resolve()
    assert mapper.resolve("runtime/proc.go") == proc.resolve()                   # GOROOT, trimpath
    assert mapper.resolve("/usr/local/go/src/runtime/proc.go") == proc.resolve()  # GOROOT, build machine
    assert mapper.resolve("golang.org/x/net@v0.1.0/http2/frame.go") == dep.resolve()
    assert mapper.resolve("/root/go/pkg/mod/golang.org/x/net@v0.1.0/http2/frame.go") == dep.resolve()
    assert mapper.resolve("/app/src/api/handler.go") == svc.resolve()            # unique suffix
    assert mapper.resolve("/elsewhere/nothing.go") is None
    assert mapper.unmapped == {"/elsewhere/nothing.go"}
    assert mapper.is_own("example.com/svc/api/handler.go")
    assert not mapper.is_own("runtime/proc.go") and not mapper.is_own("golang.org/x/net@v0.1.0/http2/frame.go")


def test_ambiguous_suffix_maps_nowhere(tmp_path):
    touch(tmp_path / "a" / "main.go")
    touch(tmp_path / "b" / "main.go")
    mapper = PathMapper.build([tmp_path])
    assert mapper.resolve("/src/main.go") is None
    assert mapper.resolve("/src/a/main.go") == (tmp_path / "a" / "main.go").resolve()


def test_mappers_share_one_walk_of_the_workspace_until_cleared(tmp_path, monkeypatch):
    svc = touch(tmp_path / "svc" / "api" / "handler.go")
    walks = []
    real = pathmap._go_files
    monkeypatch.setattr(pathmap, "_go_files", lambda roots, skip: walks.append(1) or real(roots, skip))
    cache = pathmap.MapperCache()
    first = cache.mapper([tmp_path])
    assert first.resolve("/elsewhere/nothing.go") is None
    second = cache.mapper([tmp_path], rules=[("/build", str(tmp_path / "svc"))])
    assert len(walks) == 1 and second.index is first.index
    assert second.unmapped == set()                     # each mapper reports its own files
    assert second.resolve("/build/api/handler.go") == svc.resolve()
    added = touch(tmp_path / "lib" / "extra.go")
    assert cache.mapper([tmp_path]).resolve("/src/lib/extra.go") is None   # not walked yet
    cache.clear()
    assert cache.mapper([tmp_path]).resolve("/src/lib/extra.go") == added.resolve()
    assert len(walks) == 2
    cache.mapper([tmp_path / "svc"])                    # other workspace folders: their own walk
    assert len(walks) == 3
