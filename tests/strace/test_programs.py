"""``conform trace`` on real programs, each run in a fresh network namespace
of its own: the trace of every one conforms and is whole (no call left
unmapped), and one changed event of it is rejected at its line.

The programs come from Debian (the project's setup, ``bin/dev``, installs
them); a test whose program is missing skips and names the package.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from tcpconform import cli
from tests.strace.test_convert import check, mutant, with_line

pytestmark = pytest.mark.live

PY = sys.executable
NGINX_CONF = """daemon off; master_process on; worker_processes 2; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{ listen 127.0.0.1:8088; root {d}; }} }}
"""

# name -> (shell command, {program: Debian package})
PROGRAMS = {
    "http-server-curl-urllib": (
        f"{PY} -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 & sleep 1; "
        "curl -s http://127.0.0.1:8765/ >/dev/null; "
        f"{PY} -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:8765/\").read()'; "
        "kill $!; wait",
        {"curl": "curl"}),
    "socat-both-ways": (
        "socat -u TCP-LISTEN:9001,bind=127.0.0.1,reuseaddr OPEN:/dev/null & sleep 0.3; "
        "echo hello | socat -u STDIN TCP:127.0.0.1:9001; wait; "
        "socat TCP-LISTEN:9002,bind=127.0.0.1,reuseaddr SYSTEM:'echo hi' & sleep 0.3; "
        "socat -u TCP:127.0.0.1:9002 STDOUT >/dev/null; wait",
        {"socat": "socat"}),
    "nc-both-ways": (
        "nc -l 127.0.0.1 9003 >/dev/null & sleep 0.3; echo hello | nc -N 127.0.0.1 9003; wait; "
        "echo hi | nc -N -l 127.0.0.1 9004 & sleep 0.3; nc -d 127.0.0.1 9004 >/dev/null; wait",
        {"nc": "netcat-openbsd"}),
    "redis-benchmark": (
        "redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no >/dev/null & sleep 0.5; "
        "redis-benchmark -p 6390 -c 4 -n 40 -t ping,set,get -q >/dev/null; redis-cli -p 6390 shutdown nosave; wait",
        {"redis-server": "redis-server", "redis-benchmark": "redis-tools"}),
    "memcached-threads": (
        "memcached -u root -l 127.0.0.1 -p 11299 -U 0 -t 2 & sleep 0.5; "
        f"{PY} -c '{{memcached_clients}}'; kill $!; wait",
        {"memcached": "memcached"}),
    "http-server-wget": (
        f"{PY} -m http.server 8766 --bind 127.0.0.1 >/dev/null 2>&1 & sleep 1; "
        "wget -q -O /dev/null http://127.0.0.1:8766/; kill $!; wait",
        {"wget": "wget"}),
    "nginx-ab": (
        "nginx -c {d}/nginx.conf -p {d} & sleep 0.5; ab -q -n 20 -c 4 http://127.0.0.1:8088/index.html >/dev/null; "
        "kill -QUIT $!; wait",
        {"nginx": "nginx-light", "ab": "apache2-utils"}),
}


# three threads of one process, each with its own connection: set and get five times
MEMCACHED_CLIENTS = (
    "import socket, threading\n"
    "def client(i):\n"
    "    s = socket.create_connection((\"127.0.0.1\", 11299))\n"
    "    for k in range(5):\n"
    "        s.sendall(b\"set k%d 0 0 1\\r\\nx\\r\\n\" % i); s.recv(100)\n"
    "        s.sendall(b\"get k%d\\r\\n\" % i); s.recv(100)\n"
    "    s.close()\n"
    "ts = [threading.Thread(target=client, args=(i,)) for i in range(3)]\n"
    "[t.start() for t in ts]; [t.join() for t in ts]\n")


def command_of(name: str, directory) -> str:
    """The shell command of program ``name`` (nginx's files in ``directory``)."""
    command = PROGRAMS[name][0]
    return command.replace("{memcached_clients}", MEMCACHED_CLIENTS.replace("'", "'\\''")).replace(
        "{d}", str(directory))


def _needs(programs: dict) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (a fresh network namespace, ptrace of the programs)")
    missing = {p: pkg for p, pkg in {"strace": "strace", **programs}.items()
               if shutil.which(p) is None and not os.path.exists(f"/usr/sbin/{p}")}
    if missing:
        pytest.skip("not installed: " + ", ".join(f"{p} (Debian package {pkg})" for p, pkg in missing.items()))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_real_program_conforms_and_a_changed_event_does_not(name, tmp_path, capsys):
    _, programs = PROGRAMS[name]
    _needs(programs)
    if name == "nginx-ab":
        (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(d=tmp_path))
        (tmp_path / "index.html").write_text("hello\n")
    out = tmp_path / "trace.jsonl"
    code = cli.main(["trace", "--netns", "--json", "--seconds", "60", "--out", str(out), "--",
                     "sh", "-c", command_of(name, tmp_path)])
    got = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (code, got["verdict"]) == (0, "conforms"), got
    assert got["partial"] is False and got["strace"]["calls_seen"] == got["strace"]["calls_mapped"] > 0
    assert got["program"]["status"] == 0 and not got["program"]["timed_out"]
    text = out.read_text()
    number, event = mutant(text)
    verdict = check(with_line(text, number, event))
    assert (verdict.verdict, verdict.line) == ("diverges", number)


def test_attaching_to_a_running_server(tmp_path, capsys):
    """``--pid``: a server started untraced, attached to, then given a client:
    what it does from then on is checked (its listener, opened before, is left out)."""
    _needs({})
    import subprocess
    import time
    server = subprocess.Popen([PY, "-c", (
        "import socket, time\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', 8799)); s.listen(4)\n"
        "time.sleep(1.0)\n"
        "c = socket.create_connection(('127.0.0.1', 8799)); a, _ = s.accept()\n"
        "c.sendall(b'hi'); a.recv(10); c.close(); a.close()\n")])
    try:
        time.sleep(0.3)
        code = cli.main(["trace", "--json", "--seconds", "20", "--pid", str(server.pid)])
    finally:
        server.kill()
        server.wait()
    got = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert got["partial"] is True and got["strace"]["unmapped"].get("descriptor opened before tracing", 0) >= 1
    assert (code, got["verdict"]) == (0, "conforms"), got


def test_explain_sets_the_kernels_states_beside_the_models(capsys):
    """``--explain``: after every call the kernel's states of the program's
    sockets (its state-change tracepoint) beside the model's: the listener in
    LISTEN, both ends ESTABLISHED, the end that closed first in TIME_WAIT."""
    _needs({"nc": "netcat-openbsd"})
    from tcpconform.live.tracepoint import available
    code = cli.main(["trace", "--netns", "--explain", "--seconds", "30", "--", "sh", "-c",
                     "nc -l 127.0.0.1 9003 >/dev/null & sleep 0.3; echo hello | nc -N 127.0.0.1 9003; wait"])
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[-1].startswith("conforms")
    if available() is not None:
        pytest.skip(f"the kernel's side needs its tracepoint: {available()}")
    kernel = [line.split("|", 1)[1] for line in out.splitlines() if "|" in line and "tcp " in line.split("|", 1)[1]]
    assert any("LISTEN" in k for k in kernel) and any("ESTABLISHED" in k for k in kernel)
    assert any("TIME_WAIT" in k for k in kernel)
