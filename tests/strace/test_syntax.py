"""Reading strace's text: the line shapes strace 6.1 writes and the values inside calls."""

from __future__ import annotations

import pytest

from tcpconform.strace.syntax import Fd, Flags, Form, Named, Str, Struct, ValueError_, read_args, read_line


@pytest.mark.parametrize("text, kind, name, ret", [
    ('10811<python3> 1796354618.874155 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<TCP:[1763541]> '
     '<0.000103>', "call", "socket", "3<TCP:[1763541]>"),
    ("10811<pyenv-exec> 1796354618.887896 accept4(3<TCP:[127.0.0.1:40867]>,  <unfinished ...>", "entry", "accept4",
     None),
    ('10811<pyenv-exec> 1796354618.898209 <... accept4 resumed>{sa_family=AF_INET, sin_port=htons(41318), '
     'sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 4<TCP:[127.0.0.1:40867->127.0.0.1:41318]> <0.010278>',
     "exit", "accept4", "4<TCP:[127.0.0.1:40867->127.0.0.1:41318]>"),
    ("10852<python3> 1796354618.919943 +++ exited with 0 +++", "gone", "exit", None),
    ("12140 03:31:40.123456 +++ killed by SIGTERM +++", "gone", "SIGTERM", None),
    ("12140 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=12141} ---", "signal", "SIGCHLD", None),
    ('connect(3, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS '
     '(Operation now in progress)', "call", "connect", "-1 EINPROGRESS (Operation now in progress)"),
    ("10811<pyenv-exec> 1796354618.906217 poll([{fd=4, events=POLLIN}], 1, 1000) = 1 ([{fd=4, revents=POLLIN}])",
     "call", "poll", "1 ([{fd=4, revents=POLLIN}])"),
    ("exit_group(0)                           = ?", "call", "exit_group", "?"),
    ("strace: Process 123 attached", "other", "", None),
])
def test_line_shapes(text, kind, name, ret):
    line = read_line(text, 7)
    assert (line.kind, line.name, line.ret, line.number) == (kind, name, ret, 7)


def test_times_and_durations():
    epoch = read_line("1 1796354618.874155 close(3) = 0 <0.000103>", 1)
    assert epoch.time == pytest.approx(1796354618.874155) and epoch.dur == pytest.approx(0.000103)
    hms = read_line("1 03:31:40.500000 close(3) = 0", 1)
    assert hms.time == pytest.approx(3 * 3600 + 31 * 60 + 40.5) and hms.dur is None
    bare = read_line("close(3) = 0", 1)
    assert bare.pid is None and bare.time is None


def test_values():
    got = read_args('3<TCP:[127.0.0.1:1->127.0.0.1:2]>, {sa_family=AF_INET6, sin6_port=htons(8000), '
                    'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, [128 => 28], '
                    'SOCK_NONBLOCK|SOCK_CLOEXEC, ""..., /* 35 vars */ 0x1f')
    fd, sa, length, flags, text, num = got
    assert fd == Fd(3, "TCP:[127.0.0.1:1->127.0.0.1:2]")
    assert isinstance(sa, Struct) and sa.get("sin6_port") == Form("htons", (8000,))
    assert sa.items[0].name == "inet_pton" and sa.items[0].args[1] == Str('"::1"')
    assert length == [28]   # the value after the call
    assert flags == Flags(("SOCK_NONBLOCK", "SOCK_CLOEXEC"))
    assert text == Str('""', cut=True) and num == 31


def test_select_sets_nested_decorations_and_named_arguments():
    assert read_args("5, [3 4], NULL") == [5, [3, 4], "NULL"]
    assert read_args("0</dev/null<char 1:3>>, TCGETS") == [Fd(0, "/dev/null<char 1:3>"), "TCGETS"]
    clone = read_args("child_stack=NULL, flags=CLONE_VM|CLONE_FILES|SIGCHLD, child_tidptr=0x7f")
    assert clone[1] == Named("flags", Flags(("CLONE_VM", "CLONE_FILES", "SIGCHLD")))
    wait = read_args("-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL")
    assert wait[1][0].items == [Str("WIFEXITED(s) && WEXITSTATUS(s) == 0")]


@pytest.mark.parametrize("text", ['3, "unterminated', "3, {a=1", "4<TCP:[1.2.3.4:5"])
def test_bad_values_raise(text):
    with pytest.raises(ValueError_):
        read_args(text)
