"""pipe() and unpipe() (docs/reference): a socket piped into a writable or into another socket, the
end of the source ending the destination, backpressure through a pipe, and unpipe()."""
import iotnet
from helpers import HOST, KIB, READ_BUFFER_BYTES, listen_local, run_bounded


def test_stream_pipe_socket_to_writable_then_unpipe():
    """Port of the 'net.Socket source piping' case of IoT.js test/run_pass/test_stream_pipe.js:
    a client socket piped (before it connects) into a writable gets the server's greeting there;
    unpipe() from 'end' is harmless.
    (The Readable/Duplex cases of that test are about IoT.js's stream module, not 'net'.)"""

    class Collector(iotnet.EventEmitter):
        def __init__(self):
            super().__init__()
            self.chunks, self.ended = [], False

        def write(self, chunk, *args):
            self.chunks.append(bytes(chunk))
            return True

        def end(self, *args):
            self.ended = True

    dest = Collector()
    server = iotnet.createServer({}, lambda sock: sock.write('Hello from the server'))

    def on_listening():
        client = iotnet.Socket()
        assert client.pipe(dest) is dest
        client.on('data', lambda data: client.end())

        def on_end():
            client.unpipe(dest)
            server.close()
        client.on('end', on_end)
        client.connect({'port': server.address()['port'], 'host': HOST})

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert b''.join(dest.chunks) == b'Hello from the server'


def test_stream_pipe_socket_into_socket():
    """Port of the 'net.Socket destination piping' case of IoT.js
    test/run_pass/test_stream_pipe.js: data piped into a connected socket reaches its server,
    and the source's 'end' ends the destination (pipe's end=True)."""
    greeting = b'Hello from the socket'
    received, server_ends = [], []
    source_server = iotnet.createServer(lambda sock: sock.end(greeting))
    sink_server = iotnet.createServer()

    def on_sink_connection(sock):
        sock.on('data', received.append)

        def on_end():
            server_ends.append(True)
            sink_server.close()
        sock.on('end', on_end)

    def on_both_listening():
        sink = iotnet.connect(sink_server.address()['port'], HOST)
        source = iotnet.connect(source_server.address()['port'], HOST)
        source.pipe(sink)
        source.on('end', source_server.close)

    sink_server.on('connection', on_sink_connection)
    sink_server.listen(0, HOST, lambda: source_server.listen(0, HOST, on_both_listening))
    run_bounded(10)

    assert b''.join(received) == greeting
    assert server_ends == [True]


def test_pipe_keeps_memory_bounded_against_a_slow_reader():
    """source.pipe(dest) pauses the source while dest is full: dest's queue stays near its mark."""
    total = 8 * 1024 * KIB
    max_queued = [0]
    received = [0]
    upstream = iotnet.createServer()
    downstream = iotnet.createServer()

    def on_upstream(sock):           # the producer: sends `total` bytes as fast as it can
        chunk = b"p" * 64 * KIB
        sent = [0]

        def pump():
            while sent[0] < total:
                sent[0] += len(chunk)
                if not sock.write(chunk):
                    return
            sock.end()

        sock.on("drain", pump)
        pump()

    def on_downstream(sock):         # the slow consumer: reads 64 KiB every 2 ms
        def on_data(chunk):
            received[0] += len(chunk)
            sock.pause()
            iotnet.setTimeout(sock.resume, 2)
        sock.on("data", on_data)
        sock.on("end", lambda: (upstream.close(), downstream.close()))

    upstream.on("connection", on_upstream)
    downstream.on("connection", on_downstream)

    def start(_port):
        source = iotnet.connect(upstream.address()["port"], "127.0.0.1")
        dest = iotnet.connect(downstream.address()["port"], "127.0.0.1")
        source.pipe(dest)
        watch = iotnet.setInterval(lambda: max_queued.__setitem__(
            0, max(max_queued[0], dest.writableLength)), 1)
        watch.unref()
        dest.on("close", lambda had_error: iotnet.clearInterval(watch))

    listen_local(upstream, lambda port: listen_local(downstream, start))
    run_bounded(60)
    assert received[0] == total
    # The mark, plus the chunk that crossed it, plus one more read.
    assert max_queued[0] < 64 * KIB + 2 * READ_BUFFER_BYTES


def test_unpipe_stops_forwarding():
    forwarded = []

    class Sink(iotnet.EventEmitter):
        def write(self, chunk):
            forwarded.append(chunk)
            return True

        def end(self):
            forwarded.append("end")

    server = iotnet.createServer()
    sink = Sink()
    clients = []

    def on_connection(sock):
        sock.pipe(sink)

        def first(chunk):
            sock.unpipe(sink)
            sock.off("data", first)
            sock.on("data", lambda chunk: None)
            clients[0].end(b"second")      # sent once the unpipe is done, not after a delay

        sock.on("data", first)
        sock.on("close", lambda had_error: server.close())

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        clients.append(client)
        client.on("connect", lambda: client.write(b"first"))

    listen_local(server, on_listening)
    run_bounded(10)
    assert forwarded == [b"first"]
