/*
 * c_tls: a TLS echo server on libuv and OpenSSL memory BIOs, the C anchor of the TLS scenarios.
 *
 * usage: c_tls PORT HOST CERT KEY   (PORT 0 picks a free port; CERT and KEY are PEM files)
 * Prints "listening on PORT" once it accepts connections; SIGTERM or SIGINT ends it cleanly.
 *
 * The shape of iotnet's TLS sockets, in C: each read of ciphertext (into one shared buffer) goes
 * into the connection's incoming memory BIO; SSL_read decrypts it record by record into a shared
 * plaintext buffer and SSL_write encrypts each piece straight back into the outgoing memory BIO,
 * which is then sent with uv_try_write. Only what the kernel does not take is copied into a
 * uv_write request, and the connection stops reading until it is written (as c_libuv.c does).
 * A close_notify or a FIN from the client is answered with a close_notify, then the connection
 * closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

typedef struct {
    uv_tcp_t handle;  /* first, so a handle pointer is a client pointer */
    SSL *ssl;
    BIO *in, *out;    /* ciphertext from the socket, and to it; SSL_free frees both */
    int writing;      /* a uv_write is pending; reading is stopped until it completes */
    int closing;      /* close once what is in `out` has been written */
} client_t;

typedef struct {
    uv_write_t req;
    char data[];      /* the bytes that uv_try_write could not send */
} write_req_t;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm_handle, sigint_handle;
static SSL_CTX *ctx;
/* One buffer of each kind for all connections: the loop has one thread, and every buffer is
   consumed before the next callback runs. */
static char read_buffer[256 * 1024];   /* ciphertext read */
static char plain_buffer[16 * 1024];   /* one record's plaintext */
static char send_buffer[256 * 1024];   /* ciphertext taken from the outgoing BIO */

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void free_client(uv_handle_t *handle)
{
    client_t *client = (client_t *)handle;
    SSL_free(client->ssl);
    free(client);
}

static void close_client(client_t *client)
{
    if (!uv_is_closing((uv_handle_t *)client))
        uv_close((uv_handle_t *)client, free_client);
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
    if (status < 0 || client->closing)
        close_client(client);
    else if (!uv_is_closing((uv_handle_t *)client))
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
}

/* Sends the ciphertext the SSL object has made; closes the connection once all is sent if it
   is closing. */
static void flush(client_t *client)
{
    uv_stream_t *stream = (uv_stream_t *)client;
    size_t left = BIO_ctrl_pending(client->out);
    while (left > 0) {
        int n = BIO_read(client->out, send_buffer, left < sizeof send_buffer ? (int)left : (int)sizeof send_buffer);
        if (n <= 0)
            break;
        left -= (size_t)n;
        uv_buf_t out = uv_buf_init(send_buffer, (unsigned int)n);
        int sent = uv_try_write(stream, &out, 1);
        if (sent == n)
            continue;
        if (sent < 0 && sent != UV_EAGAIN) {
            close_client(client);
            return;
        }
        /* The kernel took part: the rest of this piece and all that is left go in one request. */
        size_t done = sent > 0 ? (size_t)sent : 0;
        size_t rest = (size_t)n - done + left;
        write_req_t *req = malloc(sizeof *req + rest);
        if (!req) {
            close_client(client);
            return;
        }
        memcpy(req->data, send_buffer + done, (size_t)n - done);
        if (left > 0)
            BIO_read(client->out, req->data + ((size_t)n - done), (int)left);
        out = uv_buf_init(req->data, (unsigned int)rest);
        if (uv_write(&req->req, stream, &out, 1, on_write) != 0) {
            free(req);
            close_client(client);
            return;
        }
        client->writing = 1;
        uv_read_stop(stream);
        return;
    }
    if (client->closing)
        close_client(client);
}

/* Answers the client's close_notify or FIN with ours, then closes. */
static void end_client(client_t *client)
{
    if (SSL_is_init_finished(client->ssl))
        SSL_shutdown(client->ssl);
    ERR_clear_error();
    client->closing = 1;
    uv_read_stop((uv_stream_t *)client);
    flush(client);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    client_t *client = (client_t *)stream;
    if (nread == 0)
        return;  /* EAGAIN */
    if (nread < 0) {
        /* EOF or error. No write can be pending here: reading stops while one is. */
        if (nread == UV_EOF)
            end_client(client);
        else
            close_client(client);
        return;
    }
    BIO_write(client->in, buf->base, (int)nread);
    if (!SSL_is_init_finished(client->ssl)) {
        int r = SSL_do_handshake(client->ssl);
        if (r != 1) {
            if (SSL_get_error(client->ssl, r) != SSL_ERROR_WANT_READ) {
                ERR_clear_error();
                client->closing = 1;  /* the alert OpenSSL made, if any, then close */
            }
            flush(client);
            return;
        }
    }
    int n;
    while ((n = SSL_read(client->ssl, plain_buffer, sizeof plain_buffer)) > 0)
        SSL_write(client->ssl, plain_buffer, n);  /* a memory BIO takes all of it */
    int err = SSL_get_error(client->ssl, n);
    if (err == SSL_ERROR_ZERO_RETURN) {
        end_client(client);
        return;
    }
    if (err != SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        client->closing = 1;
    }
    flush(client);
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
    client->ssl = SSL_new(ctx);
    client->in = BIO_new(BIO_s_mem());
    client->out = BIO_new(BIO_s_mem());
    if (!client->ssl || !client->in || !client->out) {
        BIO_free(client->in);
        BIO_free(client->out);
        client->in = client->out = NULL;
        close_client(client);
        return;
    }
    /* An empty BIO means "wait for more", not the end of the stream. */
    BIO_set_mem_eof_return(client->in, -1);
    BIO_set_mem_eof_return(client->out, -1);
    SSL_set_bio(client->ssl, client->in, client->out);
    SSL_set_accept_state(client->ssl);
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

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT HOST CERT KEY\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *host = argv[2];
    struct sockaddr_storage addr;
    int r = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                              : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (r != 0) {
        fprintf(stderr, "c_tls: bad address %s: %s\n", host, uv_strerror(r));
        return 2;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "c_tls: cannot use %s and %s: ", argv[3], argv[4]);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    loop = uv_default_loop();
    uv_tcp_init(loop, &server);
    if ((r = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&server, 511, on_connection)) != 0) {
        fprintf(stderr, "c_tls: cannot listen on %s:%d: %s\n", host, port, uv_strerror(r));
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
    SSL_CTX_free(ctx);
    return 0;
}
