/* AMF0: decoder into a caller-provided arena, and an encoder onto a dynbuf.
 *
 * Decoding builds a small tree of cc_amf0_value_t in an arena the caller
 * owns (typically an array on its stack): no malloc per value, and the arena
 * size caps the total number of values.  Strings and keys are borrowed views
 * into the input bytes (not NUL-terminated), so the input must outlive the
 * tree.  Counts on the wire (ECMA/strict array lengths) are never used to
 * size anything: containers are linked lists filled value by value.
 *
 *   cc_amf0_value_t slots[64];
 *   cc_amf0_arena_t a;
 *   cc_amf0_arena_init(&a, slots, 64, NULL);
 *   cc_amf0_value_t *v;
 *   int n = cc_amf0_decode(&a, p, len, &v);   // bytes consumed | CC_EAGAIN | error
 *
 * Errors: CC_EAGAIN (truncated: the value needs more bytes), CC_EPROTO
 * (malformed, or an object-end marker where a value should be), CC_EDEPTH
 * (nesting past max_depth), CC_ETOOBIG (a string or a container over its
 * cap), CC_ELIMIT (arena full), CC_EUNSUPPORTED (reference, movieclip, XML,
 * typed object, AVM+ switch: nothing an encoder sends in the commands we
 * take).  Caps are checked as soon as a length is read, before waiting for
 * the bytes it announces. */
#ifndef CARTCAST_INGEST_RTMP_AMF0_H
#define CARTCAST_INGEST_RTMP_AMF0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"

typedef enum {
    CC_AMF0_NUMBER = 0x00,
    CC_AMF0_BOOLEAN = 0x01,
    CC_AMF0_STRING = 0x02,
    CC_AMF0_OBJECT = 0x03,
    CC_AMF0_NULL = 0x05,
    CC_AMF0_UNDEFINED = 0x06,
    CC_AMF0_ECMA_ARRAY = 0x08,
    CC_AMF0_OBJECT_END = 0x09,
    CC_AMF0_STRICT_ARRAY = 0x0A,
    CC_AMF0_DATE = 0x0B,
    CC_AMF0_LONG_STRING = 0x0C,
} cc_amf0_type_t;

#define CC_AMF0_MAX_DEPTH 16

typedef struct cc_amf0_limits {
    uint32_t max_depth;    /* containers inside containers; at most CC_AMF0_MAX_DEPTH */
    uint32_t max_string;   /* bytes in one string or long string: 64 KiB */
    uint32_t max_elements; /* members of one object / array: 1024 */
} cc_amf0_limits_t;

void cc_amf0_limits_default(cc_amf0_limits_t *lim);

typedef struct cc_amf0_value cc_amf0_value_t;
struct cc_amf0_value {
    cc_amf0_type_t type;
    /* Member name inside an object or ECMA array; NULL elsewhere. */
    const char *key;
    uint32_t key_len;
    uint32_t count; /* containers: members decoded */
    union {
        double number; /* NUMBER; DATE: ms since the epoch */
        bool boolean;
        struct {
            const char *ptr;
            uint32_t len;
        } str; /* STRING, LONG_STRING */
    } u;
    int16_t tz; /* DATE: the (unused) timezone field */
    cc_amf0_value_t *child; /* first member of a container */
    cc_amf0_value_t *next;  /* next member of the parent */
};

typedef struct cc_amf0_arena {
    cc_amf0_value_t *slots;
    uint32_t cap, used;
    cc_amf0_limits_t lim;
} cc_amf0_arena_t;

void cc_amf0_arena_init(cc_amf0_arena_t *a, cc_amf0_value_t *slots, uint32_t cap, const cc_amf0_limits_t *lim);
/* Forget every value decoded so far (the slots are reused). */
void cc_amf0_arena_reset(cc_amf0_arena_t *a);

/* Decodes one value.  Returns bytes consumed (> 0) or a negative code. */
int cc_amf0_decode(cc_amf0_arena_t *a, const uint8_t *p, size_t len, cc_amf0_value_t **out);
/* Decodes values back to back until len is used up or max values are read
 * (then the rest is left).  *n says how many; returns bytes consumed or a
 * negative code (a truncated last value is CC_EAGAIN). */
int cc_amf0_decode_all(cc_amf0_arena_t *a, const uint8_t *p, size_t len, cc_amf0_value_t **vals, size_t max, size_t *n);

/* Lookups on a decoded tree.  All accept NULL and return NULL / false. */
const cc_amf0_value_t *cc_amf0_get(const cc_amf0_value_t *obj, const char *key);
bool cc_amf0_is_string(const cc_amf0_value_t *v);
bool cc_amf0_str_eq(const cc_amf0_value_t *v, const char *s);
/* Copies a string value NUL-terminated into out.  CC_EINVAL when v is not a
 * string, CC_ETOOBIG when it does not fit (out then holds ""). */
int cc_amf0_str_copy(const cc_amf0_value_t *v, char *out, size_t outlen);
/* The number, or def when v is not a number. */
double cc_amf0_num(const cc_amf0_value_t *v, double def);

/* Encoder.  Errors are sticky: after the first failed append (the dynbuf's
 * cap) every call is a no-op and w->err keeps the code. */
typedef struct cc_amf0_writer {
    cc_dynbuf_t *out;
    int err;
} cc_amf0_writer_t;

void cc_amf0_put_number(cc_amf0_writer_t *w, double v);
void cc_amf0_put_bool(cc_amf0_writer_t *w, bool v);
/* A STRING, or a LONG_STRING past 65535 bytes. */
void cc_amf0_put_string(cc_amf0_writer_t *w, const char *s);
void cc_amf0_put_stringn(cc_amf0_writer_t *w, const char *s, size_t len);
void cc_amf0_put_null(cc_amf0_writer_t *w);
void cc_amf0_put_undefined(cc_amf0_writer_t *w);
void cc_amf0_put_object_start(cc_amf0_writer_t *w);
void cc_amf0_put_ecma_start(cc_amf0_writer_t *w, uint32_t count);
/* A member name inside an object / ECMA array (the value follows). */
void cc_amf0_put_key(cc_amf0_writer_t *w, const char *key);
void cc_amf0_put_object_end(cc_amf0_writer_t *w);
/* Re-encodes a decoded value (round trips in tests and fuzzing). */
void cc_amf0_put_value(cc_amf0_writer_t *w, const cc_amf0_value_t *v);

#endif
