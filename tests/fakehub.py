"""A local stand-in for the Hugging Face Hub and download.pytorch.org, on 127.0.0.1, for the fetch tests.

It speaks what huggingface_hub 2.x's ``snapshot_download`` asks for:
``GET /api/models/{repo}[/revision/{rev}]`` (``sha``, ``siblings``), ``GET /api/models/{repo}/tree/{sha}``
(the file list with sizes), then per file ``HEAD`` and ``GET /{repo}/resolve/{sha}/{file}`` with
``X-Repo-Commit``, ``ETag``, ``Content-Length`` and ``Range``; any other path serves a plain file from
``files`` (torchvision weights). Faults on demand: ``drop_once`` sends half of a file and closes the
connection; ``rate`` slows transfers down; every request is recorded in ``requests``.

Not a test module: the tests load it by its path (pytest runs with ``--import-mode=importlib``, so
``tests`` is not importable).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # repo id -> {"sha": ..., "files": {path: bytes}}
        self.files: dict[str, bytes] = {}  # plain files: URL path -> bytes
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Range header)
        self.drop_once: set[str] = set()  # file paths sent half-way once, then the connection drops
        self.rate: float = 0.0  # bytes per second a file is sent at (0: as fast as possible)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_repo(
        self, repo_id: str, folder: Path | None = None, files: dict[str, bytes] | None = None
    ) -> str:
        """Serve ``folder``'s files (and ``files``) as ``repo_id``; returns the commit hash."""
        content = dict(files or {})
        if folder is not None:
            for p in sorted(Path(folder).rglob("*")):
                if p.is_file():
                    content[p.relative_to(folder).as_posix()] = p.read_bytes()
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(content):
            digest.update(name.encode() + content[name])
        sha = digest.hexdigest()
        self.repos[repo_id] = {"sha": sha, "files": content}
        return sha

    def gets(self, suffix: str) -> list[tuple[str, str, str]]:
        """The GET requests whose path ends with ``suffix``."""
        return [r for r in self.requests if r[0] == "GET" and r[1].endswith(suffix)]


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _send(
            self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, doc, head: bool = False) -> None:
            self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"}, head)

        def _not_found(self, code: str, head: bool) -> None:
            self._send(404, b'{"error": "not found"}', {"X-Error-Code": code, "X-Error-Message": code}, head)

        def _serve(self, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            with hub.lock:
                hub.requests.append((self.command, path, self.headers.get("Range", "")))
            if (m := re.fullmatch(r"/api/models/(.+)/revision/([^/]+)", path)) or (
                m := re.fullmatch(r"/api/models/([^/]+(?:/[^/]+)?)", path)
            ):
                repo = self._repo(m.group(1), m.group(2) if m.lastindex == 2 else "main", head)
                if repo:
                    files = [{"rfilename": f} for f in sorted(repo["files"])]
                    self._json({"id": m.group(1), "sha": repo["sha"], "siblings": files}, head)
            elif m := re.fullmatch(r"/api/models/(.+)/tree/([^/]+)", path):
                repo = self._repo(m.group(1), m.group(2), head)
                if repo:
                    tree = [
                        {"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                        for f, b in sorted(repo["files"].items())
                    ]
                    self._json(tree, head)
            elif m := re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path):
                repo = self._repo(m.group(1), m.group(2), head)
                if repo is None:
                    return
                body = repo["files"].get(m.group(3))
                if body is None:
                    self._send(
                        404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo["sha"]}, head
                    )
                    return
                extra = {"X-Repo-Commit": repo["sha"], "ETag": f'"{hashlib.sha256(body).hexdigest()}"'}
                self._file(m.group(3), body, extra, head)
            elif path in hub.files:
                self._file(path, hub.files[path], {}, head)
            else:
                self._not_found("RepoNotFound", head)

        def _repo(self, repo_id: str, revision: str, head: bool) -> dict | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._not_found("RepoNotFound", head)
                return None
            if revision not in ("main", repo["sha"]):
                self._not_found("RevisionNotFound", head)
                return None
            return repo

        def _file(self, name: str, body: bytes, extra: dict, head: bool) -> None:
            start = 0
            rng = self.headers.get("Range")
            if rng and (m := re.fullmatch(r"bytes=(\d+)-", rng)):
                start = int(m.group(1))
            if start >= len(body) and start:
                self._send(416, b"", {"Content-Range": f"bytes */{len(body)}"}, head)
                return
            part = body[start:]
            self.send_response(206 if start else 200)
            for key, value in extra.items():
                self.send_header(key, value)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            if head:
                return
            with hub.lock:
                drop = name in hub.drop_once and not start
                hub.drop_once.discard(name)
            if drop:  # half the body, then the connection goes away
                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if not hub.rate:
                self.wfile.write(part)
                return
            step = 64 << 10
            try:
                for i in range(0, len(part), step):
                    self.wfile.write(part[i : i + step])
                    time.sleep(step / hub.rate)
            except (BrokenPipeError, ConnectionResetError):  # the client stopped (Ctrl-C)
                self.close_connection = True

    return Handler


def write_tiny_bert(folder: Path) -> Path:
    """A 2-layer BERT with hidden size 16 and its own 60-word WordPiece tokenizer, as save_pretrained
    writes them (safetensors)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]
    words += ["the", "a", "cat", "dog", "red", "blue", "##s", "on", "mat", "sat"]
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    config = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    )
    BertModel(config).save_pretrained(folder)
    assert (folder / "model.safetensors").is_file()
    return folder
