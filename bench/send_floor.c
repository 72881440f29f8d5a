/* send_floor: what answering N held requests costs this machine with no
 * server at all.  The lower bound under bench/held_requests.py's figure.
 *
 * N loopback TCP connections.  Per round, T "server" threads write the same
 * M-byte message once on each of N accepted sockets, the way
 * cartcast's fan-out does (edge/http.c send_staged_slice: one send(2) per
 * connection, non-blocking, no HTTP, no lws, no libuv).  One "client"
 * thread reads them with epoll, as bench/held_client.c does.  The delay of
 * each answer = CLOCK_REALTIME after the read that completed it - the
 * instant the senders started.  Reported: p50/p99/max over all answers of
 * all rounds, and how long the senders took.
 *
 * Server and client share the machine's CPUs (as in held_requests.py, and
 * as a server and its viewers never do in production), so the figure is
 * what the kernel's loopback TCP path and the scheduler alone cost here.
 *
 * Usage: send_floor [-n CONNS] [-m BYTES] [-t THREADS] [-r ROUNDS]
 *   defaults: -n 1000 -m 1500 (a gzipped playlist + headers) -t 2 -r 10
 * Prints one "FLOOR n=... p50_ms=... p99_ms=... max_ms=... send_ms=..." line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

typedef struct sender {
    pthread_t tid;
    const int *fds;
    size_t begin, end;
    const char *msg;
    size_t len;
    pthread_barrier_t *go;
    int64_t done_ns;
    int rounds;
} sender_t;

/* One slice of the sockets, one send(2) each, every round. */
static void *send_slice(void *arg)
{
    sender_t *s = arg;
    for (int r = 0; r < s->rounds; r++) {
        pthread_barrier_wait(s->go); /* the round starts */
        for (size_t i = s->begin; i < s->end; i++)
            if (send(s->fds[i], s->msg, s->len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)s->len)
                die("send (short: a socket buffer is full)");
        s->done_ns = now_ns();
        pthread_barrier_wait(s->go); /* the round's sends are done */
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = 1000, threads = 2, rounds = 10;
    size_t len = 1500;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-m") == 0)
            len = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "-t") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-r") == 0)
            rounds = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: send_floor [-n CONNS] [-m BYTES] [-t THREADS] [-r ROUNDS]\n");
            return 2;
        }
    }
    if (n < 1 || n > 100000 || threads < 1 || threads > MAX_THREADS || rounds < 1 || len < 1 || len > 65536) {
        fprintf(stderr, "send_floor: -n 1..100000, -t 1..%d, -r >= 1, -m 1..65536\n", MAX_THREADS);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
        die("listen");
    int *cfd = calloc((size_t)n, sizeof(int)), *sfd = calloc((size_t)n, sizeof(int));
    size_t *got = calloc((size_t)n, sizeof(size_t));
    int64_t *delay = calloc((size_t)n * (size_t)rounds, sizeof(int64_t));
    char *msg = malloc(len), *rx = malloc(65536);
    if (!cfd || !sfd || !got || !delay || !msg || !rx)
        die("calloc");
    memset(msg, 'x', len);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        cfd[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (cfd[i] < 0 || connect(cfd[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
            die("connect (ulimit -n?)");
        sfd[i] = accept(lfd, NULL, NULL);
        if (sfd[i] < 0)
            die("accept");
        int one = 1;
        setsockopt(sfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(cfd[i], F_SETFL, fcntl(cfd[i], F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd[i], &ev) < 0)
            die("epoll_ctl");
    }

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
    sender_t s[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        s[t] = (sender_t){.fds = sfd, .begin = (size_t)n * t / threads, .end = (size_t)n * (t + 1) / threads,
                          .msg = msg, .len = len, .go = &go, .rounds = rounds};
        if (pthread_create(&s[t].tid, NULL, send_slice, &s[t]) != 0)
            die("pthread_create");
    }

    /* The main thread is the client. */
    struct epoll_event evs[1024];
    int64_t send_max = 0;
    for (int r = 0; r < rounds; r++) {
        usleep(200000); /* idle between rounds, as between two parts */
        memset(got, 0, (size_t)n * sizeof(size_t));
        int64_t t0 = now_ns();
        pthread_barrier_wait(&go);
        int left = n;
        while (left > 0) {
            int k = epoll_wait(ep, evs, 1024, 5000);
            if (k <= 0)
                die("epoll_wait (answers missing)");
            for (int e = 0; e < k; e++) {
                uint32_t i = evs[e].data.u32;
                ssize_t m = recv(cfd[i], rx, 65536, 0);
                int64_t t = now_ns();
                if (m <= 0)
                    continue;
                got[i] += (size_t)m;
                if (got[i] == len) {
                    delay[(size_t)r * n + (size_t)(n - left)] = t - t0;
                    left--;
                }
            }
        }
        pthread_barrier_wait(&go);
        for (int t = 0; t < threads; t++)
            if (s[t].done_ns - t0 > send_max)
                send_max = s[t].done_ns - t0;
    }
    for (int t = 0; t < threads; t++)
        pthread_join(s[t].tid, NULL);

    size_t total = (size_t)n * (size_t)rounds;
    qsort(delay, total, sizeof(int64_t), cmp_i64);
    printf("FLOOR n=%d bytes=%zu threads=%d rounds=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f send_ms_max=%.2f\n", n, len,
           threads, rounds, delay[total / 2] / 1e6, delay[total * 99 / 100] / 1e6, delay[total - 1] / 1e6,
           send_max / 1e6);
    return 0;
}
