/* The SRT streamid a publisher sends, mapped to a stream key.
 *
 * Encoders use four forms today; each names the stream key KEY:
 *
 *   #!::r=live/KEY,m=publish     SRT access-control syntax (OBS, ffmpeg, Larix)
 *   #!::r=KEY,m=publish          the same without the application name
 *   publish:live/KEY             the "mode:resource" form (also publish:KEY)
 *   KEY                          a bare key (also live/KEY)
 *
 * A resource that starts with "live/" names the key after it; any other
 * resource is the key itself (so "app/KEY" is looked up as that whole string
 * and refused as an unknown key).  "play:" and "request:" prefixes are the
 * request mode; any other text before a ':' is part of a bare key.
 *
 * In the "#!::" form the keys are r (resource), m (mode), t (type: only
 * "stream"), and u, s, h which are accepted and ignored; any other key, a
 * repeated key or an empty value is malformed.  A missing m means publish:
 * this listener only takes publishers (the SRT spec's default is "request",
 * but some encoders leave m out).
 *
 * Pure: no allocation, no I/O; the key is copied into the caller's struct,
 * which the caller wipes once it has looked the key up. */
#ifndef CARTCAST_INGEST_SRT_STREAMID_H
#define CARTCAST_INGEST_SRT_STREAMID_H

#include <stddef.h>

#include "ingest/auth.h"

/* libsrt caps a streamid at 512 bytes; we refuse longer input before reading it. */
#define CC_SRT_STREAMID_MAX 512

typedef enum {
    CC_SRT_MODE_PUBLISH,
    CC_SRT_MODE_REQUEST, /* m=request / play: a viewer; we do not serve SRT playback */
    CC_SRT_MODE_OTHER,   /* m=bidirectional or anything else */
} cc_srt_mode_t;

typedef struct cc_srt_streamid {
    cc_srt_mode_t mode;
    size_t key_len;
    char key[CC_AUTH_KEY_MAX + 1]; /* NUL-terminated */
} cc_srt_streamid_t;

/* Parses [sid, sid+len).  Returns
 *   0                on a publish with a key (out->key, out->mode),
 *   CC_EUNSUPPORTED  when the mode is not publish (out->mode says which; no key),
 *   CC_ETOOBIG       for len > CC_SRT_STREAMID_MAX or a key over CC_AUTH_KEY_MAX,
 *   CC_EPROTO        for anything malformed (empty, bad syntax, control bytes,
 *                    spaces, an empty key),
 *   CC_EINVAL        for NULL arguments.
 * On any error out->key is "" and key_len 0. */
int cc_srt_streamid_parse(const char *sid, size_t len, cc_srt_streamid_t *out);

const char *cc_srt_mode_name(cc_srt_mode_t mode);

#endif
