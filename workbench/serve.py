"""``workbench dashboard``: serve the Voila dashboards (notebooks/dashboards) on a workspace.

Voila runs with source cells stripped and tracebacks hidden, preheated kernels, on localhost by default.
Bound to any other address it requires a token (generated unless given) and prints the URL with it.
The kernels read the workspace path from the ``WB_WORKSPACE`` environment variable and open the published
read-only snapshot (:func:`workspace.reader`), so a running dashboard never blocks a new intake.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import workspace as wsmod
from .dashboards import DASHBOARDS, WORKSPACE_ENV

DEFAULT_PORT = 8866
DEFAULT_HOST = "127.0.0.1"
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks" / "dashboards"


def is_local(host: str) -> bool:
    """True for loopback addresses and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


OFFLINE_TEMPLATE = "wb"


def offline_template(root: Path) -> Path | None:
    """Write Voila template ``wb`` under ``root``: the stock ``lab`` page without its CDN stylesheets (Font
    Awesome from jsdelivr), so a dashboard renders without internet access. Returns the directory to add to
    JUPYTER_PATH, or None when the lab template is not found (then ``lab`` is used as it is)."""
    from jupyter_core.paths import jupyter_path

    for d in jupyter_path("voila", "templates", "lab"):
        src = Path(d) / "index.html.j2"
        if src.exists():
            break
    else:
        return None
    out = root / "voila" / "templates" / OFFLINE_TEMPLATE
    out.mkdir(parents=True, exist_ok=True)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "index.html.j2").write_text("".join(x for x in lines if "cdn.jsdelivr.net" not in x), encoding="utf-8")
    (out / "conf.json").write_text(json.dumps({"base_template": "lab"}), encoding="utf-8")
    return root


def voila_argv(notebooks: Path, port: int, host: str, token: str = "", preheat: bool = True,
               template: str = "lab") -> list[str]:
    """The Voila command line (sources stripped, no tracebacks, no browser, fixed port)."""
    argv = [
        sys.executable, "-m", "voila", str(notebooks), "--no-browser",
        f"--port={int(port)}", f"--Voila.ip={host}", "--Voila.port_retries=0", f"--Voila.token={token}",
        "--VoilaConfiguration.strip_sources=True", "--VoilaConfiguration.show_tracebacks=False",
        "--theme=light", f"--template={template}",
        # Voila's kernel shutdown on page close is a sendBeacon POST without the XSRF header (voila#1458):
        # without this every closed page would leave its kernel running. The apps only read.
        "--Voila.tornado_settings=disable_check_xsrf=True",
    ]
    if preheat:
        argv += ["--VoilaConfiguration.preheat_kernel=True", "--VoilaConfiguration.default_pool_size=1"]
    return argv


def urls(host: str, port: int, token: str = "") -> dict[str, str]:
    """Name -> URL of every dashboard (with the token when there is one)."""
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={token}" if token else ""
    return {name: f"http://{shown}:{port}/voila/render/{nb}{query}" for name, nb in DASHBOARDS.items()}


def prepare_workspace(path: str | os.PathLike) -> Path:
    """Absolute workspace path; publishes a snapshot first when there is none yet (readers never lock it)."""
    p = Path(path).resolve()
    snap = wsmod.snapshot_path(p)
    if not p.exists() and not snap.exists():
        raise FileNotFoundError(f"工作区不存在：{p}（请先运行 workbench intake）")
    if not snap.exists():
        wsmod.publish(p)
    return p


def wait_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 120.0) -> bool:
    """Poll ``url`` until it answers (False on timeout or when ``process`` exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return True
        time.sleep(0.25)
    return False


def resolve_token(host: str, token: str | None = None) -> str:
    """The token to require: none on localhost unless given; generated for any other address."""
    if token is None:
        return "" if is_local(host) else secrets.token_urlsafe(24)
    if not token and not is_local(host):
        raise ValueError(f"绑定到非本机地址 {host} 时必须使用令牌（token）")
    return token


def start(workspace: str | os.PathLike, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST,
          token: str | None = None, preheat: bool = True, notebooks: Path = NOTEBOOKS,
          **popen) -> tuple[subprocess.Popen, str]:
    """Start Voila in the background; returns (process, token). Non-local hosts always get a token."""
    ws = prepare_workspace(workspace)
    token = resolve_token(host, token)
    env = {**os.environ, WORKSPACE_ENV: str(ws)}
    extra = offline_template(Path(tempfile.gettempdir()) / f"wb-voila-{os.getuid() if hasattr(os, 'getuid') else 0}")
    template = "lab"
    if extra is not None:
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(extra), os.environ.get("JUPYTER_PATH")) if p)
        template = OFFLINE_TEMPLATE
    proc = subprocess.Popen(voila_argv(Path(notebooks), port, host, token, preheat, template), env=env,
                            cwd=str(notebooks), **popen)
    return proc, token


# ------------------------------------------------------------------------------------------ CLI
def cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True, help="工作区文件（.duckdb），驾驶舱只读其发布快照")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"端口（默认 {DEFAULT_PORT}）")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"绑定地址（默认 {DEFAULT_HOST} 仅本机；其他地址自动启用令牌认证）")
    parser.add_argument("--token", default=None, help="指定访问令牌（非本机地址时默认自动生成）")
    parser.add_argument("--no-preheat", action="store_true", help="不预热内核（默认预热以加快首次打开）")


def cli_run(args: argparse.Namespace) -> int:
    try:
        proc, token = start(args.workspace, args.port, args.host, args.token, not args.no_preheat)
    except (FileNotFoundError, ValueError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2

    def stop(*_):
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    links = urls(args.host, args.port, token)
    probe = urls("127.0.0.1" if is_local(args.host) or args.host in ("0.0.0.0", "::") else args.host,
                 args.port, token)
    if wait_ready(probe["overview"].split("/voila/")[0] + "/" + (f"?token={token}" if token else ""), proc):
        print("驾驶舱已启动（按 Ctrl+C 停止）：", flush=True)
        for name, label in (("overview", "领导驾驶舱"), ("explorer", "分析员")):
            print(f"  {label}：{links[name]}", flush=True)
        if token:
            print(f"  访问令牌：{token}", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop()
        return proc.wait()
