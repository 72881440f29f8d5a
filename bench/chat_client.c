/* The receiving side of bench/chat.py: N WebSocket viewers of one overlay
 * stream in one process (epoll, non-blocking sockets, RFC 6455 frames by
 * hand), because a Python client reading 50,000-500,000 chat frames a second
 * on a shared 2-core machine measures itself, not the overlay.
 *
 *   chat_client PORT STREAM N SAMPLE_EVERY
 *
 * Prints "ready" once every viewer got its hello; then reads until a line
 * "stop SECONDS" on stdin, keeps reading SECONDS more, and prints one JSON
 * line: per-viewer message counts (as a histogram of counts), chat frames,
 * closed viewers, and the latency histogram (1 ms buckets, sparse) of every
 * SAMPLE_EVERY-th viewer.  A chat message's text is "b SEQ SENT_MS" (the
 * sender's wall clock); receipt is the kernel's SO_TIMESTAMPNS of the read
 * that brought the frame (for TCP the newest segment of that read: a lagging
 * reader overstates latency, never understates it).
 *
 * Built by bench/chat.py with the system compiler (cc -O2); no library. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_MS 30000
#define BUF_CAP (1 << 20)

typedef struct viewer {
    int fd;
    unsigned char *buf;
    size_t len;
    int open, hello, closed, sample;
    long msgs, frames;
} viewer_t;

static long hist[HIST_MS];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Counts "text":"b SEQ SENT" in a frame; for sampled viewers adds latencies. */
static void on_text(viewer_t *v, const unsigned char *p, size_t n, double recv_ms)
{
    static const char pat[] = "\"text\":\"b ";
    const unsigned char *q = p, *end = p + n;
    int found = 0;
    while ((q = memmem(q, (size_t)(end - q), pat, sizeof(pat) - 1)) != NULL) {
        q += sizeof(pat) - 1;
        found++;
        if (v->sample) {
            char tmp[48];
            size_t k = (size_t)(end - q) < sizeof(tmp) - 1 ? (size_t)(end - q) : sizeof(tmp) - 1;
            memcpy(tmp, q, k);
            tmp[k] = '\0';
            long long seq, sent;
            if (sscanf(tmp, "%lld %lld", &seq, &sent) == 2) {
                long lat = (long)(recv_ms - (double)sent);
                hist[lat < 0 ? 0 : lat >= HIST_MS ? HIST_MS - 1 : lat]++;
            }
        }
    }
    if (found) {
        v->frames++;
        v->msgs += found;
    }
}

static void on_readable(viewer_t *v)
{
    char anc[CMSG_SPACE(sizeof(struct timespec))];
    for (;;) {
        if (v->len == BUF_CAP) {
            fprintf(stderr, "chat_client: a frame larger than %d bytes\n", BUF_CAP);
            exit(1);
        }
        struct iovec io = {v->buf + v->len, BUF_CAP - v->len};
        struct msghdr mh = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = anc, .msg_controllen = sizeof(anc)};
        ssize_t r = recvmsg(v->fd, &mh, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            v->closed = 1;
            return;
        }
        double ts = now_s();
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
                struct timespec t;
                memcpy(&t, CMSG_DATA(c), sizeof(t));
                ts = (double)t.tv_sec + t.tv_nsec / 1e9;
            }
        v->len += (size_t)r;
        size_t off = 0;
        if (!v->open) {
            unsigned char *e = memmem(v->buf, v->len, "\r\n\r\n", 4);
            if (e == NULL)
                continue;
            if (v->len < 12 || memcmp(v->buf, "HTTP/1.1 101", 12) != 0) {
                fprintf(stderr, "chat_client: handshake refused: %.80s\n", v->buf);
                exit(1);
            }
            off = (size_t)(e - v->buf) + 4;
            v->open = 1;
        }
        while (v->len - off >= 2) {
            unsigned char *b = v->buf + off;
            int op = b[0] & 15;
            uint64_t n = b[1] & 127;
            size_t h = 2;
            if (n == 126) {
                if (v->len - off < 4)
                    break;
                n = ((uint64_t)b[2] << 8) | b[3];
                h = 4;
            } else if (n == 127) {
                if (v->len - off < 10)
                    break;
                n = 0;
                for (int i = 0; i < 8; i++)
                    n = (n << 8) | b[2 + i];
                h = 10;
            }
            if (n > BUF_CAP || v->len - off < h + n)
                break;
            if (op == 8)
                v->closed = 1;
            else if (op == 1 && !v->hello)
                v->hello = n > 15 && memcmp(b + h, "{\"type\":\"hello\"", 15) == 0;
            else if (op == 1)
                on_text(v, b + h, (size_t)n, ts * 1000.0);
            off += h + (size_t)n;
        }
        memmove(v->buf, v->buf + off, v->len - off);
        v->len -= off;
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: chat_client PORT STREAM N SAMPLE_EVERY\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[3]), every = atoi(argv[4]);
    const char *stream = argv[2];
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    viewer_t *vs = calloc((size_t)n, sizeof(*vs));
    int ep = epoll_create1(0);
    char hs[512];
    int hl = snprintf(hs, sizeof(hs),
                      "GET /v1/streams/%s/ws?name=viewer HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n",
                      stream, port);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < n; i++) {
        viewer_t *v = &vs[i];
        v->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(v->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
        if (v->fd < 0 || connect(v->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send(v->fd, hs, (size_t)hl, 0) != hl) {
            fprintf(stderr, "chat_client: connect #%d: %s\n", i, strerror(errno));
            return 1;
        }
        if (fcntl(v->fd, F_SETFL, O_NONBLOCK) < 0)
            return 1;
        v->buf = malloc(BUF_CAP);
        v->sample = i % every == 0;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, v->fd, &ev);
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
    int ready = 0;
    double stop_at = 0;
    struct epoll_event evs[1024];
    for (;;) {
        int k = epoll_wait(ep, evs, 1024, 50);
        for (int i = 0; i < k; i++) {
            if (evs[i].data.u32 == UINT32_MAX) {
                char line[64] = "";
                ssize_t r = read(0, line, sizeof(line) - 1);
                double grace = 0;
                if (r > 0 && sscanf(line, "stop %lf", &grace) == 1)
                    stop_at = now_s() + grace;
                else
                    stop_at = now_s();
                epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
                continue;
            }
            viewer_t *v = &vs[evs[i].data.u32];
            on_readable(v);
            if (v->closed)
                epoll_ctl(ep, EPOLL_CTL_DEL, v->fd, NULL);
        }
        if (!ready) {
            int all = 1;
            for (int i = 0; i < n && all; i++)
                all = vs[i].hello;
            if (all) {
                printf("ready\n");
                fflush(stdout);
                ready = 1;
            }
        }
        if (stop_at > 0 && now_s() >= stop_at)
            break;
    }
    /* {"viewers":N,"closed":C,"frames":F,"counts":{"MSGS":VIEWERS,...},"hist":[[ms,count],...]} */
    long frames = 0, closed = 0;
    printf("{\"viewers\":%d", n);
    for (int i = 0; i < n; i++) {
        frames += vs[i].frames;
        closed += vs[i].closed;
    }
    printf(",\"closed\":%ld,\"frames\":%ld,\"msgs\":[", closed, frames);
    for (int i = 0; i < n; i++)
        printf("%s%ld", i ? "," : "", vs[i].msgs);
    printf("],\"hist\":[");
    int first = 1;
    for (int i = 0; i < HIST_MS; i++)
        if (hist[i]) {
            printf("%s[%d,%ld]", first ? "" : ",", i, hist[i]);
            first = 0;
        }
    printf("]}\n");
    fflush(stdout);
    for (int i = 0; i < n; i++)
        close(vs[i].fd);
    return 0;
}
