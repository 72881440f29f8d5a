#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "packager/record.h"

#define JOBS_MAX 64
#define PLAYLIST_MAX (64u << 20)

typedef struct job {
    char path[512];
    cc_buf_t *data;
    int err;
} job_t;

struct cc_record {
    uv_loop_t *loop;
    char dir[400];
    char name[80];
    job_t jobs[JOBS_MAX]; /* ring */
    size_t head, count;
    bool busy, freeing;
    uv_work_t work;
    cc_dynbuf_t entries; /* the VOD playlist's segment lines */
    cc_buf_t *last_init;
    uint64_t init_count;
    uint32_t max_duration_ms;
    bool ended;
};

static int mkdir_p(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

cc_record_t *cc_record_new(uv_loop_t *loop, const char *dir, const char *name)
{
    cc_record_t *rec = calloc(1, sizeof(*rec));
    if (rec == NULL)
        return NULL;
    rec->loop = loop;
    snprintf(rec->dir, sizeof(rec->dir), "%s/%s", dir, name);
    snprintf(rec->name, sizeof(rec->name), "%s", name);
    int r = mkdir_p(rec->dir);
    if (r < 0) {
        cc_log_error("record.open", "stream=%s dir=%s error=%s", name, rec->dir, cc_strerror(r));
        free(rec);
        return NULL;
    }
    cc_dynbuf_init(&rec->entries, PLAYLIST_MAX);
    return rec;
}

/* Thread pool: write to a temporary name, then rename, so a reader never
 * sees half a file. */
static void run_job(uv_work_t *w)
{
    cc_record_t *rec = w->data;
    job_t *j = &rec->jobs[rec->head];
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
    FILE *f = fopen(tmp, "wb");
    j->err = 0;
    if (f == NULL) {
        j->err = -errno;
        return;
    }
    if (fwrite(j->data->data, 1, j->data->len, f) != j->data->len)
        j->err = -EIO;
    if (fclose(f) != 0 && j->err == 0)
        j->err = -errno;
    if (j->err == 0 && rename(tmp, j->path) < 0)
        j->err = -errno;
}

static void start_next(cc_record_t *rec);

static void job_done(uv_work_t *w, int status)
{
    cc_record_t *rec = w->data;
    job_t *j = &rec->jobs[rec->head];
    if (j->err < 0)
        cc_log_error("record.write", "stream=%s path=%s error=%s", rec->name, j->path, cc_strerror(j->err));
    cc_buf_unref(j->data);
    rec->head = (rec->head + 1) % JOBS_MAX;
    rec->count--;
    rec->busy = false;
    start_next(rec);
}

static void destroy(cc_record_t *rec)
{
    cc_buf_unref(rec->last_init);
    cc_dynbuf_free(&rec->entries);
    free(rec);
}

static void start_next(cc_record_t *rec)
{
    if (rec->busy)
        return;
    if (rec->count == 0) {
        if (rec->freeing)
            destroy(rec);
        return;
    }
    rec->busy = true;
    rec->work.data = rec;
    int r = uv_queue_work(rec->loop, &rec->work, run_job, job_done);
    if (r < 0) {
        rec->busy = false;
        cc_log_error("record.write", "stream=%s error=%s", rec->name, cc_strerror(r));
    }
}

static void enqueue(cc_record_t *rec, const char *file, cc_buf_t *data)
{
    if (rec->count == JOBS_MAX) {
        cc_log_error("record.write", "stream=%s file=%s error=\"disk too slow: write queue full, dropped\"",
                     rec->name, file);
        return;
    }
    job_t *j = &rec->jobs[(rec->head + rec->count) % JOBS_MAX];
    snprintf(j->path, sizeof(j->path), "%s/%s", rec->dir, file);
    j->data = cc_buf_ref(data);
    rec->count++;
    start_next(rec);
}

static void write_playlist(cc_record_t *rec)
{
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, PLAYLIST_MAX + 4096);
    uint32_t td = (rec->max_duration_ms + 999) / 1000;
    int r = cc_dynbuf_appendf(&d,
                              "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%u\n#EXT-X-PLAYLIST-TYPE:%s\n"
                              "#EXT-X-MEDIA-SEQUENCE:0\n",
                              td ? td : 1, rec->ended ? "VOD" : "EVENT");
    if (r == 0)
        r = cc_dynbuf_append(&d, rec->entries.data, rec->entries.len);
    if (r == 0 && rec->ended)
        r = cc_dynbuf_appendf(&d, "#EXT-X-ENDLIST\n");
    cc_buf_t *b = r == 0 ? cc_dynbuf_take(&d) : NULL;
    cc_dynbuf_free(&d);
    if (b == NULL) {
        cc_log_error("record.playlist", "stream=%s error=%s", rec->name, cc_strerror(r < 0 ? r : CC_ENOMEM));
        return;
    }
    enqueue(rec, "index.m3u8", b);
    cc_buf_unref(b);
}

static void format_pdt(char *out, size_t len, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void cc_record_segment(cc_record_t *rec, cc_buf_t *segment, uint64_t msn, uint32_t duration_ms, int64_t pdt_ms,
                       cc_buf_t *init)
{
    if (rec == NULL || segment == NULL)
        return;
    char file[64], pdt[64];
    int r = 0;
    rec->ended = false;
    if (init != NULL && init != rec->last_init) {
        snprintf(file, sizeof(file), "init%llu.mp4", (unsigned long long)rec->init_count);
        enqueue(rec, file, init);
        if (rec->last_init != NULL)
            r = cc_dynbuf_appendf(&rec->entries, "#EXT-X-DISCONTINUITY\n");
        if (r == 0)
            r = cc_dynbuf_appendf(&rec->entries, "#EXT-X-MAP:URI=\"%s\"\n", file);
        cc_buf_unref(rec->last_init);
        rec->last_init = cc_buf_ref(init);
        rec->init_count++;
    }
    snprintf(file, sizeof(file), "seg%llu.m4s", (unsigned long long)msn);
    enqueue(rec, file, segment);
    format_pdt(pdt, sizeof(pdt), pdt_ms);
    if (r == 0)
        r = cc_dynbuf_appendf(&rec->entries, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%.5f,\n%s\n", pdt,
                              duration_ms / 1000.0, file);
    if (r < 0)
        cc_log_error("record.playlist", "stream=%s error=%s", rec->name, cc_strerror(r));
    if (duration_ms > rec->max_duration_ms)
        rec->max_duration_ms = duration_ms;
    write_playlist(rec);
}

void cc_record_end(cc_record_t *rec)
{
    if (rec == NULL)
        return;
    rec->ended = true;
    write_playlist(rec);
}

void cc_record_free(cc_record_t *rec)
{
    if (rec == NULL)
        return;
    rec->freeing = true;
    start_next(rec);
}
