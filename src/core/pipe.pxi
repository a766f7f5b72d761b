# pipe(): every chunk a Stream reads is written to a destination, and the source pauses while
# the destination is above its high-water mark, so memory stays bounded however slow the far
# side is. The 'data' listener is a C method, called with vectorcall: no Python frame and no
# argument tuple per chunk.


cdef class _Pipe:
    """One source.pipe(destination)."""

    def on_data(self, chunk):
        cdef bint flowing
        if isinstance(self.destination, Stream):
            flowing = (<Stream>self.destination)._write_data(
                chunk if type(chunk) is bytes else _as_bytes(chunk, None), None)
        else:
            flowing = self.destination.write(chunk) is not False
        if not flowing and not self.source.paused:
            self.paused_source = True
            self.source._set_paused(True)

    def on_drain(self):
        if self.paused_source:
            self.paused_source = False
            self.source._set_paused(False)

    def on_end(self):
        if self.end_destination:
            self.destination.end()

    cdef void detach(self):
        self.source.off('data', self.on_data)
        self.source.off('end', self.on_end)
        self.destination.off('drain', self.on_drain)


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
    source.on('data', link.on_data)
    return destination


cdef void _unpipe(Stream source, object destination) except *:
    if not source.pipes:
        return
    cdef _Pipe link
    for link in list(source.pipes):
        if destination is None or link.destination is destination:
            source.pipes.remove(link)
            link.detach()
