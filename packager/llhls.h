/* The LL-HLS state of one stream: segments, parts, init sections, date
 * ranges, and the playlists rendered from them.  Pure (no I/O, no loop):
 * the packager feeds it, the HTTP delivery layer (edge/hls.c) reads it.
 *
 * Spec: draft-pantos-hls-rfc8216bis (4.4 tags, 6.2.5 blocking reload and
 * delta updates, Appendix B.1 low-latency server profile).
 *
 * URIs (relative to the media playlist, identical on origin and edges):
 *   index.m3u8        multivariant playlist
 *   media.m3u8        media playlist (muxed audio+video fMP4)
 *   init<D>.mp4       init section for discontinuity sequence D
 *   seg<MSN>.m4s      a whole segment (its parts concatenated)
 *   part<SEQ>.m4s     a part, named by a stream-wide part sequence number
 *                     that never resets, so the preload hint's URI is right
 *                     whichever segment the next part lands in.
 *
 * Numbering: MSN, part sequence and discontinuity sequence numbers start at
 * cfg.number_base (by default the first part's PDT in ms), so that a stream
 * whose state is freed and made again never reuses a URI: parts, segments
 * and inits are then safe to cache as immutable (docs/llhls.md).  Every
 * number in this API (edge, lookups, query) is that absolute number.
 *
 * Memory: every part, segment and init is a cc_buf_t written once; lookups
 * return a new reference the caller unrefs after sending.  The whole-segment
 * buffer is built once, when the segment closes.  Caps (CC_LLHLS_MAX_*)
 * bound everything; past one, calls fail with CC_ELIMIT.
 *
 * Not thread-safe: one loop thread owns a cc_llhls_t. */
#ifndef CARTCAST_PACKAGER_LLHLS_H
#define CARTCAST_PACKAGER_LLHLS_H

#include <stdbool.h>
#include <stdint.h>

#include "cartcast/buf.h"

#define CC_LLHLS_MAX_SEGMENTS 256  /* listed + kept-for-availability segments, open one included */
#define CC_LLHLS_MAX_PARTS 64      /* parts per segment */
#define CC_LLHLS_MAX_INITS 16      /* init sections still referenced by kept segments */
#define CC_LLHLS_MAX_DATERANGES 128
#define CC_LLHLS_ID_MEMORY 4096    /* date range IDs remembered to refuse reuse (oldest forgotten first) */

typedef struct cc_llhls_config {
    uint32_t part_target_ms;    /* 200: PART-TARGET; no part is ever longer (100..5000) */
    uint32_t segment_target_ms; /* 1000: segments end on the first keyframe at or after this;
                                   EXT-X-TARGETDURATION = max(1, round(this / 1000)) */
    uint32_t window_ms;         /* 30000: how much media the playlist lists; raised to
                                   3 x TARGETDURATION (RFC 8216bis 6.2.2) if lower */
    int64_t number_base;        /* -1 (default): the first part's PDT in ms; else this (>= 0) */
} cc_llhls_config_t;

void cc_llhls_config_default(cc_llhls_config_t *cfg);
/* 0, or CC_ECONFIG for values out of range (or a window needing more than
 * CC_LLHLS_MAX_SEGMENTS segments).  cc_llhls_new() returns NULL for them. */
int cc_llhls_config_check(const cc_llhls_config_t *cfg);

typedef struct cc_llhls_variant {
    char codecs[128];            /* RFC 6381, e.g. "avc1.64001f,mp4a.40.2" */
    uint32_t width, height;      /* 0 for audio-only */
    double frame_rate;           /* 0 when unknown */
    uint64_t bandwidth;          /* peak bits/s measured over segments */
    uint64_t average_bandwidth;  /* average bits/s */
} cc_llhls_variant_t;

typedef struct cc_llhls cc_llhls_t;

/* NULL when out of memory or when cc_llhls_config_check() fails. */
cc_llhls_t *cc_llhls_new(const cc_llhls_config_t *cfg);
/* Frees everything; the listener (if any) gets CC_LLHLS_EV_FREED first. */
void cc_llhls_free(cc_llhls_t *h);

typedef enum {
    CC_LLHLS_EV_UPDATE, /* a part, segment, date range, ENDLIST... was added: re-check held requests */
    CC_LLHLS_EV_FREED,  /* h is going away: answer or drop every held request now */
} cc_llhls_event_t;

typedef void (*cc_llhls_listener_fn)(cc_llhls_t *h, cc_llhls_event_t ev, void *data);

/* One listener (the delivery layer); called synchronously after every change,
 * once the model is consistent again.  The callback may read the model
 * (render, lookups, decide) but must not change or free it.  cb NULL removes it. */
void cc_llhls_set_listener(cc_llhls_t *h, cc_llhls_listener_fn cb, void *data);
/* Bumped by every change that can alter a rendered playlist or a lookup:
 * lets the delivery layer render once per version for all its viewers. */
uint64_t cc_llhls_version(const cc_llhls_t *h);

/* A publish (re)starts: a new init section (a reference is taken) and the
 * variant's description.  Every later segment maps this init.  After the
 * first begin, the next segment carries EXT-X-DISCONTINUITY and the
 * discontinuity sequence advances; a segment still open is closed first.
 * Clears ENDLIST.  CC_ELIMIT past CC_LLHLS_MAX_INITS live init sections. */
int cc_llhls_begin(cc_llhls_t *h, cc_buf_t *init, const cc_llhls_variant_t *variant);
/* Updates the variant's bandwidth figures (the packager measures them). */
void cc_llhls_set_variant(cc_llhls_t *h, const cc_llhls_variant_t *variant);

/* Appends a complete part (a reference to data is taken).
 *   duration_ms  the part's media duration (<= part_target_ms, the packager ensures it)
 *   independent  the part starts with a keyframe
 *   new_segment  this part starts a new segment (the open one is closed first, and
 *                its whole-segment buffer is built from its parts)
 *   pdt_ms       program date-time of the part's first frame, ms since the epoch
 * CC_ESTATE before cc_llhls_begin or after cc_llhls_end, CC_EINVAL for a
 * duration over the target (or not positive), CC_ELIMIT when the part does not
 * fit the open segment: it would hold more than CC_LLHLS_MAX_PARTS parts, or
 * last longer than TARGETDURATION allows (EXTINF rounded must stay <= it,
 * RFC 8216bis 4.4.3.1).  Nothing changed then: the packager may add the same
 * part again with new_segment = true.  CC_ELIMIT too when the segment ring is
 * full of segments the window still needs.  The first part after begin
 * always starts a segment, whatever new_segment says. */
int cc_llhls_add_part(cc_llhls_t *h, cc_buf_t *data, double duration_ms, bool independent, bool new_segment,
                      int64_t pdt_ms);
/* The publish ended for good: close the open segment and add EXT-X-ENDLIST. */
void cc_llhls_end(cc_llhls_t *h);
bool cc_llhls_ended(const cc_llhls_t *h);

/* Live edge, for blocking decisions and for the timeline the overlay reads.
 * msn and part_seq are absolute (number_base included). */
typedef struct cc_llhls_edge {
    bool has_part;          /* false until the first part */
    uint64_t msn;           /* media sequence number of the segment holding the last part */
    uint32_t part;          /* index of the last part within that segment */
    uint64_t part_seq;      /* stream-wide sequence number of the last part */
    int64_t pdt_end_ms;     /* program date-time at the end of the last part */
} cc_llhls_edge_t;
void cc_llhls_live_edge(const cc_llhls_t *h, cc_llhls_edge_t *out);
uint32_t cc_llhls_target_duration_s(const cc_llhls_t *h);

/* ---- timed metadata: EXT-X-DATERANGE ---- */

#define CC_LLHLS_DATERANGE_X_MAX 8

typedef struct cc_llhls_daterange {
    const char *id;             /* unique for the life of the playlist; never reused */
    const char *class_name;     /* CLASS, e.g. "com.cartcast.product"; may be NULL */
    int64_t start_ms;           /* START-DATE, ms since the epoch */
    int64_t duration_ms;        /* DURATION, -1 when not given */
    int64_t end_ms;             /* END-DATE, -1 when not given */
    size_t nx;
    struct {
        const char *name;       /* "X-SKU" ... must start with "X-" and be [A-Z0-9-] */
        const char *value;      /* written as a quoted string */
    } x[CC_LLHLS_DATERANGE_X_MAX];
} cc_llhls_daterange_t;

/* Adds a date range; CC_EBUSY if the ID was ever used, CC_EINVAL for bad
 * attributes.  The text is copied. */
int cc_llhls_daterange_add(cc_llhls_t *h, const cc_llhls_daterange_t *dr);
/* Ends an open date range at end_ms: its tag gains DURATION (RFC 8216bis
 * 4.4.5.1 lets a later tag with the same ID add attributes).  CC_ENOENT for an
 * ID not in the playlist, CC_ESTATE when it already has an end (same end: 0),
 * CC_EINVAL for end_ms before its start.
 * Limits: ID and CLASS up to 128 bytes, X- names 64, values 1024; no '"',
 * CR, LF or other control bytes (quoted-string, 4.2).  CC_ELIMIT past
 * CC_LLHLS_MAX_DATERANGES ranges in the playlist.
 * A date range stays listed while any of its dates can map to a listed
 * segment (6.2.1): it is dropped once it ends before the first listed one. */
int cc_llhls_daterange_end(cc_llhls_t *h, const char *id, int64_t end_ms);

/* ---- requests ---- */

typedef enum {
    CC_LLHLS_URI_MULTIVARIANT,
    CC_LLHLS_URI_MEDIA,
    CC_LLHLS_URI_INIT,
    CC_LLHLS_URI_SEGMENT,
    CC_LLHLS_URI_PART,
} cc_llhls_uri_kind_t;

/* Parses the file name after /live/NAME/ ("part123.m4s" -> PART, 123). 0 or
 * CC_ENOENT.  Numbers are decimal digits without leading zeros (one URI per
 * resource, as we write them) and must fit in 64 bits; number is 0 for the
 * playlists.  file must be NUL-terminated; nothing may follow the extension. */
int cc_llhls_uri_parse(const char *file, cc_llhls_uri_kind_t *kind, uint64_t *number);

typedef struct cc_llhls_query {
    bool has_msn, has_part;
    uint64_t msn;
    uint32_t part;
    int skip; /* 0, 1 = _HLS_skip=YES, 2 = _HLS_skip=v2 */
} cc_llhls_query_t;

/* Parses the delivery directives (NULL = absent).  CC_EINVAL for any
 * malformed value or for _HLS_part without _HLS_msn (-> 400, 6.2.5.2).
 * msn/part: decimal-integer (4.2): digits only, no sign or space, no
 * trailing bytes, msn within 64 bits and part within 32; skip: "YES" or "v2". */
int cc_llhls_query_parse(const char *msn, const char *part, const char *skip, cc_llhls_query_t *q);

typedef enum {
    CC_LLHLS_ANSWER,      /* render and answer now */
    CC_LLHLS_HOLD,        /* hold until the next EV_UPDATE, then decide again */
    CC_LLHLS_BAD_REQUEST, /* 400: beyond the spec's advance limits */
} cc_llhls_decision_t;

/* RFC 8216bis 6.2.5.2:
 *   ended (EXT-X-ENDLIST)                 -> ANSWER (directives are ignored)
 *   no part yet                           -> HOLD (nothing to list)
 *   no _HLS_msn                           -> ANSWER
 *   _HLS_msn > last MSN + 2, or the part more than the Advance Part Limit
 *   (3 / PART-TARGET parts when PART-TARGET < 1 s, else 3) past the last part
 *                                         -> BAD_REQUEST
 *   _HLS_msn=M alone: segment M or later complete          -> ANSWER, else HOLD
 *   _HLS_msn=M&_HLS_part=N: part N of M, or anything later, listed (a part
 *   index past M's last part means part 0 of M+1)          -> ANSWER, else HOLD
 * "Last MSN" is that of the segment holding the last part (the open one).
 * Requests for segments that already left the window are answered. */
cc_llhls_decision_t cc_llhls_decide(const cc_llhls_t *h, const cc_llhls_query_t *q);

/* Media playlist, appended to out; skip as in cc_llhls_query_t (a delta
 * update when > 0, 6.2.5.1; ignored once ended).  CC_EAGAIN before the first
 * part (there is nothing to list), else 0 or out's error (CC_ETOOBIG). */
int cc_llhls_render_media(const cc_llhls_t *h, int skip, cc_dynbuf_t *out);
/* Multivariant playlist pointing at media.m3u8.  CC_EAGAIN before the first begin. */
int cc_llhls_render_multivariant(const cc_llhls_t *h, cc_dynbuf_t *out);

/* Lookups: a new reference, or NULL.  For a part, *pending is set when seq is
 * the next part (the preload hint's): hold the request until it exists.
 * Parts stay available for 3 target durations after their EXT-X-PART tag
 * leaves the playlist, segments (and their inits) for 3 target durations
 * after leaving the window (6.2.2); the open segment has no buffer yet. */
cc_buf_t *cc_llhls_get_part(const cc_llhls_t *h, uint64_t seq, bool *pending);
cc_buf_t *cc_llhls_get_segment(const cc_llhls_t *h, uint64_t msn);
cc_buf_t *cc_llhls_get_init(const cc_llhls_t *h, uint64_t discontinuity_seq);

/* ---- mirror mode (cartcast-edge) ----
 *
 * An edge keeps a copy of the origin's model and feeds it what the origin's
 * playlist lists (begin with the fetched init, add_part with each fetched
 * part and its DURATION / INDEPENDENT / segment boundary / PDT, date ranges,
 * end), so that its playlists come out byte for byte the origin's.  What the
 * ordinary API derives is given instead: the origin's numbers (the edge joins
 * mid-stream), the window (the origin's EXT-X-MEDIA-SEQUENCE: the edge
 * cannot know the origin's window_ms), segments whose parts are no longer
 * listed (joining), INDEPENDENT-SEGMENTS, and the multivariant playlist.
 * Nothing here changes how a model that never calls these behaves. */

/* Makes a fresh model (or one just reset) a mirror whose first segment will
 * be msn, first part part_seq, discontinuity sequence disc.  CC_ESTATE once
 * it has begun or has numbers. */
int cc_llhls_mirror_start(cc_llhls_t *h, uint64_t msn, uint64_t part_seq, uint64_t disc);
/* The origin's EXT-X-MEDIA-SEQUENCE: complete segments before it leave the
 * listed window at the next change (add, end), as the origin's did.  Set it
 * before feeding the parts of the playlist that carries it.  Only grows. */
void cc_llhls_mirror_window(cc_llhls_t *h, uint64_t first_msn);
/* A complete segment whose parts the origin does not list any more (the
 * edge joins mid-stream): its whole bytes (a reference is taken), EXTINF
 * and PDT.  It gets the next MSN; its parts answer 404.  CC_ESTATE before
 * begin, after end, or on a model that is no mirror. */
int cc_llhls_mirror_add_segment(cc_llhls_t *h, cc_buf_t *whole, double duration_ms, int64_t pdt_ms);
/* The origin's publisher came back (cc_llhls_begin there) but its new init
 * is not downloadable before its first part: closes the open segment and
 * clears ENDLIST now, as begin did on the origin; the real begin follows. */
int cc_llhls_mirror_expect_begin(cc_llhls_t *h);
/* EXT-X-INDEPENDENT-SEGMENTS as the origin has it (its history predates the edge). */
void cc_llhls_mirror_set_independent(cc_llhls_t *h, bool all_independent);
/* Multivariant playlist bytes served verbatim instead of rendered from the
 * variant (a reference is taken; NULL renders again).  Any model. */
void cc_llhls_set_multivariant(cc_llhls_t *h, cc_buf_t *raw);
/* Empties h for a new configuration (the origin restarted, or the edge lost
 * track): everything goes, the listener and the version counter stay, so
 * held requests decide again against the new state.  CC_ECONFIG as new. */
int cc_llhls_mirror_reset(cc_llhls_t *h, const cc_llhls_config_t *cfg);

#endif
