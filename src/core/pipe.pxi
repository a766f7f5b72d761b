# pipe(): every chunk a Stream reads is written to a destination, and the source pauses while
# the destination is above its high-water mark, so memory stays bounded however slow the far
# side is. While the pipe is the source's only 'data' listener and both ends are iotnet
# streams, the read callback forwards straight from the read buffer (uv_try_write; only an
# unsent tail becomes a bytes object). Otherwise the 'data' listener is a C method, called
# with vectorcall: no Python frame and no argument tuple per chunk.


cdef class _Pipe:
    """One source.pipe(destination)."""

    def on_data(self, chunk):
        cdef bint flowing
        if isinstance(self.destination, Stream):
            flowing = (<Stream>self.destination)._write_data(
                chunk if type(chunk) is bytes else _as_bytes(chunk, None), None)
        else:
            flowing = self.destination.write(chunk) is not False
        self.flowing(flowing)

    def on_drain(self):
        if self.paused_source:
            self.paused_source = False
            self.source._set_paused(False)

    def on_end(self):
        if self.end_destination:
            self.destination.end()

    cdef void forward(self, const char* data, Py_ssize_t size) except *:
        """A read, forwarded from the read buffer by the source's read callback: what on_data
        does, without a bytes object unless some must wait (_Stream._write_from_buffer)."""
        cdef Stream source = self.source
        source.bytes_read += size
        if source.idle is not None:
            source.idle.touch()
        self.flowing((<Stream>self.destination)._write_from_buffer(data, size))

    cdef void flowing(self, bint flowing) except *:
        if not flowing and not self.source.paused:
            self.paused_source = True
            self.source._set_paused(True)

    cdef void detach(self):
        self.source.off('data', self.data_listener)
        self.source.off('end', self.on_end)
        self.destination.off('drain', self.on_drain)


cdef _Pipe _forwarding_pipe(Stream source):
    """The pipe whose chunks the source's read callback may forward in C: its only 'data'
    listener is that pipe's, the destination is a Stream, and chunks are bytes (no
    setEncoding()). Else None: chunks become objects for the listeners."""
    listener = source.data_listeners
    cdef _Pipe link
    if listener is None or type(listener) is tuple or source.decoder is not None or not source.pipes:
        return None
    for link in source.pipes:
        if link.data_listener is listener and isinstance(link.destination, Stream):
            return link
    return None


cdef object _pipe(Stream source, object destination, object end):
    if not callable(getattr(destination, 'write', None)):
        raise TypeError('destination must have a write() method')
    cdef _Pipe link = _Pipe.__new__(_Pipe)
    link.source = source
    link.destination = destination
    link.end_destination = bool(end)
    if source.pipes is None:
        source.pipes = []
    source.pipes.append(link)
    destination.on('drain', link.on_drain)
    source.on('end', link.on_end)
    link.data_listener = link.on_data
    source.on('data', link.data_listener)
    return destination


cdef void _unpipe(Stream source, object destination) except *:
    if not source.pipes:
        return
    cdef _Pipe link
    for link in list(source.pipes):
        if destination is None or link.destination is destination:
            source.pipes.remove(link)
            link.detach()
