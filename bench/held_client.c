/* held_client: the measuring side of bench/held_requests.py --client c.
 *
 * Keeps N HTTP/1.1 keep-alive connections to one server and, per command,
 * sends the same GET on all of them (a blocking playlist request
 * `media.m3u8?_HLS_msn=M&_HLS_part=P`, or a hinted part) and stamps each
 * response as it completes.  The Python driver decides what to ask for
 * (it knows the live edge), polls the server's held gauge and does the
 * statistics; this program only does what Python is too slow for: reading
 * 1,000-10,000 answers that arrive within milliseconds of each other without
 * falling behind them, and without taking the server's CPU while it is
 * still writing (a Python reader competes with the server for the same two
 * cores during the fan-out).
 *
 * One thread, epoll (level-triggered), non-blocking sockets.  Per response:
 *   t_first  CLOCK_REALTIME right after the read that returned its first byte
 *   t_last   CLOCK_REALTIME right after the read that returned its last byte
 *   k_last   the kernel's receive stamp of that last read (SO_TIMESTAMPNS):
 *            when loopback queued the bytes, i.e. independent of when this
 *            process got round to the socket
 *   ready    the server's `x-cartcast-ready` header, if it sends one
 *            (CARTCAST_BENCH_STAMPS=1: CLOCK_REALTIME when the part that
 *            satisfied the request completed, edge/hls.c on_model_event)
 *
 * Protocol on stdin/stdout, one line each:
 *   start             -> "OPEN n"               (all connected)
 *   "GO gzip PATH"    -> "SENT ns", "FIRST ns" (first byte of any answer),
 *                        then N lines "R status t_first t_last k_last ready len hash",
 *                        "BODY hex" (connection 0's body, playlists only: gzip=0|1, 2 = part,
 *                        body not kept), "END missing"
 *   "QUIT"
 * Usage: held_client HOST PORT N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define RX_BUF (256 * 1024)
#define BODY_KEEP_MAX (4u << 20)

typedef struct conn {
    int fd;
    int state; /* 0 idle, 1 head, 2 body, 3 done */
    char head[HEAD_MAX];
    size_t head_len;
    uint64_t body_left, body_len;
    uint64_t hash;
    int status;
    int64_t t_first, t_last, k_last, ready;
    char *body; /* connection 0 only */
    size_t body_cap;
} conn_t;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "held_client: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void fnv(uint64_t *h, const unsigned char *p, size_t n)
{
    uint64_t x = *h;
    for (size_t i = 0; i < n; i++) {
        x ^= p[i];
        x *= 1099511628211ull;
    }
    *h = x;
}

/* Parses the head once "\r\n\r\n" is in; returns bytes of head consumed or 0. */
static size_t parse_head(conn_t *c)
{
    char *end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    size_t used = (size_t)(end - c->head) + 4;
    *end = '\0';
    c->status = atoi(c->head + 9);
    c->body_left = 0;
    for (char *line = strstr(c->head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        char *l = line + 2;
        if (strncasecmp(l, "content-length:", 15) == 0)
            c->body_left = strtoull(l + 15, NULL, 10);
        else if (strncasecmp(l, "x-cartcast-ready:", 17) == 0)
            c->ready = strtoll(l + 17, NULL, 10);
    }
    c->body_len = c->body_left;
    return used;
}

static void body_bytes(conn_t *c, const unsigned char *p, size_t n, int keep)
{
    fnv(&c->hash, p, n);
    if (keep && c->body) {
        if (c->body_cap + n <= BODY_KEEP_MAX) {
            memcpy(c->body + c->body_cap, p, n);
            c->body_cap += n;
        }
    }
    c->body_left -= n;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: held_client HOST PORT N\n");
        return 2;
    }
    int n = atoi(argv[3]);
    if (n < 1 || n > 100000)
        return 2;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
        return 2;
    conn_t *cs = calloc((size_t)n, sizeof(*cs));
    unsigned char *rx = malloc(RX_BUF);
    char cbuf[256];
    int ep = epoll_create1(0);
    if (cs == NULL || rx == NULL || ep < 0)
        die("setup");
    cs[0].body = malloc(BODY_KEEP_MAX);

    /* Blocking connects, one after another: simple, done once, and the server's
     * listen backlog never overflows. */
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            die("socket");
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            die("connect");
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
            die("fcntl");
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
    }
    printf("OPEN %d\n", n);
    fflush(stdout);

    char line[4096];
    struct epoll_event evs[1024];
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "QUIT", 4) == 0)
            break;
        int mode;
        char path[3000];
        if (sscanf(line, "GO %d %2999s", &mode, path) != 2) {
            fprintf(stderr, "held_client: bad command\n");
            return 2;
        }
        char req[3500];
        int rl = snprintf(req, sizeof(req),
                          "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: cartcast-held-client\r\n%s\r\n", path,
                          argv[1], argv[2], mode == 1 ? "Accept-Encoding: gzip\r\n" : "");
        for (int i = 0; i < n; i++) {
            conn_t *c = &cs[i];
            c->state = 1;
            c->head_len = 0;
            c->hash = 1469598103934665603ull;
            c->status = 0;
            c->t_first = c->t_last = c->k_last = c->ready = 0;
            c->body_cap = 0;
        }
        for (int i = 0; i < n; i++)
            if (send(cs[i].fd, req, (size_t)rl, MSG_NOSIGNAL) != rl)
                die("send (short send on an idle connection)");
        printf("SENT %lld\n", (long long)now_ns());
        fflush(stdout);
        int left = n, first_said = 0;
        int64_t deadline = now_ns() + 15000000000ll;
        while (left > 0 && now_ns() < deadline) {
            int k = epoll_wait(ep, evs, 1024, 100);
            if (k < 0 && errno != EINTR)
                die("epoll_wait");
            for (int e = 0; e < k; e++) {
                conn_t *c = &cs[evs[e].data.u32];
                struct iovec iov = {.iov_base = rx, .iov_len = RX_BUF};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                    .msg_controllen = sizeof(cbuf)};
                ssize_t r = recvmsg(c->fd, &mh, 0);
                int64_t t = now_ns(); /* right after the read: the figure this client is for */
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (r <= 0) {
                    fprintf(stderr, "held_client: connection %u closed by the server\n", evs[e].data.u32);
                    return 3;
                }
                int64_t kt = 0;
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec ts;
                        memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
                        kt = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
                    }
                if (c->state != 1 && c->state != 2) {
                    fprintf(stderr, "held_client: %zd unexpected bytes on connection %u\n", r,
                            evs[e].data.u32);
                    return 3;
                }
                if (c->t_first == 0) {
                    c->t_first = t;
                    if (!first_said) {
                        printf("FIRST %lld\n", (long long)t);
                        fflush(stdout);
                        first_said = 1;
                    }
                }
                unsigned char *p = rx;
                size_t len = (size_t)r;
                if (c->state == 1) {
                    size_t room = HEAD_MAX - 1 - c->head_len;
                    size_t take = len < room ? len : room;
                    memcpy(c->head + c->head_len, p, take);
                    size_t before = c->head_len;
                    c->head_len += take;
                    size_t used = parse_head(c);
                    if (used == 0) {
                        if (c->head_len >= HEAD_MAX - 1) {
                            fprintf(stderr, "held_client: response head too long\n");
                            return 3;
                        }
                        continue;
                    }
                    size_t from_this = used - before;
                    p += from_this;
                    len -= from_this;
                    c->state = 2;
                }
                if (len > c->body_left) {
                    fprintf(stderr, "held_client: more bytes than Content-Length\n");
                    return 3;
                }
                body_bytes(c, p, len, mode != 2);
                if (c->body_left == 0) {
                    c->state = 3;
                    c->t_last = t;
                    c->k_last = kt;
                    left--;
                }
            }
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = &cs[i];
            printf("R %d %lld %lld %lld %lld %llu %016llx\n", c->status, (long long)c->t_first,
                   (long long)c->t_last, (long long)c->k_last, (long long)c->ready,
                   (unsigned long long)c->body_len, (unsigned long long)c->hash);
        }
        if (mode != 2) {
            fputs("BODY ", stdout);
            for (size_t i = 0; i < cs[0].body_cap; i++)
                printf("%02x", (unsigned char)cs[0].body[i]);
            fputc('\n', stdout);
        }
        printf("END %d\n", left);
        fflush(stdout);
    }
    return 0;
}
