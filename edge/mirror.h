/* Feeding an edge's mirror (packager/llhls.h mirror mode) from the origin's
 * media playlist.  Pure: the bytes of inits, parts and segments come from
 * the caller (ops->get), who fetches what is missing; no I/O, no clock.
 *
 *   plan   cc_mirror_walk(h, &t, L, false, scratch, &ops): asks ops->get for
 *          every object L lists that the mirror lacks (the caller starts the
 *          fetches of those it does not have).  Changes nothing.
 *   apply  cc_mirror_walk(h, &t, L, true, scratch, &ops): feeds the mirror in
 *          order (date ranges, window, INDEPENDENT-SEGMENTS, then begin with
 *          the init at each new discontinuity, parts with their DURATION /
 *          INDEPENDENT / segment boundary / PDT, whole segments the origin no
 *          longer lists parts for when joining, ENDLIST, re-begins) and stops
 *          at the first object not there yet; t records how far it got.
 *   scratch: L against an empty mirror (a join or a resync): the caller
 *          first checks with a plan that every object is there, then calls
 *          cc_mirror_restart and applies.
 *
 * Returns 0 when the mirror holds all of L, 1 when it waits for bytes, and
 * CC_EPROTO when L does not continue the mirror (an MSN jump or regression,
 * a new DISCONTINUITY-SEQUENCE without EXT-X-DISCONTINUITY, part numbers
 * that do not follow, a segment whose parts are gone): the caller resyncs. */
#ifndef CARTCAST_EDGE_MIRROR_H
#define CARTCAST_EDGE_MIRROR_H

#include <stdbool.h>
#include <stdint.h>

#include "edge/m3u8.h"
#include "packager/llhls.h"

typedef enum { CC_MIRROR_INIT, CC_MIRROR_SEGMENT, CC_MIRROR_PART } cc_mirror_kind_t;

/* What the mirror holds, in the origin's numbers. */
typedef struct cc_mirror_track {
    bool begun, has_seg, last_complete, ended, expecting;
    uint64_t last_msn, next_seq, disc;
    int64_t seg_pdt; /* the open segment's PDT and duration so far (its next part's PDT) */
    double seg_dur;
    uint64_t dr_hash; /* the date ranges last synced */
    bool dr_synced;
} cc_mirror_track_t;

typedef struct cc_mirror_ops {
    /* The object's bytes (borrowed), or NULL when they are not here (yet). */
    cc_buf_t *(*get)(void *data, cc_mirror_kind_t kind, uint64_t number);
    /* Optional, apply only: an object went into the mirror; a segment of the
     * mirror was closed (its whole buffer built now). */
    void (*fed)(void *data, cc_mirror_kind_t kind, uint64_t number);
    void (*closed)(void *data, uint64_t msn);
    void *data;
} cc_mirror_ops_t;

/* The mirror's configuration for L: PART-TARGET, TARGETDURATION x 1000 as
 * the segment target, the smallest window (the origin's MEDIA-SEQUENCE
 * drives it), numbers given later.  CC_ECONFIG when L's values do not fit. */
int cc_mirror_config(const cc_m3u8_media_t *L, cc_llhls_config_t *cfg);
/* Empties h for L (cc_llhls_mirror_reset + cc_llhls_mirror_start with L's
 * first MSN, first listed part (or hint) and DISCONTINUITY-SEQUENCE), and t. */
int cc_mirror_restart(cc_llhls_t *h, const cc_m3u8_media_t *L, cc_mirror_track_t *t);
int cc_mirror_walk(cc_llhls_t *h, cc_mirror_track_t *t, const cc_m3u8_media_t *L, bool apply, bool scratch,
                   const cc_mirror_ops_t *ops);

#endif
