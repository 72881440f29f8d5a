/* The pure half of chat and moderation (docs/chat.md): no I/O, no clock, no
 * allocation beyond jansson's parse.  Unit-tested (tests/unit/test_chat.c)
 * and fuzzed (tests/fuzz/fuzz_chat.c).
 *
 *  - ov_chat_parse():     one viewer WebSocket message of a chat type
 *                         ("chat", "chat_name") -> checked fields.
 *  - ov_chat_text_check() / ov_chat_name_check(): what a message text and a
 *                         display name may hold (length in code points, no
 *                         control or bidirectional-override characters).
 *  - ov_mod_normalise():  text -> the form blocked terms are matched on.
 *  - ov_mod_terms_*:      the per-stream blocked-term list and its matching.
 *  - ov_review_parse():   the review hook's answer (allow / deny / replace).
 *
 * Every input is capped before it is looked at. */
#ifndef CARTCAST_OVERLAY_MODERATION_H
#define CARTCAST_OVERLAY_MODERATION_H

#include <stddef.h>
#include <stdint.h>

#define OV_CHAT_TEXT_MAX_CHARS 500   /* absolute cap; --chat-max-chars is at most this */
#define OV_CHAT_TEXT_MAX_BYTES (OV_CHAT_TEXT_MAX_CHARS * 4)
#define OV_CHAT_NAME_MAX_CHARS 32
#define OV_CHAT_NAME_MAX_BYTES 128
#define OV_MOD_TERMS_MAX 500         /* per stream */
#define OV_MOD_TERM_MAX_BYTES 100
#define OV_MOD_REASON_MAX 200        /* bytes of a moderator's / hook's reason */
/* normalised text is at most this many bytes for an input of n bytes */
#define OV_MOD_NORM_CAP(n) (2 * (n) + 3)

typedef enum { OV_CHAT_SEND, OV_CHAT_NAME } ov_chat_type_t;

typedef struct ov_chat_msg {
    ov_chat_type_t type;
    char req[65];                               /* optional client id, echoed back ("" when absent) */
    char text[OV_CHAT_TEXT_MAX_BYTES + 1];      /* chat: trimmed, checked */
    int question;                               /* chat: the viewer marks it as a question */
    char name[OV_CHAT_NAME_MAX_BYTES + 1];      /* chat_name */
} ov_chat_msg_t;

/* Result codes of ov_chat_parse besides 0. */
#define OV_CHAT_NOT_MINE 1 /* not a chat type: the caller's parser owns it */

/* Parses a message of len bytes (<= max).  0 with out filled; OV_CHAT_NOT_MINE
 * when its type is not a chat type (or it is not a JSON object: the other
 * parser answers it); CC_EINVAL with code ("invalid", "too_long",
 * "invalid_name") and a reason in err.  max_chars (1..OV_CHAT_TEXT_MAX_CHARS)
 * caps the text in code points. */
int ov_chat_parse(const char *msg, size_t len, size_t max_chars, ov_chat_msg_t *out, const char **code, char *err,
                  size_t errlen);

/* 0; CC_EINVAL (empty, control or bidi-override characters, not UTF-8) or
 * CC_ETOOBIG (more than max_chars code points), with a reason. */
int ov_chat_text_check(const char *s, size_t n, size_t max_chars, char *err, size_t errlen);
/* 1-32 code points (<= 128 bytes) of UTF-8 text without control or bidi
 * characters and without leading/trailing spaces.  0 or CC_EINVAL + reason. */
int ov_chat_name_check(const char *s, size_t n, char *err, size_t errlen);

/* Writes the normalised form of [in, in+n) into out (cap >= OV_MOD_NORM_CAP(n))
 * and returns its length: lower case; fullwidth ASCII and Latin-1 letters
 * with diacritics folded to ASCII; common digit/symbol look-alikes folded
 * (0 o, 1 i, 3 e, 4 a, 5 s, 7 t, @ a, $ s); zero-width characters and soft
 * hyphens dropped; every run of other punctuation or space is one space; one
 * space at each end.  So " free  money!! " and "FR\u200bEE m0ney" both give
 * " free money ".  Invalid UTF-8 bytes count as separators. */
size_t ov_mod_normalise(const char *in, size_t n, char *out, size_t cap);

typedef enum { OV_MOD_REJECT = 1, OV_MOD_HOLD = 2 } ov_mod_action_t;

typedef struct ov_mod_term {
    char term[OV_MOD_TERM_MAX_BYTES + 1];            /* as the moderator wrote it */
    char norm[OV_MOD_NORM_CAP(OV_MOD_TERM_MAX_BYTES)]; /* normalised, " a b " */
    ov_mod_action_t action;
} ov_mod_term_t;

typedef struct ov_mod_terms {
    size_t n;
    ov_mod_term_t *t; /* n entries, owned */
} ov_mod_terms_t;

/* From {"terms":[{"term":"miracle cure","action":"reject"|"hold"}, ...]} (or
 * the bare array): 0 with out filled (free with ov_mod_terms_free), or
 * CC_EINVAL with the first bad field ("terms[3].term: ...") in err.  Terms are
 * 1-100 bytes with at least one letter or digit once normalised; at most
 * OV_MOD_TERMS_MAX. */
int ov_mod_terms_parse(const char *json, size_t len, ov_mod_terms_t *out, char *err, size_t errlen);
void ov_mod_terms_free(ov_mod_terms_t *t);
/* The terms as the JSON array that ov_mod_terms_parse takes; caller free()s. */
char *ov_mod_terms_json(const ov_mod_terms_t *t);
/* Matches normalised text (from ov_mod_normalise) against every term as a
 * whole-word phrase.  0 when none; otherwise the strongest action (reject
 * beats hold) and *which = that term's index. */
ov_mod_action_t ov_mod_terms_match(const ov_mod_terms_t *t, const char *norm, size_t *which);

typedef enum { OV_REVIEW_ALLOW, OV_REVIEW_DENY, OV_REVIEW_REPLACE } ov_review_result_t;

typedef struct ov_review {
    ov_review_result_t result;
    char text[OV_CHAT_TEXT_MAX_BYTES + 1];   /* replace: the new text, checked like a viewer's */
    char reason[OV_MOD_REASON_MAX + 1];      /* deny (optional) */
} ov_review_t;

/* The review hook's answer body: {"result":"allow"} | {"result":"deny",
 * "reason":"..."} | {"result":"replace","text":"..."}.  0 or CC_EINVAL (the
 * caller applies its fallback) with a reason. */
int ov_review_parse(const char *body, size_t len, size_t max_chars, ov_review_t *out, char *err, size_t errlen);

#endif
