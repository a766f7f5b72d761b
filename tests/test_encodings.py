"""Encodings: setEncoding() turns what is read into str without breaking a multi-byte character,
and write() encodes a str with the encoding it is given (docs/reference)."""
import pytest

import iotnet
from helpers import HOST, listen_local, port_of, run_bounded, wait_until


# -- setEncoding ----------------------------------------------------------------------------------

def test_large_string_with_split_multibyte_characters():
    """Port of Node test/parallel/test-net-large-string.js: 40 Ki three-byte characters written
    as one str; the receiver's setEncoding('utf8') delivers exactly 40 Ki characters (none
    broken at a read boundary)."""
    data = '\u3042' * (40 * 1024)
    received = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.setEncoding('utf8')
        sock.on('data', received.append)
        sock.on('end', sock.end)

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)
        client.on('end', server.close)
        client.write(data, 'utf-8')
        client.end()

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert all(isinstance(chunk, str) for chunk in received)
    assert sum(len(chunk) for chunk in received) == 40 * 1024
    assert ''.join(received) == data


def test_str_writes_and_set_encoding_keep_multibyte_characters_whole():
    """Multi-byte characters split across writes (and reads) arrive whole with setEncoding."""
    text = "ü€𝄞ж" * 20000
    raw = text.encode("utf-8")
    pieces = [raw[i:i + 7] for i in range(0, len(raw), 7)]   # splits characters everywhere
    received = []
    server = iotnet.createServer(lambda sock: sock.pipe(sock))

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        client.setEncoding("utf8")
        client.on("data", received.append)
        client.on("end", lambda: server.close())
        for piece in pieces:
            client.write(piece)
        client.end()

    listen_local(server, on_listening)
    run_bounded(30)
    assert all(isinstance(chunk, str) for chunk in received)
    assert "".join(received) == text


def test_set_encoding_converts_chunks_held_before_it_and_keeps_split_characters_whole():
    """The first two bytes of '€' are held (no 'data' listener yet); setEncoding then turns
    held and later bytes into whole characters."""
    received = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.write(b'\xe2\x82')
        sock.on('data', lambda chunk: sock.end(b'\xacA'))   # the client's go-ahead
    server.on('connection', on_connection)

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')

        def go():
            sock.setEncoding('utf8')
            sock.on('data', received.append)
            sock.on('end', lambda: server.close())
            sock.write(b'go')
        wait_until(lambda: sock.bytesRead == 2, go)

    listen_local(server, on_listening)
    run_bounded(5)
    assert ''.join(received) == '\u20acA' and all(isinstance(c, str) for c in received)


def test_set_encoding_none_is_utf8_and_an_unknown_name_is_a_value_error_with_node_code():
    sock = iotnet.Socket()
    assert sock.setEncoding(None) is sock
    with pytest.raises(ValueError) as info:
        sock.setEncoding('no-such-encoding')
    assert info.value.code == 'ERR_UNKNOWN_ENCODING'


# -- write encodings ------------------------------------------------------------------------------

def test_binary_latin1_echo():
    """Port of Node test/parallel/test-net-binary.js: all 256 latin1 characters (reversed) go
    through a latin1 echo server, then one by one in order; what comes back is both sequences."""
    binary = ''.join(chr(i) for i in range(255, -1, -1))
    recv = []
    server = iotnet.createServer()

    def on_connection(conn):
        conn.setEncoding('latin1')
        conn.on('data', lambda chunk: conn.write(chunk, 'latin1'))
        conn.on('end', conn.end)

    def on_listening():
        c = iotnet.createConnection({'port': port_of(server), 'host': HOST})
        c.setEncoding('latin1')
        sent = [0]

        def on_data(chunk):
            n = sent[0] + len(chunk)
            if sent[0] < 256:
                while sent[0] < n and sent[0] < 256:
                    c.write(chr(sent[0]), 'latin1')
                    sent[0] += 1
                if sent[0] == 256:
                    c.end()
            recv.append(chunk)
        c.on('data', on_data)
        c.on('connect', lambda: c.write(binary, 'latin1'))
        c.on('close', lambda had_error: server.close())

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    text = ''.join(recv)
    assert len(text) == 2 * 256
    assert text[:256] == binary
    assert text[256:] == binary[::-1]


def test_write_of_an_unencodable_str_is_a_value_error_at_the_call():
    sock = iotnet.Socket()
    with pytest.raises(ValueError):
        sock.write('\u20ac', 'ascii')
    sock.destroy()
    run_bounded(5)
