import socket


def test_free_port_is_bindable_on_loopback(free_port):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port))


def test_skips_fail_the_run(pytester):
    pytester.makepyfile("import pytest\n\ndef test_x():\n    pytest.skip('not here')\n")
    result = pytester.runpytest("-p", "cadenza_fixtures")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*skipped: Cadenza counts a skip as a failure*"])
