/*
 * c_proxy: a TCP proxy written directly on libuv, the C reference of the proxy scenarios.
 *
 * usage: c_proxy PORT HOST BACKEND_PORT   (PORT 0 picks a free port; the backend is on HOST too)
 * Prints "listening on PORT" once it accepts connections; SIGTERM or SIGINT ends it cleanly.
 *
 * Each client connection gets one connection of its own to the backend; reading starts on both
 * once that connect succeeds (until then the client's bytes wait in the kernel). Every read is
 * forwarded with uv_try_write straight from the one read buffer of the loop; only what the kernel
 * does not take at once is copied into a uv_write request, and while that write is pending the
 * side it came from stops reading (backpressure: a slow reader cannot grow our memory). An EOF
 * from one side becomes a shutdown toward the other, after what is queued for it; once both
 * sides have ended and both shutdowns are done, or on any error of either side, both close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

/* One read buffer for every connection: the loop has one thread, and every read is forwarded or
   copied before the next read callback runs. 256 KiB, so a fast stream is read in few calls. */
#define READ_BUFFER_SIZE (256 * 1024)

typedef struct pair pair_t;

typedef struct {
    uv_tcp_t handle;   /* handle.data points to the pair */
    pair_t *pair;
    int eof;           /* this side has sent its FIN: it is read no more */
    int shut;          /* our shutdown toward this side has completed */
} side_t;

struct pair {
    side_t client, backend;
    uv_connect_t connect;
    uv_shutdown_t shutdown_client, shutdown_backend;
    int open_handles;  /* the pair is freed when both handles' close callbacks have run */
    int closing;
};

typedef struct {
    uv_write_t req;
    char data[];       /* the bytes that uv_try_write could not send */
} write_req_t;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm_handle, sigint_handle;
static struct sockaddr_storage backend_addr;
static char *read_buffer;

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static side_t *other_side(side_t *s)
{
    return s == &s->pair->client ? &s->pair->backend : &s->pair->client;
}

static void on_close(uv_handle_t *handle)
{
    pair_t *pair = handle->data;
    if (--pair->open_handles == 0)
        free(pair);
}

/* An error on either side, or both sides done: close both. Pending requests are cancelled and
   their callbacks run (with UV_ECANCELED) before the close callbacks, so the pair outlives them. */
static void close_pair(pair_t *pair)
{
    pair->closing = 1;
    if (!uv_is_closing((uv_handle_t *)&pair->client.handle))
        uv_close((uv_handle_t *)&pair->client.handle, on_close);
    if (!uv_is_closing((uv_handle_t *)&pair->backend.handle))
        uv_close((uv_handle_t *)&pair->backend.handle, on_close);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buffer, READ_BUFFER_SIZE);
}

static void start_reading(side_t *s)
{
    if (!s->pair->closing && !s->eof && uv_read_start((uv_stream_t *)&s->handle, on_alloc, on_read) != 0)
        close_pair(s->pair);
}

/* A write toward `to` has completed: the side it came from may read again. */
static void on_write(uv_write_t *req, int status)
{
    side_t *to = (side_t *)req->handle;  /* the handle is the side's first member */
    free(req);
    if (status < 0)
        close_pair(to->pair);
    else
        start_reading(other_side(to));
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    side_t *to = (side_t *)req->handle;
    pair_t *pair = to->pair;
    if (status < 0) {
        close_pair(pair);
        return;
    }
    to->shut = 1;
    if (pair->client.shut && pair->backend.shut)
        close_pair(pair);  /* both directions ended */
}

/* Sends what was read from `from` on to the other side. */
static void forward(side_t *from, const char *data, size_t len)
{
    side_t *to = other_side(from);
    uv_buf_t out = uv_buf_init((char *)data, (unsigned int)len);
    int sent = uv_try_write((uv_stream_t *)&to->handle, &out, 1);
    if (sent >= 0 && (size_t)sent == len)
        return;
    if (sent < 0 && sent != UV_EAGAIN) {
        close_pair(from->pair);
        return;
    }
    size_t done = sent > 0 ? (size_t)sent : 0;
    size_t rest = len - done;
    write_req_t *req = malloc(sizeof *req + rest);
    if (!req) {
        close_pair(from->pair);
        return;
    }
    memcpy(req->data, data + done, rest);
    out = uv_buf_init(req->data, (unsigned int)rest);
    if (uv_write(&req->req, (uv_stream_t *)&to->handle, &out, 1, on_write) != 0) {
        free(req);
        close_pair(from->pair);
        return;
    }
    uv_read_stop((uv_stream_t *)&from->handle);  /* until on_write */
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    side_t *from = (side_t *)stream;
    pair_t *pair = from->pair;
    if (nread > 0) {
        forward(from, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;  /* EAGAIN */
    if (nread != UV_EOF) {
        close_pair(pair);
        return;
    }
    /* The FIN goes on to the other side once what is queued for it has been written. */
    from->eof = 1;
    uv_read_stop(stream);
    side_t *to = other_side(from);
    uv_shutdown_t *req = to == &pair->client ? &pair->shutdown_client : &pair->shutdown_backend;
    if (uv_shutdown(req, (uv_stream_t *)&to->handle, on_shutdown) != 0)
        close_pair(pair);
}

static void on_backend_connect(uv_connect_t *req, int status)
{
    pair_t *pair = req->data;
    if (status < 0) {
        close_pair(pair);  /* also UV_ECANCELED, when the pair is closed while connecting */
        return;
    }
    uv_tcp_nodelay(&pair->backend.handle, 1);
    start_reading(&pair->client);
    start_reading(&pair->backend);
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0)
        return;
    pair_t *pair = calloc(1, sizeof *pair);
    if (!pair)
        return;
    side_t *sides[2] = {&pair->client, &pair->backend};
    for (int i = 0; i < 2; i++) {
        uv_tcp_init(loop, &sides[i]->handle);
        sides[i]->handle.data = pair;
        sides[i]->pair = pair;
    }
    pair->open_handles = 2;
    if (uv_accept(listener, (uv_stream_t *)&pair->client.handle) != 0) {
        close_pair(pair);
        return;
    }
    uv_tcp_nodelay(&pair->client.handle, 1);
    pair->connect.data = pair;
    if (uv_tcp_connect(&pair->connect, &pair->backend.handle, (struct sockaddr *)&backend_addr,
                       on_backend_connect) != 0)
        close_pair(pair);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (uv_is_closing(handle))
        return;
    if (handle == (uv_handle_t *)&server || handle == (uv_handle_t *)&sigterm_handle ||
        handle == (uv_handle_t *)&sigint_handle)
        uv_close(handle, NULL);
    else
        close_pair(handle->data);  /* one side of a pair: both close */
}

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)handle;
    (void)signum;
    uv_walk(loop, close_any, NULL);  /* with every handle closed, uv_run returns */
}

static void raise_nofile(void)
{
    /* The benchmark may hold thousands of connections, two descriptors each. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *addr)
{
    return strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr)
                             : uv_ip4_addr(host, port, (struct sockaddr_in *)addr);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT HOST BACKEND_PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *host = argv[2];
    int backend_port = atoi(argv[3]);
    struct sockaddr_storage addr;
    int r;
    if ((r = parse_addr(host, port, &addr)) != 0 || (r = parse_addr(host, backend_port, &backend_addr)) != 0) {
        fprintf(stderr, "c_proxy: bad address %s: %s\n", host, uv_strerror(r));
        return 2;
    }
    read_buffer = malloc(READ_BUFFER_SIZE);
    if (!read_buffer) {
        fprintf(stderr, "c_proxy: out of memory\n");
        return 1;
    }
    raise_nofile();
    loop = uv_default_loop();
    uv_tcp_init(loop, &server);
    if ((r = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&server, 511, on_connection)) != 0) {
        fprintf(stderr, "c_proxy: cannot listen on %s:%d: %s\n", host, port, uv_strerror(r));
        return 1;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                             : ((struct sockaddr_in *)&bound)->sin_port);
    uv_signal_init(loop, &sigterm_handle);
    uv_signal_start(&sigterm_handle, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint_handle);
    uv_signal_start(&sigint_handle, on_signal, SIGINT);

    printf("listening on %d\n", port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(read_buffer);
    return 0;
}
