# The classes of iotnet._core with their fields and C methods, in one place. Methods declared
# here are C calls between the core's files; the .pxi files under core/ define them.
#
#   EventEmitter                       core/emitter.pxi
#     Handle: owns one uv handle       core/handle.pxi
#       Stream: bytes in and out       core/stream.pxi
#         Socket: Node's net.Socket    core/tcp.pxi
#       _IdleTimeout: a Stream's timer core/idle.pxi
#       Server: a listening handle     core/server.pxi
#       Timer: setTimeout/setInterval  core/timers.pxi
cimport cython
from libc.stdint cimport uint64_t
from uv cimport *


cdef extern from "debug.h":
    ctypedef struct iotnet_counters_t:
        long handles
        long requests
        long buffers
    iotnet_counters_t iotnet_counters
    int IOTNET_DEBUG_BUILD
    void IOTNET_COUNT_HANDLES(long delta) nogil
    void IOTNET_COUNT_REQUESTS(long delta) nogil
    void IOTNET_COUNT_BUFFERS(long delta) nogil
    void IOTNET_ASSERT_GIL() nogil

# A C function the tick queue runs: fn(target, arg).
ctypedef int (*later_fn)(object target, object arg) except -1


cdef class _Pipe
cdef class _ProxyHeader
cdef class _HeaderDeadlines


cdef class Loop:
    cdef unsigned char running
    cdef unsigned char stop_requested
    cdef unsigned long thread_ident    # the thread inside run(), while running
    cdef list errors                   # exceptions from callbacks, raised by run() one per call
    cdef object uncaught_handler
    cdef object ticks                  # deque: Node's nextTick queue of (fn, args) and _Later
    cdef object threadsafe_calls       # deque of (fn, args) appended by other threads
    cdef object signal_reader          # socketpair: Python's wakeup fd writes, the loop polls
    cdef object signal_writer
    # Embedded in an asyncio loop (iotnet.aio): it runs libuv one pass at a time (embed.pxi).
    cdef unsigned char attached
    cdef unsigned char in_pass         # inside run_pass(): what it starts, it sees after
    cdef unsigned char pass_requested  # request_pass() was called, and the pass has not run
    cdef object request_pass_soon      # the embedder's: schedules run_pass() with call_soon

    cdef void report(self, object exc) noexcept
    cdef void after_callback(self) noexcept
    cdef void run_ticks(self) noexcept
    cdef void run_threadsafe_calls(self) noexcept
    cdef object watch_signals(self)
    cdef void drain_signal_socket(self)
    cdef run(self)
    cdef void request_pass(self) noexcept


cdef class _Later:
    """A tick queue entry that is a C function: no Python-visible method behind it."""
    cdef later_fn fn
    cdef object target
    cdef object arg


cdef class EventEmitter:
    cdef object _event_name            # the one name with listeners, if only one has (emitter.pxi)
    cdef object _events                # its listeners; else None or (name, listeners, ...)
    cdef object __weakref__

    cdef object _entry(self, object name)
    cdef tuple _event_pairs(self)
    cdef list _names(self)
    cdef tuple _get(self, object name)
    cdef void _set_listeners(self, object name, tuple listeners) except *
    cdef _add(self, object name, object listener, bint prepend)
    cdef bint _remove(self, object name, object listener) except -1
    cdef _remove_at(self, object name, tuple current, Py_ssize_t i)
    cdef _remove_all(self, object name)
    cdef _once_wrapper(self, object name, object listener)
    cdef bint _emit(self, object name, tuple args) except -1
    cdef void _emit_event(self, object name, tuple args)
    cdef void _emit_event0(self, object name)
    cdef void _emit_event1(self, object name, object arg)


cdef class _OnceListener:
    cdef object emitter
    cdef object name
    cdef readonly object listener
    cdef unsigned char fired


cdef class Handle(EventEmitter):
    cdef uv_handle_t* uv_handle         # own heap block; NULL when there is none (or it closes)
    cdef unsigned char refed

    cdef int _own(self, uv_handle_t* handle) except -1
    cdef void _close(self)
    cdef void _close_quietly(self)
    cdef void _handle_closed(self) except *
    cdef void _force_close(self) except *
    cdef void _lookup_done(self, _Lookup lookup, int status, list addresses) except *
    cdef void _child_destroyed(self)
    cdef void _child_closed(self) except *


cdef class _Lookup:
    cdef Handle owner


cdef class Timer(Handle):
    cdef object callback
    cdef tuple args
    cdef uint64_t delay_ms
    cdef unsigned char repeat
    cdef unsigned char cleared          # clearTimeout()/close(): refresh() does nothing after it

    cdef void arm(self) except *
    cdef void clear(self)
    cdef void fire(self) except *


cdef class Immediate:
    cdef object callback
    cdef tuple args
    cdef unsigned char cleared
    cdef unsigned char refed


cdef class Stream(Handle):
    # What a read -> 'data' -> write() round touches comes first, so it shares cache lines.
    # The flags sit together: one byte each, with no padding between them.
    cdef object data_listeners         # the 'data' listener (a tuple if several), cached for
                                       # the read callback; None when there is none
    cdef _StreamCold cold              # what few connections use; None until then
    cdef uint64_t bytes_read
    cdef uint64_t bytes_written
    cdef _IdleTimeout idle             # setTimeout()'s timer; None while there is no timeout
    cdef Handle parent                 # the Server that accepted it: told of destroy and close
    cdef _Pipe pipes                   # the first of this stream's pipe()s, or None
    cdef _Pipe feeders                 # the first pipe() into this stream, or None
    cdef unsigned int high_water_mark  # 32 bits: it fills the flags' last word (4 GiB - 1 at most)
    cdef unsigned char connected
    cdef unsigned char ending                 # end() was called: no more writes
    cdef unsigned char is_destroyed           # destroy() ran: no more I/O, 'close' is on its way
    cdef unsigned char write_in_flight
    # the connection's life
    cdef unsigned char is_pipe
    cdef unsigned char allow_half_open
    cdef unsigned char is_connecting
    cdef unsigned char closed                 # 'close' was emitted
    cdef unsigned char emit_close_when_handle_closed
    cdef unsigned char had_error
    # reading
    cdef unsigned char reading                # uv_read_start is in effect
    cdef unsigned char paused                 # pause() (by the user or by pipe backpressure)
    cdef unsigned char flowing                # resume() ran: chunks flow with no 'data' listener
    cdef unsigned char readable_ended         # the peer's EOF was read
    cdef unsigned char end_emitted
    cdef unsigned char held_delivery_scheduled
    # writing
    cdef unsigned char shutdown_wanted        # the sending side may shut down once flushed
    cdef unsigned char shutdown_started
    cdef unsigned char finished               # 'finish' was emitted
    cdef unsigned char need_drain

    cdef int _create_handle(self) except -1
    @cython.final
    cdef _StreamCold _cold(self)
    cdef void _schedule_held_delivery(self)
    cdef void _deliver_held(self) except *
    cdef void _update_reading(self) except *
    cdef int _read_done(self, ssize_t nread, const uv_buf_t* buf) except -1
    cdef int _read_into_onread(self, const char* data, Py_ssize_t size) except -1
    cdef int _deliver_to_onread(self, const char* data, Py_ssize_t size) except -1
    cdef int _on_data(self, object chunk, Py_ssize_t nread) except -1
    cdef void _hold(self, object chunk) except *
    cdef void _on_eof(self) except *
    cdef void _emit_end(self) except *
    cdef Py_ssize_t _writable_length(self)
    cdef bint _write_data(self, bytes data, object callback) except -1
    @cython.final
    cdef bint _send(self, bytes data, object callback) except -1
    @cython.final
    cdef bint _send_buffer(self, const char* data, Py_ssize_t size, object owner,
                           object callback) except -1
    cdef bint _write_from_buffer(self, const char* data, Py_ssize_t size,
                                 object callback) except -1
    cdef void _queue(self, object data, Py_ssize_t size, object callback) except *
    cdef int _flush_queue(self) except -1
    cdef void _write_done(self, int status) except *
    @cython.final
    cdef void _emit_drain(self) except *
    cdef void _write_refused(self, object callback) except *
    cdef void _end(self) except *
    cdef void _end_writing(self) except *
    cdef void _shutdown(self) except *
    cdef void _shutdown_done(self, int status) except *
    cdef void _finish(self) except *
    cdef void _finish_unconnected(self) except *
    cdef void _destroy(self, object error) except *
    cdef void _abandon_connect(self)
    cdef void _emit_close(self) except *
    cdef void _after_close(self) except *
    cdef void _connect_done(self, int status) except *
    cdef void _accepted(self) except *
    cdef void _set_paused(self, bint paused) except *
    cdef void _set_idle_timeout(self, uint64_t timeout_ms) except *


cdef class _OnRead:
    """The onread option, shared by every socket a server accepts."""
    cdef object buffer                 # the user's buffer, or a function giving one per read
    cdef object view                   # the buffer's memoryview; None for a function
    cdef object callback
    cdef unsigned char gets_socket     # a server's: callback(nread, buf, sock)


cdef class _StreamCold:
    """A Stream's state that few connections ever use, allocated on first use."""
    cdef object decoder                # setEncoding()'s
    cdef list held_chunks              # chunks read while no 'data' listener exists
    cdef Py_ssize_t held_bytes
    cdef list end_callbacks            # end(callback)'s
    cdef _OnRead onread                # the onread option's, or None
    cdef _ProxyHeader proxy            # the PROXY protocol header being read, or None
    # the write backlog: what waits for the next uv_write, and the uv_write libuv has
    cdef list queued                   # bytes/memoryviews, or None
    cdef list queued_callbacks
    cdef Py_ssize_t queued_bytes
    cdef list inflight                 # its buffers, kept alive while libuv writes them
    cdef list inflight_callbacks
    cdef Py_ssize_t inflight_bytes


cdef class _IdleTimeout(Handle):
    cdef Stream stream
    cdef uint64_t timeout_ms
    cdef uint64_t last_activity_ms
    cdef unsigned char expired         # 'timeout' was emitted; the next activity re-arms it

    cdef void start(self, uint64_t timeout_ms) except *
    cdef void touch(self)
    cdef void fired(self) except *


cdef class _ProxyHeader:
    """A PROXY protocol header being read: lives from accept until the header is done."""
    cdef Stream stream
    cdef _HeaderDeadlines deadlines    # its server's headerTimeout list, while in it
    cdef _ProxyHeader newer            # the next in that list
    cdef _ProxyHeader older            # the one before
    cdef uint64_t deadline_ms          # uv_now() by which the header must be complete
    cdef Py_ssize_t seen               # header bytes consumed so far
    cdef Py_ssize_t total              # v2: 16 + its length field, once known; else 0
    cdef unsigned char buf[108]        # the v1 line, or v2's first bytes (the addresses)

    cdef void finish(self) except *


cdef class _HeaderDeadlines(Handle):
    """One server's headers being read, oldest first, and one timer for the oldest."""
    cdef _ProxyHeader oldest
    cdef _ProxyHeader newest
    cdef uint64_t timeout_ms

    cdef void add(self, _ProxyHeader h) except *
    cdef void remove(self, _ProxyHeader h)
    cdef void expire(self) except *


cdef class _Pipe:
    cdef Stream source
    cdef object destination
    cdef _Pipe next_from_source        # the source's next pipe (Stream.pipes is the first)
    cdef _Pipe next_into_destination   # the next pipe into a Stream destination (its feeders)
    cdef unsigned char end_destination
    cdef unsigned char paused_source
    cdef unsigned char to_stream       # the destination is a Stream: chunks may go in C

    cdef void resume_source(self) except *
    cdef int forward(self, const char* data, Py_ssize_t size) except -1
    cdef int flowing(self, bint flowing) except -1
    cdef void end_destination_now(self) except *
    cdef void detach(self) except *


cdef class _Dial:
    cdef object host
    cdef int port
    cdef list addresses                # [(family, address)] not yet tried
    cdef object current_address        # the address (or path) being tried
    cdef object local_address
    cdef int local_port
    cdef _Lookup lookup                # the name resolution this connect() waits for
    cdef object pending_options        # connect() while a destroyed connection is still closing


cdef class Socket(Stream):
    cdef tuple remote_cache            # (address, family, port), fetched once when asked
    cdef tuple local_cache
    cdef _Dial dial                    # the last connect()'s state; None on accepted sockets
    cdef unsigned char no_delay
    cdef unsigned char keep_alive
    cdef unsigned int keep_alive_delay_ms   # 32 bits: the kernel's limit is 32767 s anyway

    cdef void _start_connect(self, object options) except *
    cdef void _reset(self) except *
    cdef void _connect_next(self) except *
    cdef int _bind_local(self, int family) except? -1
    cdef void _bind_failed(self, int status) except *
    cdef void _connect_pipe(self, object path) except *
    cdef void _connect_failed(self, int status, str syscall) except *
    cdef void _apply_tcp_options(self) except *
    cdef tuple _remote(self)
    cdef tuple _local(self)
    cdef dict _endpoints(self)


cdef class Server(Handle):
    cdef unsigned char is_pipe
    cdef unsigned char is_listening
    cdef unsigned char close_requested
    cdef unsigned char handle_closing
    cdef dict pending_listen           # the listen() spec while its host name is resolved
    cdef _Lookup pending_lookup        # that resolution; any other answer is ignored
    cdef object pipe_path
    cdef Py_ssize_t connections        # accepted sockets not destroyed (getConnections)
    cdef Py_ssize_t open_connections   # accepted sockets whose 'close' is still to come
    cdef object max_connections_value
    cdef Py_ssize_t connection_limit   # maxConnections as a number; 0: no limit
    cdef unsigned char allow_half_open
    cdef unsigned char pause_on_connect
    cdef unsigned char no_delay
    cdef unsigned char keep_alive
    cdef uint64_t keep_alive_delay_ms
    cdef Py_ssize_t high_water_mark
    cdef _OnRead onread                # given to every accepted socket, or None
    cdef unsigned char proxy_protocol  # connections begin with a PROXY header (proxy_protocol.pxi)
    cdef uint64_t header_timeout_ms    # how long that header may take
    cdef _HeaderDeadlines header_deadlines  # its headers being read, once there have been any

    cdef int _listen_on(self, dict spec, int family, str address) except? -9999
    cdef void _listen_pipe(self, dict spec) except *
    cdef void _listening(self) except *
    cdef void _listen_failed(self, int status, object address, object port) except *
    cdef void _accept(self, int status) except *
    cdef Socket _new_connection(self)
    cdef void _emit_close_if_drained(self) except *


cdef class TLSSocket(Socket):
    cdef object context                # ssl.SSLContext
    cdef object settings               # iotnet._tls.ClientSettings or ServerSettings
    cdef object ssl_object             # ssl.SSLObject: the public view (certificate, cipher)
    cdef object tls                    # the C object behind it: what the hot path calls
    cdef object incoming               # ssl.MemoryBIO: ciphertext from the peer
    cdef object outgoing               # ssl.MemoryBIO: ciphertext for the peer
    cdef object tls_servername         # the SNI name sent (client)
    cdef list pending_plain            # [(bytes, callback)] written before the handshake ended
    cdef Py_ssize_t pending_plain_bytes
    cdef uint64_t plain_bytes_written
    cdef Timer handshake_timer         # handshakeTimeout (server side)
    cdef unsigned char tls_state
    cdef unsigned char server_side
    cdef unsigned char is_authorized
    cdef unsigned char close_notify_sent
    cdef unsigned char pumping         # delivering plaintext: writes collect, one send after
    # The hot path's calls, bound once (no attribute lookup per record).
    cdef object tls_read
    cdef object tls_write
    cdef object incoming_write
    cdef object outgoing_read
    cdef Py_ssize_t unflushed_bytes    # plaintext encrypted while pumping, not yet sent
    cdef list unflushed_callbacks      # their write callbacks

    cdef void _start_tls(self) except *
    cdef void _tls_pump(self) except *
    cdef void _deliver_plaintext(self) except *
    cdef void _tls_flush(self) except *
    cdef void _handshake_done(self) except *
    cdef void _tls_failed(self, object err) except *
    cdef void _stop_handshake_timer(self)
    cdef bint _encrypt(self, bytes data, object callback) except -1


cdef class TLSServer(Server):
    cdef object settings               # iotnet._tls.ServerSettings (its context, timeouts)


cdef class StreamReader:
    cdef Socket sock
    cdef object loop                   # the asyncio loop
    cdef Py_ssize_t limit              # readline's limit; reading pauses above twice this
    cdef list chunks                   # bytes read and not consumed, the first from `offset`
    cdef Py_ssize_t offset
    cdef Py_ssize_t size               # buffered bytes
    cdef unsigned char eof
    cdef unsigned char paused
    cdef object waiter                 # the future a read waits on
    cdef object exc

    cdef void _wake(self, object exc) except *
    cdef void _maybe_resume(self) except *
    cdef bytes _take(self, Py_ssize_t n)
    cdef bytes _coalesce(self)
    cdef void _clear(self)


cdef class StreamWriter:
    cdef Socket sock
    cdef StreamReader reader
    cdef object loop
    cdef object closed_future          # wait_closed(): set when the socket's 'close' comes
    cdef list drain_waiters
    cdef object error                  # the socket's 'error', given with its 'close'
    cdef unsigned char closing
    cdef unsigned char eof_written
    cdef unsigned char connection_lost
    cdef object __weakref__

    cdef void _listen(self) except *
    cdef void _event(self, int kind, object arg) except *
    cdef void _connection_lost(self, object exc) except *
    cdef void _wake_drain_waiters(self, object exc) except *
