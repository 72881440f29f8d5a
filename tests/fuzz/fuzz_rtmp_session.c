/* libFuzzer: arbitrary bytes as a whole RTMP connection (client -> server)
 * through the sans-I/O session, against a real hub with a subscriber and an
 * auth table that knows the corpus's key (so publishes succeed and frames
 * flow).  The input is fed in pieces of pseudo-random sizes so that state
 * kept across feeds is exercised too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cartcast/hub.h"
#include "cartcast/log.h"
#include "ingest/auth.h"
#include "ingest/rtmp/session.h"

/* The key used when the seed corpus was captured (docs/rtmp.md). */
#define CORPUS_KEY "fuzz-key-0123"

static cc_hub_t *hub;
static cc_auth_t *auth;
static cc_hub_listener_t listener;
static cc_subscriber_t sub;
static volatile uint32_t sink;

static void on_frame(cc_subscriber_t *s, cc_stream_t *st, const cc_frame_t *f)
{
    /* Touch every payload byte: ASan flags a frame pointing outside its buffer. */
    uint32_t x = 0;
    for (uint32_t i = 0; i < f->len; i++)
        x += f->data[i];
    sink += x + (uint32_t)f->dts;
}

static void on_track(cc_subscriber_t *s, cc_stream_t *st, int track)
{
    const cc_track_t *t = cc_stream_track(st, track);
    if (t && t->config)
        sink += t->config->len;
}

static void on_publish(cc_hub_listener_t *l, cc_stream_t *st) { cc_stream_subscribe(st, &sub); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hub) {
        cc_log_set_level(CC_LOG_OFF);
        hub = cc_hub_new();
        auth = cc_auth_new();
        cc_auth_add(auth, "fuzz=" CORPUS_KEY);
        sub.on_frame = on_frame;
        sub.on_track = on_track;
        listener.on_publish = on_publish;
        cc_hub_add_listener(hub, &listener);
    }
    cc_rtmp_session_config_t cfg;
    cc_rtmp_session_config_default(&cfg);
    /* Smaller caps so the fuzzer reaches them without megabytes of input. */
    cfg.chunk.max_message_size = 256 * 1024;
    cfg.chunk.max_pending_bytes = 512 * 1024;
    cc_rtmp_session_t *s = cc_rtmp_session_new(&cfg, hub, auth, "fuzz:1");
    if (!s)
        return 0;
    uint32_t rng = (uint32_t)size * 2654435761u + 1;
    size_t off = 0;
    while (off < size) {
        rng = rng * 1103515245u + 12345u;
        size_t n = 1 + (rng >> 16) % 4096;
        if (n > size - off)
            n = size - off;
        int rc = cc_rtmp_session_feed(s, data + off, n);
        cc_buf_t *out = cc_rtmp_session_take_output(s);
        cc_buf_unref(out);
        off += n;
        if (rc < 0)
            break;
    }
    cc_rtmp_session_free(s);
    return 0;
}
