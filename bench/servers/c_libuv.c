/*
 * c_libuv: an echo server written directly on libuv, the C reference of the benchmark.
 *
 * usage: c_libuv PORT [HOST]   (HOST defaults to 127.0.0.1; PORT 0 picks a free port)
 * Prints "listening on PORT" once it accepts connections; SIGTERM or SIGINT ends it cleanly.
 *
 * Each read is echoed with uv_try_write straight from the read buffer; only what the kernel
 * does not take at once is copied into a uv_write request. While such a write is pending the
 * connection stops reading, so a client that does not read its echo cannot grow our memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

typedef struct {
    uv_tcp_t handle;  /* first, so a handle pointer is a client pointer */
    int writing;      /* a uv_write is pending; reading is stopped until it completes */
} client_t;

typedef struct {
    uv_write_t req;
    char data[];      /* the bytes that uv_try_write could not send */
} write_req_t;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm_handle, sigint_handle;
/* One read buffer for all connections: the loop has one thread and every read is echoed or
   copied before the next read callback runs. */
static char read_buffer[256 * 1024];

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void free_client(uv_handle_t *handle)
{
    free(handle);
}

static void close_client(uv_stream_t *stream)
{
    if (!uv_is_closing((uv_handle_t *)stream))
        uv_close((uv_handle_t *)stream, free_client);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buffer, sizeof read_buffer);
}

static void on_write(uv_write_t *req, int status)
{
    client_t *client = (client_t *)req->handle;
    free(req);
    client->writing = 0;
    if (status < 0)
        close_client((uv_stream_t *)client);
    else if (!uv_is_closing((uv_handle_t *)client))
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    if (nread == 0)
        return;  /* EAGAIN */
    if (nread < 0) {
        /* EOF or error. No write can be pending here: reading stops while one is. */
        close_client(stream);
        return;
    }
    uv_buf_t out = uv_buf_init(buf->base, (unsigned int)nread);
    int sent = uv_try_write(stream, &out, 1);
    if (sent == nread)
        return;
    if (sent < 0 && sent != UV_EAGAIN) {
        close_client(stream);
        return;
    }
    size_t done = sent > 0 ? (size_t)sent : 0;
    size_t rest = (size_t)nread - done;
    write_req_t *req = malloc(sizeof *req + rest);
    if (!req) {
        close_client(stream);
        return;
    }
    memcpy(req->data, buf->base + done, rest);
    out = uv_buf_init(req->data, (unsigned int)rest);
    if (uv_write(&req->req, stream, &out, 1, on_write) != 0) {
        free(req);
        close_client(stream);
        return;
    }
    ((client_t *)stream)->writing = 1;
    uv_read_stop(stream);
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0)
        return;
    client_t *client = calloc(1, sizeof *client);
    if (!client)
        return;
    uv_tcp_init(loop, &client->handle);
    if (uv_accept(listener, (uv_stream_t *)client) != 0) {
        uv_close((uv_handle_t *)client, free_client);
        return;
    }
    uv_tcp_nodelay(&client->handle, 1);
    uv_read_start((uv_stream_t *)client, on_alloc, on_read);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (uv_is_closing(handle))
        return;
    int is_client = handle != (uv_handle_t *)&server && handle != (uv_handle_t *)&sigterm_handle &&
                    handle != (uv_handle_t *)&sigint_handle;
    uv_close(handle, is_client ? free_client : NULL);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)handle;
    (void)signum;
    uv_walk(loop, close_any, NULL);  /* with every handle closed, uv_run returns */
}

static void raise_nofile(void)
{
    /* The idle scenario holds 10,000 connections. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *host = argc > 2 ? argv[2] : "127.0.0.1";
    struct sockaddr_storage addr;
    int r = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                              : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (r != 0) {
        fprintf(stderr, "c_libuv: bad address %s: %s\n", host, uv_strerror(r));
        return 2;
    }
    raise_nofile();
    loop = uv_default_loop();
    uv_tcp_init(loop, &server);
    if ((r = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&server, 511, on_connection)) != 0) {
        fprintf(stderr, "c_libuv: cannot listen on %s:%d: %s\n", host, port, uv_strerror(r));
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
    return 0;
}
