/* A reader for the media playlists cartcast's origin writes (packager/llhls.c),
 * as much as an edge needs to mirror them.  Pure: no I/O, no allocation; the
 * caller provides the (large) result struct and keeps the text alive while it
 * uses the views into it.
 *
 * Tags read: EXTM3U, VERSION, TARGETDURATION, PART-INF, SERVER-CONTROL,
 * MEDIA-SEQUENCE, DISCONTINUITY-SEQUENCE, INDEPENDENT-SEGMENTS, SKIP, MAP,
 * PROGRAM-DATE-TIME, PART, EXTINF + segment URI, DISCONTINUITY, PRELOAD-HINT,
 * DATERANGE, ENDLIST.  Other tags and comments are skipped.
 *
 * URIs must be cartcast's names (init<D>.mp4, seg<MSN>.m4s, part<SEQ>.m4s,
 * relative, as cc_llhls_uri_parse reads them) and their numbers must agree
 * with the playlist's counting: segment URIs follow MEDIA-SEQUENCE (+ the
 * skipped segments), part numbers increase by one within a segment.  Anything
 * else is CC_EPROTO: the edge then resynchronises rather than guess.
 *
 * Bounds: the text up to CC_M3U8_TEXT_MAX, lines up to CC_M3U8_LINE_MAX,
 * CC_M3U8_MAX_SEGMENTS segments, CC_M3U8_MAX_PARTS listed parts,
 * CC_M3U8_MAX_DATERANGES date ranges with CC_M3U8_DR_X_MAX X- attributes
 * each.  Past one: CC_ETOOBIG. */
#ifndef CARTCAST_EDGE_M3U8_H
#define CARTCAST_EDGE_M3U8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"

#define CC_M3U8_TEXT_MAX (1u << 20)
#define CC_M3U8_LINE_MAX 8192
#define CC_M3U8_MAX_SEGMENTS 256
#define CC_M3U8_MAX_PARTS 512
#define CC_M3U8_MAX_DATERANGES 128
#define CC_M3U8_DR_X_MAX 8

typedef struct cc_m3u8_part {
    uint64_t seq;      /* from the URI part<SEQ>.m4s */
    double dur_ms;     /* DURATION x 1000 */
    bool independent;  /* INDEPENDENT=YES */
} cc_m3u8_part_t;

typedef struct cc_m3u8_segment {
    uint64_t msn;
    uint64_t disc;        /* its discontinuity sequence number */
    bool discontinuity;   /* EXT-X-DISCONTINUITY before it */
    bool has_map;
    uint64_t map_disc;    /* EXT-X-MAP URI init<D>.mp4 in effect for it */
    int64_t pdt_ms;       /* EXT-X-PROGRAM-DATE-TIME, -1 when absent */
    bool complete;        /* EXTINF + URI seen (else: the open segment) */
    double dur_ms;        /* EXTINF x 1000 when complete */
    uint32_t first_part;  /* index into parts[] */
    uint32_t nparts;      /* its listed EXT-X-PART tags */
} cc_m3u8_segment_t;

typedef struct cc_m3u8_daterange {
    cc_iov_t id, class_name; /* class_name.base NULL when absent */
    int64_t start_ms;
    int64_t duration_ms;     /* -1 when absent */
    int64_t end_ms;          /* -1 when absent */
    size_t nx;
    struct {
        cc_iov_t name, value; /* X-NAME and its quoted-string value (quotes removed) */
    } x[CC_M3U8_DR_X_MAX];
} cc_m3u8_daterange_t;

typedef struct cc_m3u8_media {
    int version;
    uint32_t target_duration_s;
    uint32_t part_target_ms;    /* PART-TARGET x 1000, rounded; 0 when absent */
    bool can_block_reload;
    uint64_t media_sequence;
    uint64_t discontinuity_sequence;
    bool independent_segments;
    uint32_t skipped;           /* EXT-X-SKIP:SKIPPED-SEGMENTS */
    bool endlist;
    bool has_hint;
    uint64_t hint_seq;          /* EXT-X-PRELOAD-HINT:TYPE=PART URI part<SEQ>.m4s */
    size_t nsegments;
    cc_m3u8_segment_t segments[CC_M3U8_MAX_SEGMENTS];
    size_t nparts;
    cc_m3u8_part_t parts[CC_M3U8_MAX_PARTS];
    size_t ndateranges;
    cc_m3u8_daterange_t dateranges[CC_M3U8_MAX_DATERANGES];
} cc_m3u8_media_t;

/* 0, CC_EPROTO (not a playlist we can mirror: missing EXTM3U or
 * TARGETDURATION, malformed attribute, unexpected URI or numbering),
 * CC_ETOOBIG (a bound above). */
int cc_m3u8_parse_media(const char *text, size_t len, cc_m3u8_media_t *out);

/* An ISO 8601 date-time as the playlists write it ("2025-11-23T12:13:20.000Z",
 * any number of fraction digits, Z or +hh:mm / -hh:mm) -> ms since the epoch.
 * CC_EPROTO when malformed. */
int cc_m3u8_parse_date(const char *s, size_t len, int64_t *out_ms);

#endif
