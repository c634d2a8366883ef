"""Test images: a static Go binary in a FROM-scratch image (nothing can be pulled here), tagged
by its source directory's path and content so an unchanged program is built once."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import docker

from harness import proc
from rundir.gosource import go_binary

GO_ENV = {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}


def build_go_binary(src: Path, out: Path) -> Path:
    """The Go program of `src` built (static, offline) into `out`, from a copy of its sources beside
    `out` (the build leaves nothing in the repository)."""
    import shutil
    copy = out.parent / "src"
    shutil.copytree(src, copy)
    proc.run([go_binary(), "build", "-o", str(out), "."], cwd=str(copy), env={**os.environ, **GO_ENV},
             timeout=300)
    return out


def build_go_image(client, src: Path, repo: str, labels: dict[str, str]) -> str:
    """`repo:<digest of src>` with the program of `src` as /app (its entrypoint)."""
    files = sorted(p for p in src.rglob("*") if p.is_file())
    # the binary records its source paths (own code is found by them): a build from another
    # checkout of the same files is not the same image
    digest = hashlib.sha256(str(src.resolve()).encode() + b"\0"
                            + b"".join(p.read_bytes() for p in files)).hexdigest()[:12]
    tag = f"{repo}:{digest}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    with tempfile.TemporaryDirectory() as ctx:
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        proc.run([go_binary(), "build", "-o", f"{ctx}/app", "."], timeout=300, cwd=str(src), env=env)
        Path(ctx, "Dockerfile").write_text('FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n')
        client.images.build(path=ctx, tag=tag, labels=labels, rm=True, forcerm=True)
    return tag
