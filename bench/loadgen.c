/*
 * loadgen: drives an echo server on loopback and prints its findings as JSON on stdout.
 *
 * One thread, epoll, non-blocking sockets. Modes:
 *   echo      C connections, each sends S bytes and waits for all of them back, repeatedly
 *             (round trips/s, latency percentiles); --count N runs exactly N round trips instead
 *   stream    one connection writes 64 KiB chunks continuously and reads the echo (MB/s echoed)
 *   connrate  C connections in flight, each connect -> 64 B echo -> close (connections/s)
 *   idle      open C connections, one 64 B round trip each, print {"ready":true,...}, hold them
 *             until a line (or EOF) on stdin or SIGTERM, then close them all
 *
 * --tls speaks TLS 1.3 (OpenSSL, on the same non-blocking sockets) in echo, stream and connrate:
 * every connection makes a full handshake (no session is ever resumed), and with connrate each
 * connection is connect -> handshake -> 64 B echo -> close_notify, so it counts full handshakes.
 * The server's certificate chain is not checked (the benchmark's own, self-signed), but the
 * handshake still verifies the server's signature, as every client does.
 *
 * Every connection first makes one 64 B round trip (setup, not measured). During the measured
 * modes the loop polls epoll without sleeping (--no-spin turns that off): the loadgen has a CPU
 * of its own, and its own wake-ups should not be counted against the server.
 * --proxy-v1 sends a PROXY protocol v1 header (a client from the documentation range, the same
 * every time) on each connection before anything else, for a server that expects one: with MSG_MORE,
 * so it leaves in one segment with the first payload; --proxy-v1-alone sends it in a segment of
 * its own. A balancer does either (HAProxy both, depending on whether the client's first bytes
 * are in when its connection to the server is up).
 *
 * With --server-pid P the JSON also gives the CPU seconds P used in the measured window (P,Q,...:
 * the sum over those processes, a server's workers); with --backend-pid B (a server behind a proxy under test) likewise B's, and B's CPU is then not
 * counted as other work on the machine.
 *
 * Every phase has a deadline; on any error it prints {"error":...} and exits nonzero.
 * Echoed bytes are checked against what was sent (in stream mode one read in 8), so a fast but
 * wrong server cannot score.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define CHUNK (64 * 1024)       /* stream mode write size */
#define RBUF (256 * 1024)       /* one recv at most this much */
#define PATTERN_PERIOD 251      /* prime, so the pattern never lines up with chunk sizes */
#define MAX_CONNECTING 128      /* connects in flight at once: keeps the server's backlog from overflowing */
#define SOURCE_ADDRS 16         /* connrate and idle rotate 127.0.0.1..16 as source: see open_conn */
#define MAX_EVENTS 256
#define MAX_SERVER_PIDS 64      /* --server-pid: a supervisor and its workers */
enum { PROXY_V1_WITH_DATA = 1, PROXY_V1_ALONE };

enum mode { M_ECHO, M_STREAM, M_CONNRATE, M_IDLE };
static const char *mode_names[] = {"echo", "stream", "connrate", "idle"};

static struct {
    enum mode mode;
    const char *host;
    int port;
    int conns;
    int size;
    double warmup, duration, timeout, hold;
    long server_pids[MAX_SERVER_PIDS];
    int n_server_pids;
    long backend_pid;
    long count;
    int spin;
    int tls;
    int proxy_v1;           /* PROXY_V1_WITH_DATA or PROXY_V1_ALONE, else 0 */
} opt = {.mode = M_ECHO, .host = "127.0.0.1", .conns = 1, .size = 64, .warmup = 1.0, .duration = 3.0,
         .timeout = 30.0, .hold = 300.0, .spin = 1};

/* A connection goes FREE -> CONNECTING -> (--tls: HANDSHAKE ->) ACTIVE, and back to FREE directly
   or (--tls, and the stream's end) through CLOSING: our side ended, waiting for the server's FIN. */
enum state { S_FREE, S_CONNECTING, S_HANDSHAKE, S_ACTIVE, S_CLOSING };

struct conn {
    int fd;
    enum state state;
    SSL *ssl;               /* --tls: from the connect on */
    int want_out;           /* EPOLLOUT is registered */
    size_t sent, recvd;     /* progress of the current round trip */
    uint64_t start_ns;      /* when the current round trip (or connection, in connrate) began */
    unsigned round;         /* shifts the payload pattern so stale data is caught */
};

static int epfd = -1;
static unsigned char *pattern;  /* pattern[i] = i % PATTERN_PERIOD, long enough for any slice */
static unsigned char *rbuf;
static struct sockaddr_in server_addr;
static volatile sig_atomic_t stop_requested;
static uint64_t idle_ns;        /* time spent in polls that found nothing: our spare capacity */

/* --tls: the client context, what the first handshake negotiated, and counts for the JSON. */
static SSL_CTX *tls_ctx;
static char tls_info[256];      /* JSON fields: version, cipher, key exchange group, server key */
static long tls_handshakes, tls_tickets;
static char tls_err[256];       /* the last TLS error, for the message when errno is EPROTO */

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)  /* keep the JSON valid without a full escaper */
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '\'';
    printf("{\"mode\":\"%s\",\"error\":\"%s\"}\n", mode_names[opt.mode], msg);
    fflush(stdout);
    exit(1);
}

/* A last resort: whatever happens, the process ends by itself. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "{\"error\":\"loadgen: overall time limit reached\"}\n";
    if (write(1, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
    _exit(3);
}

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void raise_nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail("getrlimit: %s", strerror(errno));
    if ((long)rl.rlim_cur >= need)
        return;
    if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < need)
        rl.rlim_max = need;  /* only root may do this; checked below */
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail("cannot raise RLIMIT_NOFILE to %ld: %s", need, strerror(errno));
}

/* CPU seconds (user + system) used so far by process pid (the server, the backend), or -1 if
   it cannot be read. */
static double process_cpu(long pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name may hold spaces and parentheses: fields are counted after the last ')'. */
    char *p = strrchr(buf, ')');
    unsigned long utime, stime;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The CPU seconds of all --server-pid processes together, or -1 if one cannot be read. */
static double server_cpu(void)
{
    if (opt.n_server_pids == 0)
        return -1;
    double sum = 0;
    for (int i = 0; i < opt.n_server_pids; i++) {
        double cpu = process_cpu(opt.server_pids[i]);
        if (cpu < 0)
            return -1;
        sum += cpu;
    }
    return sum;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Busy CPU seconds of the whole machine, all CPUs (user, system, interrupts). */
static double machine_cpu(void)
{
    unsigned long long user, nice, sys, idle, iowait, irq, softirq;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq, &softirq);
    fclose(f);
    return n == 7 ? (double)(user + nice + sys + irq + softirq) / (double)sysconf(_SC_CLK_TCK) : -1;
}

/* CPU counters at the start of the measured window. */
struct window {
    double server, backend, self, machine;
    uint64_t t, idle;
};

static void window_start(struct window *w)
{
    w->server = server_cpu();
    w->backend = process_cpu(opt.backend_pid);
    w->self = self_cpu();
    w->machine = machine_cpu();
    w->t = now_ns();
    w->idle = idle_ns;
}

/* Ends the JSON object: CPU used in the window by the server, by the backend (--backend-pid),
   by us, and by everything else (so a run disturbed by other work on the machine can be
   recognised). */
static void print_cpu(const struct window *w)
{
    struct window e;
    window_start(&e);
    double server = w->server >= 0 && e.server >= 0 ? e.server - w->server : -1;
    double backend = w->backend >= 0 && e.backend >= 0 ? e.backend - w->backend : -1;
    double self = e.self - w->self;
    double others = w->machine >= 0 && e.machine >= 0 && server >= 0 && (opt.backend_pid <= 0 || backend >= 0)
                        ? e.machine - w->machine - server - self - (backend > 0 ? backend : 0) : -1;
    double wall = (double)(e.t - w->t);
    /* Share of the window we were working rather than waiting: near 1 means we were the bottleneck. */
    double busy = opt.spin ? 1.0 - (double)(e.idle - w->idle) / wall : self * 1e9 / wall;
    printf(",\"server_cpu_s\":%.2f,\"loadgen_cpu_s\":%.2f,\"loadgen_busy\":%.2f", server, self, busy);
    if (opt.backend_pid > 0)
        printf(",\"backend_cpu_s\":%.2f", backend);
    printf(",\"others_cpu_s\":%.2f}\n", others < 0 && others > -0.05 ? 0.0 : others);
}

/* epoll_wait that returns at the deadline at the latest (timeout rounded up to whole ms). */
static int wait_events(struct epoll_event *ev, uint64_t deadline)
{
    uint64_t t = now_ns();
    int ms = t >= deadline ? 0 : (int)((deadline - t + 999999) / 1000000);
    int n = epoll_wait(epfd, ev, MAX_EVENTS, ms);
    if (n < 0 && errno != EINTR)
        fail("epoll_wait: %s", strerror(errno));
    return n < 0 ? 0 : n;
}

/* While measuring, poll without sleeping: the loadgen has a CPU of its own, and a client that
   sleeps adds its own wake-up latency to every round trip and makes the server pay for waking it.
   The time spent in empty polls is what the loadgen had to spare. */
static int poll_events(struct epoll_event *ev, uint64_t deadline)
{
    if (!opt.spin)
        return wait_events(ev, deadline);
    uint64_t t = now_ns();
    int n = epoll_wait(epfd, ev, MAX_EVENTS, 0);
    if (n < 0 && errno != EINTR)
        fail("epoll_wait: %s", strerror(errno));
    if (n <= 0)
        idle_ns += now_ns() - t;
    return n < 0 ? 0 : n;
}

static void set_events(struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) != 0)
        fail("epoll_ctl: %s", strerror(errno));
    c->want_out = (events & EPOLLOUT) != 0;
}

/* Starts a non-blocking connect; completion shows as EPOLLOUT. With source_index >= 0 the
   connection comes from 127.0.0.(1 + source_index % SOURCE_ADDRS): each source address has its
   own ~28,000 ephemeral ports toward the server's one address and port, so neither connrate's
   TIME_WAIT sockets nor idle's tens of thousands of open connections run out of them. */
static void open_conn(struct conn *c, int source_index)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (source_index >= 0) {
        /* Pick the source address now but the port at connect(), so ports are per source address. */
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(source_index % SOURCE_ADDRS));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0)
            fail("bind source address: %s", strerror(errno));
    }
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0 && errno != EINPROGRESS)
        fail("connect: %s", strerror(errno));
    c->fd = fd;
    c->state = S_CONNECTING;
    c->start_ns = now_ns();
    set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* ---- TLS (--tls) ---- */

/* OpenSSL keeps every ticket the server sends in a session we never resume: counting them is
   all; returning 0 lets OpenSSL free the session. */
static int on_ticket(SSL *ssl, SSL_SESSION *session)
{
    (void)ssl;
    (void)session;
    tls_tickets++;
    return 0;
}

static void tls_init(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx)
        fail("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(tls_ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    /* A server's FIN without close_notify reads as an end, as a plain socket's FIN. */
    SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* SSL_write behaves like send(): it may write part (whole records) and be retried. */
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One recv takes several records; what OpenSSL holds then is read before waiting again
       (conn_pending), since epoll only knows about the kernel's buffer. */
    SSL_CTX_set_read_ahead(tls_ctx, 1);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(tls_ctx, on_ticket);
}

/* What the first handshake negotiated, as JSON fields. */
static void tls_note(SSL *ssl)
{
    int group = SSL_get_negotiated_group(ssl);
    char key[80] = "?";
    X509 *cert = SSL_get1_peer_certificate(ssl);
    EVP_PKEY *pkey = cert ? X509_get0_pubkey(cert) : NULL;
    if (pkey) {
        char curve[64] = "";
        size_t len = 0;
        EVP_PKEY_get_group_name(pkey, curve, sizeof curve, &len);
        snprintf(key, sizeof key, "%s%s%s %d bits", EVP_PKEY_get0_type_name(pkey), *curve ? " " : "", curve,
                 EVP_PKEY_get_bits(pkey));
    }
    X509_free(cert);
    snprintf(tls_info, sizeof tls_info,
             ",\"tls_version\":\"%s\",\"tls_cipher\":\"%s\",\"tls_group\":\"%s\",\"tls_server_key\":\"%s\"",
             SSL_get_version(ssl), SSL_get_cipher_name(ssl), group > 0 ? OBJ_nid2sn(group) : "?", key);
}

/* A failed SSL call as a recv()/send() result: 0 at the end of the stream (close_notify, or a
   FIN), else -1 with errno EAGAIN (wait for the socket) or an error (EPROTO: see tls_err). */
static ssize_t tls_result(struct conn *c, int r)
{
    int saved = errno;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        errno = saved ? saved : ECONNRESET;
        return -1;
    default:
        ERR_error_string_n(ERR_peek_last_error(), tls_err, sizeof tls_err);
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

/* The reason for errno after conn_send, conn_recv or setup_step. */
static const char *io_error(void)
{
    return errno == EPROTO && *tls_err ? tls_err : strerror(errno);
}

/* send() and recv() on a connection, through TLS with --tls. */
static ssize_t conn_send(struct conn *c, const void *buf, size_t len)
{
    if (!c->ssl)
        return send(c->fd, buf, len, MSG_NOSIGNAL);
    ERR_clear_error();
    int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    ssize_t r = tls_result(c, n);
    if (r == 0)
        errno = EPIPE;
    return -1;
}

static ssize_t conn_recv(struct conn *c, void *buf, size_t len, int flags)
{
    if (!c->ssl)
        return recv(c->fd, buf, len, flags);
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return n > 0 ? n : tls_result(c, n);
}

/* Bytes already read from the kernel that OpenSSL holds: epoll will not report them. */
static int conn_pending(struct conn *c)
{
    return c->ssl && SSL_has_pending(c->ssl);
}

/* ---- connections: set-up and end ---- */

/* --proxy-v1: "PROXY TCP4 <client> <server> <client port> <server port>\r\n", made once (see
   main): the same client, from the documentation range, on every connection, so the loadgen
   pays one send() per connection and the server still parses a full header. */
static char proxy_v1_line[108];
static size_t proxy_v1_len;

/* Sends the header in one send() (a fresh socket's buffer takes it whole), held for the first
   payload (MSG_MORE) unless --proxy-v1-alone. 0, or -1 with errno. */
static int send_proxy_v1(int fd)
{
    ssize_t sent = send(fd, proxy_v1_line, proxy_v1_len,
                        MSG_NOSIGNAL | (opt.proxy_v1 == PROXY_V1_WITH_DATA ? MSG_MORE : 0));
    if (sent == (ssize_t)proxy_v1_len)
        return 0;
    if (sent >= 0)
        errno = EAGAIN;  /* a partial header: never on a fresh connection */
    return -1;
}

/* Drives a connection being set up: the connect (its first EPOLLOUT), then with --tls the
   handshake. Returns 1 once the connection is active (EPOLLIN registered), 0 while it is still
   being set up, -1 if it failed (errno, io_error()). */
static int setup_step(struct conn *c)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err) {
            errno = err;
            return -1;
        }
        if (opt.proxy_v1 && send_proxy_v1(c->fd) < 0)
            return -1;
        if (!tls_ctx) {
            c->state = S_ACTIVE;
            set_events(c, EPOLLIN, EPOLL_CTL_MOD);
            return 1;
        }
        c->ssl = SSL_new(tls_ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
            snprintf(tls_err, sizeof tls_err, "cannot make an SSL object");
            errno = EPROTO;
            return -1;
        }
        SSL_set_connect_state(c->ssl);
        c->state = S_HANDSHAKE;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        if (tls_handshakes++ == 0)
            tls_note(c->ssl);
        c->state = S_ACTIVE;
        set_events(c, EPOLLIN, EPOLL_CTL_MOD);
        return 1;
    }
    ssize_t res = tls_result(c, r);
    if (res < 0 && errno == EAGAIN) {
        int out = SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE;
        if (out != c->want_out)
            set_events(c, EPOLLIN | (out ? EPOLLOUT : 0), EPOLL_CTL_MOD);
        return 0;
    }
    if (res == 0)
        errno = ECONNRESET;  /* the server ended the connection during the handshake */
    return -1;
}

/* setup_step for the measured modes, where a failure ends the run. */
static int setup_or_fail(struct conn *c)
{
    int r = setup_step(c);
    if (r < 0)
        fail("%s to %s:%d: %s", c->state == S_HANDSHAKE ? "TLS handshake" : "connect", opt.host, opt.port,
             io_error());
    return r;
}

static void release_conn(struct conn *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);  /* also removes it from the epoll set */
    c->fd = -1;
    c->state = S_FREE;
    c->want_out = 0;
}

/* Ends a connection. Plain TCP, nothing unread: close() at once, which sends a FIN. With --tls,
   or when the server may still be sending (until_fin): close_notify (TLS) and a FIN, then the
   socket stays open (CLOSING) until the server's FIN, since a TLS server answers with its own
   close_notify, and a socket closed with unread data sends a reset, not a FIN.
   Returns 1 if the connection is free now. */
static int end_conn(struct conn *c, int until_fin)
{
    if (c->state != S_ACTIVE || (!c->ssl && !until_fin)) {
        release_conn(c);
        return 1;
    }
    if (c->ssl) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);  /* sends our close_notify; the server's is read raw below */
        ERR_clear_error();
    }
    shutdown(c->fd, SHUT_WR);
    c->state = S_CLOSING;
    set_events(c, EPOLLIN, EPOLL_CTL_MOD);
    return 0;
}

/* A CLOSING connection is readable: discard what came (the rest of an echo, a close_notify).
   Returns 1 when the server's FIN (or an error) freed the connection. */
static int read_to_fin(struct conn *c)
{
    ssize_t n = recv(c->fd, rbuf, RBUF, MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return 0;
    release_conn(c);
    return 1;
}

/* Ends every connection (end_conn) and waits at most 2 s for the FINs of those that close
   politely; what is left then is closed at once. Errors only end the wait early: the results
   are printed by then. */
static void end_all(struct conn *cs, int n, int until_fin)
{
    struct epoll_event ev[MAX_EVENTS];
    int closing = 0;
    for (int i = 0; i < n; i++) {
        if (cs[i].state != S_FREE && cs[i].state != S_CLOSING)
            end_conn(&cs[i], until_fin);
        closing += cs[i].state == S_CLOSING;
    }
    uint64_t deadline = now_ns() + 2000000000ull;
    while (closing > 0 && now_ns() < deadline) {
        int k = wait_events(ev, deadline);
        for (int i = 0; i < k; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c && c->state == S_CLOSING && read_to_fin(c))  /* idle mode also watches stdin (NULL) */
                closing--;
        }
    }
    for (int i = 0; i < n; i++)
        if (cs[i].state != S_FREE)
            release_conn(&cs[i]);
}

/* With --tls, the JSON says what was negotiated (the first handshake) and how many session
   tickets the server sent per handshake (never used: every handshake is a full one). */
static void print_tls(void)
{
    if (tls_ctx)
        printf(",\"tls\":true%s,\"tls_handshakes\":%ld,\"tls_tickets_per_handshake\":%.2f", tls_info,
               tls_handshakes, tls_handshakes ? (double)tls_tickets / (double)tls_handshakes : 0.0);
}

/* ---- latency samples ---- */

static uint32_t *samples;
static size_t nsamples, capsamples;

static void add_sample(uint64_t ns)
{
    if (nsamples == capsamples) {
        capsamples = capsamples ? capsamples * 2 : 65536;
        samples = realloc(samples, capsamples * sizeof *samples);
        if (!samples)
            fail("out of memory for latency samples");
    }
    samples[nsamples++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile in microseconds; samples must be sorted. */
static double percentile_us(double p)
{
    if (nsamples == 0)
        return 0;
    size_t rank = (size_t)(p * nsamples + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > nsamples)
        rank = nsamples;
    return samples[rank - 1] / 1000.0;
}

static void print_latency(void)
{
    qsort(samples, nsamples, sizeof *samples, cmp_u32);
    double sum = 0;
    for (size_t i = 0; i < nsamples; i++)
        sum += samples[i];
    printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,\"max_us\":%.1f",
           percentile_us(0.50), percentile_us(0.99), nsamples ? sum / nsamples / 1000.0 : 0.0,
           nsamples ? samples[nsamples - 1] / 1000.0 : 0.0);
}

/* ---- echo round trips (echo, idle and connrate use these) ---- */

static const unsigned char *payload(const struct conn *c)
{
    return pattern + c->round % PATTERN_PERIOD;
}

/* Sends what is left of the current request; EPOLLOUT only while the kernel refuses more. */
static void send_rest(struct conn *c, size_t size)
{
    while (c->sent < size) {
        ssize_t n = conn_send(c, payload(c) + c->sent, size - c->sent);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (errno == EAGAIN) {
                if (!c->want_out)
                    set_events(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                return;
            }
        } else {
            fail("send: %s", io_error());
        }
    }
    if (c->want_out)
        set_events(c, EPOLLIN, EPOLL_CTL_MOD);
}

static void start_round(struct conn *c, size_t size, uint64_t t)
{
    c->round++;
    c->sent = c->recvd = 0;
    c->start_ns = t;
    send_rest(c, size);
}

/* Reads echoed bytes; returns 1 when the whole request has come back. In LT epoll one recv per
   wake-up is enough (whatever is left wakes us again), except for bytes OpenSSL already holds. */
static int recv_echo(struct conn *c, size_t size)
{
    do {
        size_t want = size - c->recvd;
        ssize_t n = conn_recv(c, rbuf, want < RBUF ? want : RBUF, 0);
        if (n > 0) {
            if (memcmp(rbuf, payload(c) + c->recvd, (size_t)n) != 0)
                fail("echoed bytes differ from the bytes sent");
            c->recvd += (size_t)n;
            if (c->recvd == size)
                return 1;
            continue;
        }
        if (n == 0)
            fail("server closed a connection in the middle of a round trip");
        if (errno != EAGAIN && errno != EINTR)
            fail("recv: %s", io_error());
        return 0;
    } while (conn_pending(c));
    return 0;
}

static void check_unexpected(struct conn *c)
{
    ssize_t n = conn_recv(c, rbuf, RBUF, MSG_DONTWAIT);
    if (n == 0)
        fail("server closed an idle connection");
    if (n > 0)
        fail("server sent %zd bytes that were never requested", n);
    if (errno != EAGAIN && errno != EINTR)
        fail("recv: %s", io_error());
}

/* Opens n connections and makes one 64 B round trip on each, with at most MAX_CONNECTING not yet
   answered. A connect completes before the server accepts it, so pacing on answers is what keeps
   the client from overflowing the server's accept queue (each dropped SYN costs a 1 s retry).
   rotate: spread the connections over the source addresses (open_conn). */
static void connect_all(struct conn *cs, int n, uint64_t deadline, int rotate)
{
    const size_t size = 64;
    int started = 0, done = 0;
    struct epoll_event ev[MAX_EVENTS];
    while (done < n) {
        for (; started < n && started - done < MAX_CONNECTING; started++)
            open_conn(&cs[started], rotate ? started : -1);
        if (now_ns() >= deadline)
            fail("only %d of %d connections were established and answered in time", done, n);
        int k = wait_events(ev, deadline);
        for (int i = 0; i < k; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c->state != S_ACTIVE) {
                if (setup_or_fail(c))
                    start_round(c, size, now_ns());
                continue;
            }
            if (ev[i].events & EPOLLOUT && c->sent < size)
                send_rest(c, size);
            if (!(ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            if (c->recvd == size)
                check_unexpected(c);
            else if (recv_echo(c, size))
                done++;
        }
    }
}

/* After the measured window: finish what is in flight (at most 2 s), so every connection ends
   with a FIN. A socket closed with unread data sends a reset instead, and a server may take that
   for an error. The results are printed by then: errors here only end the draining early. */
static void drain(struct conn *cs, int n, size_t size)
{
    uint64_t deadline = now_ns() + 2000000000ull;
    struct epoll_event ev[MAX_EVENTS];
    int busy = 0;
    for (int i = 0; i < n; i++)
        if (cs[i].state == S_CONNECTING || cs[i].state == S_HANDSHAKE || (cs[i].state == S_ACTIVE && cs[i].recvd < size))
            busy++;
    while (busy > 0 && now_ns() < deadline) {
        int k = wait_events(ev, deadline);
        for (int i = 0; i < k; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c->state == S_CLOSING) {
                read_to_fin(c);
                continue;
            }
            if (c->state == S_FREE || (c->state == S_ACTIVE && c->recvd >= size))
                continue;
            int was_setup = c->state != S_ACTIVE;
            if (was_setup) {
                int r = setup_step(c);
                if (r == 0)
                    continue;
                if (r < 0) {
                    release_conn(c);
                    busy--;
                    continue;
                }
                c->sent = c->recvd = 0;
            }
            if (c->sent < size) {
                ssize_t m = conn_send(c, pattern + c->sent, size - c->sent);
                if (m > 0)
                    c->sent += (size_t)m;
            }
            ssize_t m;
            do {
                m = conn_recv(c, rbuf, RBUF, MSG_DONTWAIT);
                if (m > 0)
                    c->recvd += (size_t)m;
            } while (m > 0 && c->recvd < size && conn_pending(c));
            if (c->recvd >= size) {
                end_conn(c, 0);
                busy--;
            } else if (m == 0 || (m < 0 && errno != EAGAIN && errno != EINTR)) {
                release_conn(c);
                busy--;
            } else if (was_setup || c->want_out != (c->sent < size)) {
                set_events(c, EPOLLIN | (c->sent < size ? EPOLLOUT : 0), EPOLL_CTL_MOD);
            }
        }
    }
    end_all(cs, n, 0);
}

/* ---- modes ---- */

static void run_echo(void)
{
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    struct epoll_event ev[MAX_EVENTS];
    size_t size = (size_t)opt.size;
    uint64_t t = now_ns();
    connect_all(cs, opt.conns, t + (uint64_t)(opt.timeout * 1e9), 0);

    /* With --count, exactly that many round trips are made and timed; else warm-up then window. */
    int counted = opt.count > 0;
    uint64_t begin = now_ns();
    uint64_t measure_from = counted ? begin : begin + (uint64_t)(opt.warmup * 1e9);
    uint64_t end = counted ? begin + (uint64_t)(opt.timeout * 1e9) : measure_from + (uint64_t)(opt.duration * 1e9);
    long started = 0, completed = 0, measured = 0;
    struct window w = {0};
    int measuring = 0;

    for (int i = 0; i < opt.conns && (!counted || started < opt.count); i++, started++)
        start_round(&cs[i], size, begin);
    if (counted) {
        measuring = 1;
        window_start(&w);
    }
    while (1) {
        t = now_ns();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            window_start(&w);
        }
        if (t >= end) {
            if (counted)
                fail("only %ld of %ld round trips completed in %.0f s", completed, opt.count, opt.timeout);
            break;
        }
        if (counted && completed == opt.count)
            break;
        int k = poll_events(ev, measuring ? end : measure_from);
        for (int i = 0; i < k; i++) {
            struct conn *c = ev[i].data.ptr;
            if (ev[i].events & EPOLLOUT && c->sent < size)
                send_rest(c, size);
            if (!(ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            if (c->recvd == c->sent && c->sent == size) {
                check_unexpected(c);  /* a finished conn in --count mode that has nothing to expect */
                continue;
            }
            if (!recv_echo(c, size))
                continue;
            uint64_t done_at = now_ns();
            completed++;
            if (measuring && done_at < end) {
                measured++;
                add_sample(done_at - c->start_ns);
            }
            if (!counted || started < opt.count) {
                started++;
                start_round(c, size, done_at);
            }
        }
    }
    uint64_t stop = now_ns();
    double secs = (double)((counted ? stop : end) - measure_from) / 1e9;
    printf("{\"mode\":\"echo\",\"conns\":%d,\"size\":%d,\"duration_s\":%.3f,\"round_trips\":%ld,\"rps\":%.1f",
           opt.conns, opt.size, secs, measured, measured / secs);
    print_tls();
    print_latency();
    print_cpu(&w);
    fflush(stdout);
    drain(cs, opt.conns, size);
}

static void run_stream(void)
{
    struct conn c = {0};
    struct epoll_event ev[MAX_EVENTS];
    connect_all(&c, 1, now_ns() + (uint64_t)(opt.timeout * 1e9), 0);
    set_events(&c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);

    uint64_t begin = now_ns();
    uint64_t measure_from = begin + (uint64_t)(opt.warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(opt.duration * 1e9);
    uint64_t sent = 0, echoed = 0, echoed_at_start = 0;
    unsigned reads = 0;
    int blocked = 0;
    struct window w = {0};
    int measuring = 0;
    while (1) {
        uint64_t t = now_ns();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            echoed_at_start = echoed;
            window_start(&w);
        }
        if (t >= end)
            break;
        int k = poll_events(ev, measuring ? end : measure_from);
        for (int i = 0; i < k; i++) {
            if (ev[i].events & EPOLLOUT) {
                size_t off = sent % CHUNK;  /* a partial write finishes its chunk first */
                ssize_t n = conn_send(&c, pattern + sent % PATTERN_PERIOD, CHUNK - off);
                if (n > 0)
                    sent += (uint64_t)n;
                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                    fail("send: %s", io_error());
                blocked = n < 0 && c.ssl;  /* OpenSSL holds a record it could not send in full */
            }
            if (!(ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            do {
                /* One read in 8 is checked; the others are discarded in the kernel (MSG_TRUNC),
                   so the loadgen costs less per byte than the server it measures (with --tls
                   every read is decrypted, one record at most). A lost or repeated byte still
                   shows: it shifts every later checked read. */
                int check = (++reads & 7) == 0;
                int discard = !check && !c.ssl;
                ssize_t n = conn_recv(&c, discard ? NULL : rbuf, RBUF, discard ? MSG_TRUNC : 0);
                if (n == 0)
                    fail("server closed the stream");
                if (n < 0) {
                    if (errno != EAGAIN && errno != EINTR)
                        fail("recv: %s", io_error());
                    break;
                }
                /* The pattern has period 251, so a long read is compared chunk by chunk. */
                for (ssize_t off = 0; check && off < n; off += CHUNK) {
                    size_t len = (size_t)(n - off) < CHUNK ? (size_t)(n - off) : CHUNK;
                    if (memcmp(rbuf + off, pattern + (echoed + (uint64_t)off) % PATTERN_PERIOD, len) != 0)
                        fail("echoed stream differs from the bytes sent");
                }
                echoed += (uint64_t)n;
                if (echoed > sent)
                    fail("server echoed more bytes than were sent");
            } while (conn_pending(&c));
        }
    }
    double secs = opt.duration;
    uint64_t bytes = echoed - echoed_at_start;
    printf("{\"mode\":\"stream\",\"chunk\":%d,\"duration_s\":%.3f,\"bytes\":%llu,\"mb_per_s\":%.1f",
           CHUNK, secs, (unsigned long long)bytes, bytes / secs / 1e6);
    print_tls();
    print_cpu(&w);
    fflush(stdout);
    /* Finish like a polite client: send the rest of a TLS record OpenSSL has half sent (the
       echo is read and dropped meanwhile, so the server is not held up by us), end our side
       (with --tls, close_notify), read the rest of the echo until the server's FIN. */
    uint64_t deadline = now_ns() + 2000000000ull;
    while (blocked && now_ns() < deadline) {
        int k = wait_events(ev, deadline);
        if (k > 0 && ev[0].events & (EPOLLIN | EPOLLERR | EPOLLHUP) && recv(c.fd, rbuf, RBUF, MSG_DONTWAIT) == 0)
            break;
        if (k > 0 && ev[0].events & EPOLLOUT) {
            ssize_t n = conn_send(&c, pattern + sent % PATTERN_PERIOD, CHUNK - sent % CHUNK);
            if (n > 0 || (errno != EAGAIN && errno != EINTR))
                blocked = 0;
        }
    }
    end_all(&c, 1, 1);
}

static void run_connrate(void)
{
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    struct epoll_event ev[MAX_EVENTS];
    const size_t size = 64;
    uint64_t begin = now_ns();
    uint64_t measure_from = begin + (uint64_t)(opt.warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(opt.duration * 1e9);
    long opened = 0, measured = 0;
    struct window w = {0};
    int measuring = 0;

    for (int i = 0; i < opt.conns; i++)
        open_conn(&cs[i], (int)opened++);
    while (1) {
        uint64_t t = now_ns();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            window_start(&w);
        }
        if (t >= end)
            break;
        int k = poll_events(ev, measuring ? end : measure_from);
        for (int i = 0; i < k; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c->state == S_FREE)
                continue;  /* closed earlier in this batch */
            if (c->state == S_CLOSING) {  /* --tls: the slot is free once the server's FIN is in */
                if (read_to_fin(c))
                    open_conn(c, (int)opened++);
                continue;
            }
            if (c->state != S_ACTIVE) {
                if (c->state == S_CONNECTING && !(ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                    continue;
                /* latency covers the whole connect -> (handshake ->) echo -> close */
                if (!setup_or_fail(c))
                    continue;
                c->round++;
                c->sent = c->recvd = 0;
                send_rest(c, size);
                continue;
            }
            if (ev[i].events & EPOLLOUT && c->sent < size)
                send_rest(c, size);
            if (!(ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) || !recv_echo(c, size))
                continue;
            int free_now = end_conn(c, 0);
            uint64_t done_at = now_ns();
            if (measuring && done_at < end) {
                measured++;
                add_sample(done_at - c->start_ns);
            }
            if (free_now)
                open_conn(c, (int)opened++);
        }
    }
    double secs = opt.duration;
    printf("{\"mode\":\"connrate\",\"conns\":%d,\"duration_s\":%.3f,\"connections\":%ld,\"cps\":%.1f",
           opt.conns, secs, measured, measured / secs);
    print_tls();
    print_latency();
    print_cpu(&w);
    fflush(stdout);
    drain(cs, opt.conns, size);
}

static void run_idle(void)
{
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    struct epoll_event ev[MAX_EVENTS];
    uint64_t begin = now_ns();
    /* Every connection makes one round trip, so the server has surely accepted and served it.
       Up to 100,000 connections to one port: more than one source address has ports for. */
    connect_all(cs, opt.conns, begin + (uint64_t)(opt.timeout * 1e9), 1);
    uint64_t ready = now_ns();
    printf("{\"ready\":true,\"mode\":\"idle\",\"conns\":%d,\"setup_s\":%.3f}\n", opt.conns, (ready - begin) / 1e9);
    fflush(stdout);

    /* Hold: wake on stdin (a line or EOF), SIGTERM, the hold limit, or a server closing on us. */
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);  /* fails for files and /dev/null: then a signal or the limit */
    uint64_t hold_until = ready + (uint64_t)(opt.hold * 1e9);
    const char *why = NULL;
    while (!why) {
        int k = wait_events(ev, hold_until);
        for (int i = 0; i < k; i++) {
            if (ev[i].data.ptr == NULL) {
                char line[256];
                if (read(0, line, sizeof line) >= 0)  /* any input or EOF means stop */
                    why = "stdin";
            } else {
                check_unexpected(ev[i].data.ptr);
            }
        }
        if (!why && stop_requested)
            why = "signal";
        if (!why && now_ns() >= hold_until)
            why = "hold limit";
    }
    uint64_t released = now_ns();
    end_all(cs, opt.conns, 0);
    printf("{\"mode\":\"idle\",\"conns\":%d,\"setup_s\":%.3f,\"held_s\":%.3f,\"stopped_by\":\"%s\"}\n",
           opt.conns, (ready - begin) / 1e9, (released - ready) / 1e9, why);
}

/* ---- command line ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --mode echo|stream|connrate|idle --port P [--host 127.0.0.1] [--tls]\n"
            "               [--conns C] [--size S] [--warmup SECS] [--duration SECS]\n"
            "               [--count N] [--timeout SECS] [--hold SECS] [--server-pid PID]\n"
            "               [--backend-pid PID] [--no-spin] [--proxy-v1 | --proxy-v1-alone]\n"
            "       --server-pid P,Q,...  sums the CPU of several processes (a server's workers)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mode", required_argument, 0, 'm'},     {"host", required_argument, 0, 'h'},
        {"port", required_argument, 0, 'p'},     {"conns", required_argument, 0, 'c'},
        {"size", required_argument, 0, 's'},     {"warmup", required_argument, 0, 'w'},
        {"duration", required_argument, 0, 'd'}, {"timeout", required_argument, 0, 't'},
        {"hold", required_argument, 0, 'H'},     {"server-pid", required_argument, 0, 'P'},
        {"count", required_argument, 0, 'n'},    {"no-spin", no_argument, 0, 'S'},
        {"tls", no_argument, 0, 'T'},            {"backend-pid", required_argument, 0, 'B'},
        {"proxy-v1", no_argument, 0, 'V'},      {"proxy-v1-alone", no_argument, 0, 'A'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            if (!strcmp(optarg, "echo")) opt.mode = M_ECHO;
            else if (!strcmp(optarg, "stream")) opt.mode = M_STREAM;
            else if (!strcmp(optarg, "connrate")) opt.mode = M_CONNRATE;
            else if (!strcmp(optarg, "idle")) opt.mode = M_IDLE;
            else usage();
            break;
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 's': opt.size = atoi(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        case 'H': opt.hold = atof(optarg); break;
        case 'P':
            for (char *pid = strtok(optarg, ","); pid; pid = strtok(NULL, ",")) {
                if (opt.n_server_pids == MAX_SERVER_PIDS || atol(pid) <= 0)
                    usage();
                opt.server_pids[opt.n_server_pids++] = atol(pid);
            }
            break;
        case 'B': opt.backend_pid = atol(optarg); break;
        case 'n': opt.count = atol(optarg); break;
        case 'S': opt.spin = 0; break;
        case 'T': opt.tls = 1; break;
        case 'V': opt.proxy_v1 = PROXY_V1_WITH_DATA; break;
        case 'A': opt.proxy_v1 = PROXY_V1_ALONE; break;
        default: usage();
        }
    }
    if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.conns < 1 || opt.size < 1 ||
        opt.warmup < 0 || opt.duration <= 0 || opt.timeout <= 0 || opt.hold <= 0 || opt.count < 0)
        usage();
    if (opt.mode == M_STREAM)
        opt.conns = 1;

    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1)
        fail("--host must be an IPv4 address, got %s", opt.host);
    if ((ntohl(server_addr.sin_addr.s_addr) >> 24) != 127)
        fail("--host must be a loopback address (127.x.x.x): this tool only loads the local machine");

    /* Never hang: the whole run has a hard limit on top of every phase's own deadline. */
    double limit = 2 * opt.timeout + opt.warmup + opt.duration + 10;
    if (opt.mode == M_IDLE)
        limit = 2 * opt.timeout + opt.hold + 10;
    signal(SIGALRM, on_alarm);
    alarm((unsigned)limit + 1);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};  /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    raise_nofile(opt.conns + 64L);
    size_t plen = (size_t)(opt.size > CHUNK ? opt.size : CHUNK) + PATTERN_PERIOD;
    pattern = malloc(plen);
    rbuf = malloc(RBUF);
    if (!pattern || !rbuf)
        fail("out of memory");
    for (size_t i = 0; i < plen; i++)
        pattern[i] = (unsigned char)(i % PATTERN_PERIOD);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        fail("epoll_create1: %s", strerror(errno));
    if (opt.tls)
        tls_init();
    if (opt.proxy_v1)
        proxy_v1_len = (size_t)snprintf(proxy_v1_line, sizeof proxy_v1_line, "PROXY TCP4 198.51.100.27 %s 51234 %d\r\n",
                                        opt.host, opt.port);

    switch (opt.mode) {
    case M_ECHO: run_echo(); break;
    case M_STREAM: run_stream(); break;
    case M_CONNRATE: run_connrate(); break;
    case M_IDLE: run_idle(); break;
    }
    fflush(stdout);
    return 0;
}
