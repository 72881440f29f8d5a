/* The in-process stream hub: one publisher per name, subscribers by hook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "cartcast/log.h"

#define BITRATE_WINDOW_S 4
#define MAX_REJECT_REASONS 16
#define REASON_MAX 32

struct cc_stream {
    cc_hub_t *hub;
    cc_stream_t *next;
    char name[CC_STREAM_NAME_MAX + 1];
    char protocol[8];
    char peer[64];
    uint64_t started_us;
    cc_track_t tracks[CC_MAX_TRACKS];
    unsigned char has_track[CC_MAX_TRACKS];
    cc_track_stats_t stats[CC_MAX_TRACKS];
    cc_subscriber_t *subs;
    void *publisher_data;
    /* Bytes per wall-clock second over the last BITRATE_WINDOW_S seconds; the
     * bucket for second s is bytes_per_s[s % N], valid while sec[...] == s. */
    uint64_t bytes_per_s[BITRATE_WINDOW_S + 1];
    uint64_t sec[BITRATE_WINDOW_S + 1];
};

struct cc_hub {
    cc_stream_t *streams;
    size_t nstreams;
    cc_hub_listener_t *listeners;
    char reasons[MAX_REJECT_REASONS][REASON_MAX];
    uint64_t reason_count[MAX_REJECT_REASONS];
};

uint64_t cc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

cc_hub_t *cc_hub_new(void)
{
    return calloc(1, sizeof(cc_hub_t));
}

void cc_hub_free(cc_hub_t *hub)
{
    if (hub == NULL)
        return;
    while (hub->streams != NULL)
        cc_stream_end(hub->streams);
    free(hub);
}

void cc_hub_add_listener(cc_hub_t *hub, cc_hub_listener_t *l)
{
    /* Append, so listeners run in registration order. */
    cc_hub_listener_t **p = &hub->listeners;
    while (*p != NULL)
        p = &(*p)->next_;
    l->next_ = NULL;
    *p = l;
}

void cc_hub_remove_listener(cc_hub_t *hub, cc_hub_listener_t *l)
{
    for (cc_hub_listener_t **p = &hub->listeners; *p != NULL; p = &(*p)->next_)
        if (*p == l) {
            *p = l->next_;
            return;
        }
}

int cc_stream_name_check(const char *name)
{
    size_t n = 0;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        if (n >= CC_STREAM_NAME_MAX)
            return CC_EINVAL;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return CC_EINVAL;
    }
    return n > 0 ? 0 : CC_EINVAL;
}

cc_stream_t *cc_hub_find(cc_hub_t *hub, const char *name)
{
    for (cc_stream_t *st = hub->streams; st != NULL; st = st->next)
        if (strcmp(st->name, name) == 0)
            return st;
    return NULL;
}

cc_stream_t *cc_hub_next(cc_hub_t *hub, cc_stream_t *prev)
{
    return prev == NULL ? hub->streams : prev->next;
}

size_t cc_hub_count(const cc_hub_t *hub)
{
    return hub->nstreams;
}

int cc_hub_publish(cc_hub_t *hub, const char *name, const char *protocol, const char *peer, cc_stream_t **out)
{
    *out = NULL;
    if (cc_stream_name_check(name) < 0)
        return CC_EINVAL;
    if (cc_hub_find(hub, name) != NULL)
        return CC_EBUSY;
    cc_stream_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return CC_ENOMEM;
    st->hub = hub;
    snprintf(st->name, sizeof(st->name), "%s", name);
    snprintf(st->protocol, sizeof(st->protocol), "%s", protocol ? protocol : "");
    snprintf(st->peer, sizeof(st->peer), "%s", peer ? peer : "");
    st->started_us = cc_now_us();
    st->next = hub->streams;
    hub->streams = st;
    hub->nstreams++;
    cc_log_info("hub.publish", "stream=%s protocol=%s peer=%s", st->name, st->protocol, st->peer);
    for (cc_hub_listener_t *l = hub->listeners; l != NULL; l = l->next_)
        l->on_publish(l, st);
    *out = st;
    return 0;
}

void cc_hub_count_rejected(cc_hub_t *hub, const char *reason)
{
    int free_slot = -1;
    for (int i = 0; i < MAX_REJECT_REASONS; i++) {
        if (hub->reasons[i][0] == '\0') {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (strcmp(hub->reasons[i], reason) == 0) {
            hub->reason_count[i]++;
            return;
        }
    }
    if (free_slot < 0)
        free_slot = MAX_REJECT_REASONS - 1; /* reasons are a fixed small set; fold overflow into the last */
    snprintf(hub->reasons[free_slot], REASON_MAX, "%s", reason);
    hub->reason_count[free_slot]++;
}

const char *cc_hub_rejected(const cc_hub_t *hub, size_t i, uint64_t *count)
{
    for (; i < MAX_REJECT_REASONS; i++) {
        if (hub->reasons[i][0] != '\0') {
            *count = hub->reason_count[i];
            return hub->reasons[i];
        }
    }
    return NULL;
}

int cc_stream_set_track(cc_stream_t *st, int index, const cc_track_t *track)
{
    if (index < 0 || index >= CC_MAX_TRACKS)
        return CC_EINVAL;
    cc_track_clear(&st->tracks[index]);
    cc_track_copy(&st->tracks[index], track);
    st->has_track[index] = 1;
    for (cc_subscriber_t *s = st->subs, *next; s != NULL; s = next) {
        next = s->next_;
        if (s->on_track)
            s->on_track(s, st, index);
    }
    return 0;
}

static void count_bitrate(cc_stream_t *st, uint32_t bytes)
{
    uint64_t s = cc_mono_ms() / 1000u;
    size_t slot = s % (BITRATE_WINDOW_S + 1);
    if (st->sec[slot] != s) {
        st->sec[slot] = s;
        st->bytes_per_s[slot] = 0;
    }
    st->bytes_per_s[slot] += bytes;
}

uint64_t cc_stream_bitrate(const cc_stream_t *st)
{
    /* Average over the last BITRATE_WINDOW_S complete seconds (the current one is partial),
     * or over the seconds the stream has existed when it is younger than that. */
    uint64_t now = cc_mono_ms() / 1000u;
    uint64_t bytes = 0;
    for (size_t i = 0; i <= BITRATE_WINDOW_S; i++)
        if (st->sec[i] < now && st->sec[i] + BITRATE_WINDOW_S >= now)
            bytes += st->bytes_per_s[i];
    uint64_t age_s = (cc_now_us() - st->started_us) / 1000000u;
    uint64_t window = age_s < BITRATE_WINDOW_S ? age_s : BITRATE_WINDOW_S;
    return window ? bytes * 8u / window : 0;
}

int cc_stream_push(cc_stream_t *st, const cc_frame_t *frame)
{
    if (frame->track < 0 || frame->track >= CC_MAX_TRACKS || !st->has_track[frame->track])
        return CC_EINVAL;
    cc_track_stats_t *ts = &st->stats[frame->track];
    if (ts->frames == 0)
        ts->first_dts = frame->dts;
    else if (frame->dts < ts->last_dts)
        ts->dts_backwards++;
    ts->last_dts = frame->dts;
    ts->frames++;
    ts->bytes += frame->len;
    ts->keyframes += frame->keyframe;
    count_bitrate(st, frame->len);
    for (cc_subscriber_t *s = st->subs, *next; s != NULL; s = next) {
        next = s->next_;
        if (s->on_frame)
            s->on_frame(s, st, frame);
    }
    return 0;
}

void cc_stream_end(cc_stream_t *st)
{
    cc_hub_t *hub = st->hub;
    for (cc_stream_t **p = &hub->streams; *p != NULL; p = &(*p)->next) {
        if (*p == st) {
            *p = st->next;
            hub->nstreams--;
            break;
        }
    }
    /* Detach each subscriber before its hook so that it may free itself. */
    while (st->subs != NULL) {
        cc_subscriber_t *s = st->subs;
        st->subs = s->next_;
        s->next_ = NULL;
        if (s->on_end)
            s->on_end(s, st);
    }
    /* The final tally, per track, so an operator (and the tests) can read what a publish delivered. */
    char tracks[512];
    size_t n = 0;
    uint64_t frames = 0;
    tracks[0] = '\0';
    for (int i = 0; i < CC_MAX_TRACKS; i++) {
        const cc_track_stats_t *s = &st->stats[i];
        frames += s->frames;
        if (st->has_track[i] && n < sizeof(tracks)) {
            int w = snprintf(tracks + n, sizeof(tracks) - n,
                             " track%d_codec=%s track%d_frames=%llu track%d_keyframes=%llu track%d_dts_span=%lld"
                             " track%d_dts_backwards=%llu",
                             i, cc_codec_name(st->tracks[i].codec), i, (unsigned long long)s->frames, i,
                             (unsigned long long)s->keyframes, i, (long long)(s->last_dts - s->first_dts), i,
                             (unsigned long long)s->dts_backwards);
            n += w > 0 ? (size_t)w : 0;
        }
        cc_track_clear(&st->tracks[i]);
    }
    cc_log_info("hub.end", "stream=%s protocol=%s frames=%llu duration_ms=%llu%s", st->name, st->protocol,
                (unsigned long long)frames, (unsigned long long)((cc_now_us() - st->started_us) / 1000u), tracks);
    free(st);
}

int cc_stream_subscribe(cc_stream_t *st, cc_subscriber_t *sub)
{
    cc_subscriber_t **p = &st->subs;
    while (*p != NULL) {
        if (*p == sub)
            return CC_EINVAL;
        p = &(*p)->next_;
    }
    sub->next_ = NULL;
    *p = sub;
    return 0;
}

void cc_stream_unsubscribe(cc_stream_t *st, cc_subscriber_t *sub)
{
    for (cc_subscriber_t **p = &st->subs; *p != NULL; p = &(*p)->next_) {
        if (*p == sub) {
            *p = sub->next_;
            sub->next_ = NULL;
            return;
        }
    }
}

const char *cc_stream_name(const cc_stream_t *st) { return st->name; }
const char *cc_stream_protocol(const cc_stream_t *st) { return st->protocol; }
uint64_t cc_stream_started_us(const cc_stream_t *st) { return st->started_us; }
void *cc_stream_publisher_data(const cc_stream_t *st) { return st->publisher_data; }
void cc_stream_set_publisher_data(cc_stream_t *st, void *data) { st->publisher_data = data; }

const cc_track_t *cc_stream_track(const cc_stream_t *st, int index)
{
    if (index < 0 || index >= CC_MAX_TRACKS || !st->has_track[index])
        return NULL;
    return &st->tracks[index];
}

const cc_track_stats_t *cc_stream_track_stats(const cc_stream_t *st, int index)
{
    if (index < 0 || index >= CC_MAX_TRACKS)
        return NULL;
    return &st->stats[index];
}
