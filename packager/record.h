/* Recording: every finished segment of a stream, its init sections and a VOD
 * playlist written under DIR/NAME/, so a finished stream can be replayed
 * (`ffplay DIR/NAME/index.m3u8`, or served by any static web server).
 *
 * Disk writes run on libuv's thread pool, one at a time per stream, in order;
 * the queue is bounded (a disk that cannot keep up loses segments, with an
 * error in the log, rather than memory). */
#ifndef CARTCAST_PACKAGER_RECORD_H
#define CARTCAST_PACKAGER_RECORD_H

#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"

typedef struct cc_record cc_record_t;

/* Creates DIR/NAME/ (and DIR).  NULL on failure, with a log line. */
cc_record_t *cc_record_new(uv_loop_t *loop, const char *dir, const char *name);
/* A finished segment: its bytes, number, duration, program date-time and the
 * init section it maps (a new init starts a discontinuity in the VOD playlist). */
void cc_record_segment(cc_record_t *rec, cc_buf_t *segment, uint64_t msn, uint32_t duration_ms, int64_t pdt_ms,
                       cc_buf_t *init);
/* The stream ended: the VOD playlist gets EXT-X-ENDLIST (until more segments come). */
void cc_record_end(cc_record_t *rec);
/* Lets queued writes finish, then frees itself. */
void cc_record_free(cc_record_t *rec);

#endif
