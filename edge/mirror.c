/* Feeding a mirror model from the origin's playlist (see mirror.h). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "edge/mirror.h"

static uint64_t first_seq_of(const cc_m3u8_media_t *L)
{
    if (L->nparts > 0)
        return L->parts[0].seq;
    if (L->has_hint)
        return L->hint_seq;
    return L->media_sequence;
}

int cc_mirror_config(const cc_m3u8_media_t *L, cc_llhls_config_t *cfg)
{
    cc_llhls_config_default(cfg);
    cfg->part_target_ms = L->part_target_ms;
    cfg->segment_target_ms = L->target_duration_s * 1000;
    cfg->window_ms = 0; /* raised to the 3 TD minimum: a mirror's window is the origin's MEDIA-SEQUENCE */
    cfg->number_base = -1;
    return cc_llhls_config_check(cfg);
}

int cc_mirror_restart(cc_llhls_t *h, const cc_m3u8_media_t *L, cc_mirror_track_t *t)
{
    cc_llhls_config_t cfg;
    int r = cc_mirror_config(L, &cfg);
    if (r == 0)
        r = cc_llhls_mirror_reset(h, &cfg);
    if (r == 0)
        r = cc_llhls_mirror_start(h, L->media_sequence, first_seq_of(L), L->discontinuity_sequence);
    memset(t, 0, sizeof(*t));
    t->next_seq = first_seq_of(L);
    return r;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Date ranges: new IDs are added in the origin's order, a range that gained
 * an end is ended.  Skipped when L's ranges are those already synced. */
static void sync_dateranges(cc_llhls_t *h, cc_mirror_track_t *t, const cc_m3u8_media_t *L)
{
    uint64_t hash = fnv(1469598103934665603ull, &L->ndateranges, sizeof(L->ndateranges));
    for (size_t i = 0; i < L->ndateranges; i++) {
        const cc_m3u8_daterange_t *m = &L->dateranges[i];
        hash = fnv(hash, m->id.base, m->id.len);
        hash = fnv(hash, &m->start_ms, sizeof(m->start_ms));
        hash = fnv(hash, &m->duration_ms, sizeof(m->duration_ms));
        hash = fnv(hash, &m->end_ms, sizeof(m->end_ms));
    }
    if (t->dr_synced && hash == t->dr_hash)
        return;
    t->dr_hash = hash;
    t->dr_synced = true;

    char id[130], cls[130], names[CC_M3U8_DR_X_MAX][66], *values[CC_M3U8_DR_X_MAX];
    for (size_t i = 0; i < L->ndateranges; i++) {
        const cc_m3u8_daterange_t *m = &L->dateranges[i];
        if (m->id.len >= sizeof(id) || (m->class_name.base && m->class_name.len >= sizeof(cls)))
            continue;
        memcpy(id, m->id.base, m->id.len);
        id[m->id.len] = '\0';
        cc_llhls_daterange_t dr = {.id = id, .start_ms = m->start_ms, .duration_ms = m->duration_ms,
                                   .end_ms = m->end_ms};
        if (m->class_name.base) {
            memcpy(cls, m->class_name.base, m->class_name.len);
            cls[m->class_name.len] = '\0';
            dr.class_name = cls;
        }
        bool ok = true;
        memset(values, 0, sizeof(values));
        for (size_t k = 0; k < m->nx && ok; k++) {
            ok = m->x[k].name.len < sizeof(names[k]) && m->x[k].value.len <= 1024;
            if (!ok)
                break;
            memcpy(names[k], m->x[k].name.base, m->x[k].name.len);
            names[k][m->x[k].name.len] = '\0';
            values[k] = malloc(m->x[k].value.len + 1);
            ok = values[k] != NULL;
            if (!ok)
                break;
            memcpy(values[k], m->x[k].value.base, m->x[k].value.len);
            values[k][m->x[k].value.len] = '\0';
            dr.x[k].name = names[k];
            dr.x[k].value = values[k];
            dr.nx = k + 1;
        }
        if (ok) {
            int r = cc_llhls_daterange_add(h, &dr);
            if (r == CC_EBUSY) {
                int64_t end = m->end_ms >= 0 ? m->end_ms : m->duration_ms >= 0 ? m->start_ms + m->duration_ms : -1;
                if (end >= 0)
                    cc_llhls_daterange_end(h, id, end);
            }
        }
        for (size_t k = 0; k < CC_M3U8_DR_X_MAX; k++)
            free(values[k]);
    }
}

static void closed(const cc_mirror_ops_t *ops, const cc_mirror_track_t *t)
{
    if (ops->closed && t->has_seg && !t->last_complete)
        ops->closed(ops->data, t->last_msn);
}

static void fed(const cc_mirror_ops_t *ops, cc_mirror_kind_t kind, uint64_t number)
{
    if (ops->fed)
        ops->fed(ops->data, kind, number);
}

int cc_mirror_walk(cc_llhls_t *h, cc_mirror_track_t *track, const cc_m3u8_media_t *L, bool apply, bool scratch,
                   const cc_mirror_ops_t *ops)
{
    static const cc_llhls_variant_t no_variant; /* the multivariant playlist is the origin's bytes */
    cc_mirror_track_t t = *track;
    if (scratch && !apply) {
        memset(&t, 0, sizeof(t));
        t.next_seq = first_seq_of(L);
    }
    bool missing = false;
    if (apply) {
        sync_dateranges(h, &t, L);
        cc_llhls_mirror_window(h, L->media_sequence);
        cc_llhls_mirror_set_independent(h, L->independent_segments);
    }
    for (size_t i = 0; i < L->nsegments; i++) {
        const cc_m3u8_segment_t *g = &L->segments[i];
        const cc_m3u8_part_t *parts = &L->parts[g->first_part];
        size_t k0 = 0;
        if (t.has_seg && g->msn < t.last_msn)
            continue;
        if (t.has_seg && g->msn == t.last_msn) {
            if (t.last_complete)
                continue;
            /* The mirror's open segment: its remaining parts. */
            if (g->nparts == 0)
                return CC_EPROTO;
            while (k0 < g->nparts && parts[k0].seq < t.next_seq)
                k0++;
            if (k0 < g->nparts && parts[k0].seq != t.next_seq)
                return CC_EPROTO;
            if (k0 == g->nparts && parts[g->nparts - 1].seq + 1 != t.next_seq)
                return CC_EPROTO; /* the mirror has parts the origin does not */
        } else {
            if (t.has_seg && g->msn != t.last_msn + 1)
                return CC_EPROTO;
            if (!t.has_seg && g->msn != L->media_sequence + L->skipped)
                return CC_EPROTO;
            if (g->pdt_ms < 0)
                return CC_EPROTO;
            if (!t.begun || g->disc != t.disc || t.expecting) {
                if (t.begun && (g->disc != t.disc + 1 || !g->discontinuity))
                    return CC_EPROTO;
                if (!g->has_map || g->map_disc != g->disc)
                    return CC_EPROTO;
                cc_buf_t *init = ops->get(ops->data, CC_MIRROR_INIT, g->disc);
                if (init == NULL) {
                    missing = true;
                    if (apply)
                        goto stop;
                } else if (apply) {
                    if (cc_llhls_begin(h, init, &no_variant) < 0)
                        return CC_EPROTO;
                    fed(ops, CC_MIRROR_INIT, g->disc);
                }
                t.begun = true;
                t.disc = g->disc;
                t.expecting = false;
                t.ended = false;
            }
            if (g->nparts == 0) {
                /* A segment whose parts are no longer listed: only when joining. */
                if (!scratch || !g->complete)
                    return CC_EPROTO;
                cc_buf_t *whole = ops->get(ops->data, CC_MIRROR_SEGMENT, g->msn);
                if (whole == NULL) {
                    missing = true;
                    if (apply)
                        goto stop;
                } else if (apply) {
                    if (cc_llhls_mirror_add_segment(h, whole, g->dur_ms, g->pdt_ms) < 0)
                        return CC_EPROTO;
                    fed(ops, CC_MIRROR_SEGMENT, g->msn);
                }
                t.has_seg = true;
                t.last_msn = g->msn;
                t.last_complete = true;
                continue;
            }
            if (parts[0].seq != t.next_seq)
                return CC_EPROTO;
        }
        for (size_t k = k0; k < g->nparts; k++) {
            const cc_m3u8_part_t *p = &parts[k];
            bool first = k == 0 && !(t.has_seg && g->msn == t.last_msn);
            cc_buf_t *b = ops->get(ops->data, CC_MIRROR_PART, p->seq);
            if (b == NULL) {
                missing = true;
                if (apply)
                    goto stop;
            } else if (apply) {
                int64_t pdt = first ? g->pdt_ms : t.seg_pdt + llround(t.seg_dur);
                if (first)
                    closed(ops, &t);
                int r = cc_llhls_add_part(h, b, p->dur_ms, p->independent, first, pdt);
                if (r < 0) {
                    cc_log_warn("edge.mirror", "part=%" PRIu64 " error=%s", p->seq, cc_strerror(r));
                    return CC_EPROTO;
                }
                fed(ops, CC_MIRROR_PART, p->seq);
            }
            if (first) {
                t.has_seg = true;
                t.last_msn = g->msn;
                t.last_complete = false;
                t.seg_pdt = g->pdt_ms;
                t.seg_dur = 0;
            }
            t.next_seq = p->seq + 1;
            t.seg_dur += p->dur_ms;
        }
    }
    if (L->nsegments > 0 && !missing) {
        const cc_m3u8_segment_t *last = &L->segments[L->nsegments - 1];
        if (L->endlist && !t.ended) {
            if (apply) {
                closed(ops, &t);
                cc_llhls_end(h);
            }
            t.ended = true;
            t.last_complete = true;
        } else if (!L->endlist && last->complete && t.has_seg && t.last_msn == last->msn && !t.expecting) {
            /* A complete last segment without ENDLIST: the origin's publisher
             * came back (begin closed the segment there); the new init comes
             * with the next part. */
            if (apply) {
                closed(ops, &t);
                if (cc_llhls_mirror_expect_begin(h) < 0)
                    return CC_EPROTO;
            }
            t.expecting = true;
            t.ended = false;
            t.last_complete = true;
        }
    }
stop:
    if (apply)
        *track = t;
    return missing ? 1 : 0;
}
