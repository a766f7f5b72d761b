# pipe(): every chunk a Stream reads is written to a destination, and the source pauses while
# the destination is above its high-water mark, so memory stays bounded however slow the far
# side is. While the pipe is the source's only 'data' listener and both ends are iotnet
# streams, the read callback forwards straight from the read buffer (uv_try_write; only an
# unsent tail becomes a bytes object). Otherwise the pipe object itself is the 'data' listener,
# called with vectorcall: no Python frame and no argument tuple per chunk.
#
# A pipe costs a connection one small object: between iotnet streams, 'end', 'drain' and
# destroy reach it through two chains kept in the streams (source.pipes, destination.feeders),
# not through listeners. Only a destination that is not a Stream gets a 'drain' listener.
#
# Errors (a choice: Node's pipe() leaves the other side open, which leaks half of a proxy):
# a source destroyed with an error ends its destination, as its 'end' would; a destination
# destroyed with an error destroys its sources. A destroy without an error only unpipes.


cdef class _Pipe:
    """One source.pipe(destination); the source's 'data' listener."""

    def __call__(self, chunk):
        cdef bint flowing
        if self.to_stream:
            flowing = (<Stream>self.destination)._write_data(
                chunk if type(chunk) is bytes else _as_bytes(chunk, None), None)
        else:
            flowing = self.destination.write(chunk) is not False
        self.flowing(flowing)

    def on_drain(self):
        """The 'drain' listener on a destination that is not a Stream."""
        self.resume_source()

    cdef void resume_source(self) except *:
        if self.paused_source:
            self.paused_source = False
            self.source._set_paused(False)

    cdef int forward(self, const char* data, Py_ssize_t size) except -1:
        """A read, forwarded from the read buffer by the source's read callback: what a call
        does, without a bytes object unless some must wait (_Stream._write_from_buffer)."""
        cdef Stream source = self.source
        source.bytes_read += size
        if source.idle is not None:
            source.idle.touch()
        if (<Stream>self.destination)._write_from_buffer(data, size, None):
            return 0
        return self.flowing(False)

    cdef int flowing(self, bint flowing) except -1:
        if not flowing and not self.source.paused:
            self.paused_source = True
            self.source._set_paused(True)
        return 0

    cdef void end_destination_now(self) except *:
        if not self.end_destination:
            return
        if self.to_stream:
            (<Stream>self.destination)._end()
        else:
            self.destination.end()

    cdef void detach(self) except *:
        """Unlinks the pipe from both ends and removes its listeners."""
        cdef Stream source = self.source
        cdef _Pipe link
        if source.pipes is self:
            source.pipes = self.next_from_source
        else:
            link = source.pipes
            while link is not None and link.next_from_source is not self:
                link = link.next_from_source
            if link is not None:
                link.next_from_source = self.next_from_source
        self.next_from_source = None
        if self.to_stream:
            _unlink_feeder(<Stream>self.destination, self)
        else:
            self.destination.off('drain', self.on_drain)
        source.off('data', self)


cdef void _unlink_feeder(Stream destination, _Pipe pipe):
    cdef _Pipe link
    if destination.feeders is pipe:
        destination.feeders = pipe.next_into_destination
    else:
        link = destination.feeders
        while link is not None and link.next_into_destination is not pipe:
            link = link.next_into_destination
        if link is not None:
            link.next_into_destination = pipe.next_into_destination
    pipe.next_into_destination = None


cdef object _pipe(Stream source, object destination, object end):
    if not isinstance(destination, Stream) and not callable(getattr(destination, 'write', None)):
        raise TypeError('destination must have a write() method')
    cdef _Pipe link = _Pipe.__new__(_Pipe)
    link.source = source
    link.destination = destination
    link.end_destination = bool(end)
    link.next_from_source = source.pipes
    source.pipes = link
    if isinstance(destination, Stream):
        link.to_stream = True
        link.next_into_destination = (<Stream>destination).feeders
        (<Stream>destination).feeders = link
    else:
        destination.on('drain', link.on_drain)
    source.on('data', link)
    return destination


cdef void _unpipe(Stream source, object destination) except *:
    cdef _Pipe link = source.pipes
    cdef _Pipe next_link
    while link is not None:
        next_link = link.next_from_source
        if destination is None or link.destination is destination:
            link.detach()
        link = next_link


cdef void _pipes_source_ended(Stream source) except *:
    """The source's 'end': each pipe with end=True ends its destination."""
    cdef _Pipe link = source.pipes
    cdef _Pipe next_link
    while link is not None:
        next_link = link.next_from_source
        link.end_destination_now()
        link = next_link


cdef void _pipes_drained(Stream destination) except *:
    """The destination emitted 'drain': the sources its pipes paused read again."""
    cdef _Pipe link = destination.feeders
    cdef _Pipe next_link
    while link is not None:
        next_link = link.next_into_destination
        link.resume_source()
        link = next_link


cdef void _pipes_destroyed(Stream stream, object error) except *:
    """The stream is destroyed: its pipes go, and an error reaches the other ends."""
    cdef _Pipe link = stream.pipes
    cdef _Pipe next_link
    while link is not None:
        next_link = link.next_from_source
        link.detach()
        if error is not None:
            link.end_destination_now()
        link = next_link
    link = stream.feeders
    while link is not None:
        next_link = link.next_into_destination
        link.detach()
        if error is not None:
            link.source._destroy(None)
        link = next_link
