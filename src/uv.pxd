# libuv's public API as iotnet uses it: only the struct fields the core reads
# (data, loop, write_queue_size), never libuv's private ones.
from libc.stdint cimport uint64_t


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t

    struct sockaddr:
        sa_family_t sa_family

    struct sockaddr_storage:
        sa_family_t ss_family

    enum:
        AF_UNSPEC
        AF_INET
        AF_INET6
        SOCK_STREAM
        SOL_SOCKET
        SO_KEEPALIVE
        SO_REUSEPORT

    int setsockopt(int fd, int level, int name, const void* value, socklen_t size)


cdef extern from "<netinet/in.h>" nogil:
    struct sockaddr_in:
        sa_family_t sin_family
        unsigned short sin_port

    struct sockaddr_in6:
        sa_family_t sin6_family
        unsigned short sin6_port

    unsigned short ntohs(unsigned short)


cdef extern from "<netdb.h>" nogil:
    struct addrinfo:
        int ai_flags
        int ai_family
        int ai_socktype
        int ai_protocol
        socklen_t ai_addrlen
        sockaddr* ai_addr
        addrinfo* ai_next


cdef extern from "uv.h" nogil:
    enum:
        UV_EOF
        UV_EAGAIN
        UV_EINVAL
        UV_EADDRINUSE
        UV_EAFNOSUPPORT
        UV_ENOTCONN
        UV_EAI_NONAME
        UV_EAI_NODATA
        UV_EAI_ADDRFAMILY
        UV_READABLE
        UV_TCP_IPV6ONLY

    ctypedef enum uv_run_mode:
        UV_RUN_DEFAULT
        UV_RUN_NOWAIT

    ctypedef int uv_os_fd_t

    ctypedef struct uv_buf_t:
        char* base
        size_t len

    ctypedef struct uv_loop_t:
        void* data

    ctypedef struct uv_handle_t:
        void* data
        uv_loop_t* loop

    ctypedef struct uv_stream_t:
        void* data
        uv_loop_t* loop
        size_t write_queue_size
        # set by uv_read_start (a uv_read_cb); the PROXY header swaps it in place
        void (*read_cb)(uv_stream_t*, ssize_t, const uv_buf_t*) noexcept

    ctypedef struct uv_tcp_t:
        void* data
        uv_loop_t* loop
        size_t write_queue_size

    ctypedef struct uv_pipe_t:
        void* data
        uv_loop_t* loop
        size_t write_queue_size

    ctypedef struct uv_timer_t:
        void* data

    ctypedef struct uv_check_t:
        void* data

    ctypedef struct uv_prepare_t:
        void* data

    ctypedef struct uv_idle_t:
        void* data

    ctypedef struct uv_async_t:
        void* data

    ctypedef struct uv_poll_t:
        void* data


    ctypedef struct uv_write_t:
        void* data

    ctypedef struct uv_connect_t:
        void* data
        uv_stream_t* handle

    ctypedef struct uv_shutdown_t:
        void* data

    ctypedef struct uv_getaddrinfo_t:
        void* data


# libuv callback types: not nogil, because iotnet's callbacks run with the GIL held (they take
# it back first thing: see the GIL policy in core/loop.pxi).
cdef extern from "uv.h":
    ctypedef void (*uv_close_cb)(uv_handle_t*) noexcept
    ctypedef void (*uv_walk_cb)(uv_handle_t*, void*) noexcept
    ctypedef void (*uv_alloc_cb)(uv_handle_t*, size_t, uv_buf_t*) noexcept
    ctypedef void (*uv_read_cb)(uv_stream_t*, ssize_t, const uv_buf_t*) noexcept
    ctypedef void (*uv_write_cb)(uv_write_t*, int) noexcept
    ctypedef void (*uv_connect_cb)(uv_connect_t*, int) noexcept
    ctypedef void (*uv_shutdown_cb)(uv_shutdown_t*, int) noexcept
    ctypedef void (*uv_connection_cb)(uv_stream_t*, int) noexcept
    ctypedef void (*uv_timer_cb)(uv_timer_t*) noexcept
    ctypedef void (*uv_check_cb)(uv_check_t*) noexcept
    ctypedef void (*uv_prepare_cb)(uv_prepare_t*) noexcept
    ctypedef void (*uv_idle_cb)(uv_idle_t*) noexcept
    ctypedef void (*uv_async_cb)(uv_async_t*) noexcept
    ctypedef void (*uv_poll_cb)(uv_poll_t*, int, int) noexcept
    ctypedef void (*uv_getaddrinfo_cb)(uv_getaddrinfo_t*, int, addrinfo*) noexcept


cdef extern from "uv.h" nogil:
    const char* uv_version_string()
    const char* uv_strerror(int err)
    const char* uv_err_name(int err)

    uv_loop_t* uv_default_loop()
    int uv_run(uv_loop_t*, uv_run_mode mode)
    int uv_backend_fd(const uv_loop_t*)
    int uv_backend_timeout(const uv_loop_t*)
    void uv_stop(uv_loop_t*)
    uint64_t uv_now(const uv_loop_t*)
    void uv_update_time(uv_loop_t*)
    void uv_walk(uv_loop_t*, uv_walk_cb walk_cb, void* arg)

    void uv_close(uv_handle_t*, uv_close_cb close_cb)
    int uv_is_closing(const uv_handle_t*)
    int uv_is_active(const uv_handle_t*)
    void uv_ref(uv_handle_t*)
    void uv_unref(uv_handle_t*)
    int uv_fileno(const uv_handle_t*, uv_os_fd_t* fd)


    int uv_timer_init(uv_loop_t*, uv_timer_t*)
    int uv_timer_start(uv_timer_t*, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
    int uv_timer_stop(uv_timer_t*)

    int uv_prepare_init(uv_loop_t*, uv_prepare_t*)
    int uv_prepare_start(uv_prepare_t*, uv_prepare_cb cb)
    int uv_prepare_stop(uv_prepare_t*)
    int uv_check_init(uv_loop_t*, uv_check_t*)
    int uv_check_start(uv_check_t*, uv_check_cb cb)
    int uv_check_stop(uv_check_t*)
    int uv_idle_init(uv_loop_t*, uv_idle_t*)
    int uv_idle_start(uv_idle_t*, uv_idle_cb cb)
    int uv_idle_stop(uv_idle_t*)
    int uv_async_init(uv_loop_t*, uv_async_t*, uv_async_cb cb)
    int uv_async_send(uv_async_t*)
    int uv_poll_init_socket(uv_loop_t*, uv_poll_t*, int sock)
    int uv_poll_start(uv_poll_t*, int events, uv_poll_cb cb)

    int uv_listen(uv_stream_t*, int backlog, uv_connection_cb cb)
    int uv_accept(uv_stream_t* server, uv_stream_t* client)
    int uv_read_start(uv_stream_t*, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
    int uv_read_stop(uv_stream_t*)
    int uv_write(uv_write_t*, uv_stream_t*, const uv_buf_t bufs[], unsigned int nbufs,
                 uv_write_cb cb)
    int uv_try_write(uv_stream_t*, const uv_buf_t bufs[], unsigned int nbufs)
    int uv_shutdown(uv_shutdown_t*, uv_stream_t*, uv_shutdown_cb cb)

    int uv_tcp_init(uv_loop_t*, uv_tcp_t*)
    int uv_tcp_init_ex(uv_loop_t*, uv_tcp_t*, unsigned int flags)
    int uv_tcp_nodelay(uv_tcp_t*, int enable)
    int uv_tcp_keepalive(uv_tcp_t*, int enable, unsigned int delay)
    int uv_tcp_bind(uv_tcp_t*, const sockaddr* addr, unsigned int flags)
    int uv_tcp_getsockname(const uv_tcp_t*, sockaddr* name, int* namelen)
    int uv_tcp_getpeername(const uv_tcp_t*, sockaddr* name, int* namelen)
    int uv_tcp_connect(uv_connect_t*, uv_tcp_t*, const sockaddr* addr, uv_connect_cb cb)

    int uv_pipe_init(uv_loop_t*, uv_pipe_t*, int ipc)
    int uv_pipe_bind(uv_pipe_t*, const char* name)
    void uv_pipe_connect(uv_connect_t*, uv_pipe_t*, const char* name, uv_connect_cb cb)

    int uv_ip4_addr(const char* ip, int port, sockaddr_in* addr)
    int uv_ip6_addr(const char* ip, int port, sockaddr_in6* addr)
    int uv_ip_name(const sockaddr* src, char* dst, size_t size)
    int uv_inet_pton(int af, const char* src, void* dst)
    int uv_inet_ntop(int af, const void* src, char* dst, size_t size)

    int uv_getaddrinfo(uv_loop_t*, uv_getaddrinfo_t*, uv_getaddrinfo_cb cb,
                       const char* node, const char* service, const addrinfo* hints)
    void uv_freeaddrinfo(addrinfo*)
