/* Chat and moderation, the pure half (see moderation.h, docs/chat.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cartcast/err.h"
#include "moderation.h"

/* ---- UTF-8 ------------------------------------------------------------------------- */

/* Decodes one code point at s[0..n); returns its length (1-4) and *cp, or 0
 * for a malformed sequence (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xe0) == 0xc0)
        len = 2, v = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, v = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Characters a viewer may not put in a text or a name: C0/C1 controls, DEL,
 * and the bidirectional embeddings/overrides/isolates that can make a
 * message display as something else (U+202A-202E, U+2066-2069). */
static int forbidden_cp(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

static int check_text(const char *s, size_t n, size_t max_chars, size_t *chars, char *err, size_t errlen,
                      const char *what)
{
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (l == 0) {
            snprintf(err, errlen, "%s: is not valid UTF-8", what);
            return CC_EINVAL;
        }
        if (forbidden_cp(cp)) {
            snprintf(err, errlen, "%s: control and bidirectional-override characters are not allowed", what);
            return CC_EINVAL;
        }
        i += l;
        count++;
    }
    *chars = count;
    if (count > max_chars) {
        snprintf(err, errlen, "%s: longer than %zu characters", what, max_chars);
        return CC_ETOOBIG;
    }
    return 0;
}

static int all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ')
            return 0;
    return 1;
}

int ov_chat_text_check(const char *s, size_t n, size_t max_chars, char *err, size_t errlen)
{
    if (max_chars == 0 || max_chars > OV_CHAT_TEXT_MAX_CHARS)
        max_chars = OV_CHAT_TEXT_MAX_CHARS;
    if (s == NULL || n == 0 || all_space(s, n)) {
        snprintf(err, errlen, "text: must not be empty");
        return CC_EINVAL;
    }
    if (n > OV_CHAT_TEXT_MAX_BYTES) {
        snprintf(err, errlen, "text: longer than %zu characters", max_chars);
        return CC_ETOOBIG;
    }
    size_t chars;
    return check_text(s, n, max_chars, &chars, err, errlen, "text");
}

int ov_chat_name_check(const char *s, size_t n, char *err, size_t errlen)
{
    if (s == NULL || n == 0 || all_space(s, n)) {
        snprintf(err, errlen, "name: must not be empty");
        return CC_EINVAL;
    }
    if (n > OV_CHAT_NAME_MAX_BYTES) {
        snprintf(err, errlen, "name: longer than %d characters", OV_CHAT_NAME_MAX_CHARS);
        return CC_EINVAL;
    }
    if (s[0] == ' ' || s[n - 1] == ' ') {
        snprintf(err, errlen, "name: must not start or end with a space");
        return CC_EINVAL;
    }
    size_t chars;
    int rc = check_text(s, n, OV_CHAT_NAME_MAX_CHARS, &chars, err, errlen, "name");
    if (rc == CC_ETOOBIG)
        rc = CC_EINVAL;
    return rc;
}

/* ---- viewer messages ------------------------------------------------------------------- */

/* [A-Za-z0-9._:@-]{1,64}, as cc_cue_token_check (the buy/vote req ids). */
static int req_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._:@-", c)) ||
            c == '\0')
            return 0;
    }
    return 1;
}

/* Copies the string with leading and trailing ASCII spaces removed. */
static size_t trim_copy(const char *s, size_t n, char *out)
{
    while (n > 0 && s[0] == ' ')
        s++, n--;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

int ov_chat_parse(const char *msg, size_t len, size_t max_chars, ov_chat_msg_t *out, const char **code, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof(*out));
    *code = "invalid";
    if (errlen)
        err[0] = '\0';
    if (msg == NULL || len > 65536)
        return OV_CHAT_NOT_MINE; /* the viewer-message parser answers with its own size error */
    json_t *root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *t = json_object_get(root, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : "";
    int rc = CC_EINVAL;
    if (!json_is_object(root) || (strcmp(type, "chat") != 0 && strcmp(type, "chat_name") != 0)) {
        rc = OV_CHAT_NOT_MINE;
        goto done;
    }
    json_t *req = json_object_get(root, "req");
    if (req && !json_is_null(req)) {
        if (!json_is_string(req) || !req_ok(json_string_value(req), json_string_length(req))) {
            snprintf(err, errlen, "req: must be 1-64 characters of [A-Za-z0-9._:@-]");
            goto done;
        }
        memcpy(out->req, json_string_value(req), json_string_length(req) + 1);
    }
    const char *allowed = strcmp(type, "chat") == 0 ? " type req text question " : " type req name ";
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        char pat[80];
        if (strlen(key) > 40 || (snprintf(pat, sizeof(pat), " %s ", key), strstr(allowed, pat) == NULL)) {
            snprintf(err, errlen, "%.40s: unknown field", key);
            goto done;
        }
    }
    if (strcmp(type, "chat") == 0) {
        out->type = OV_CHAT_SEND;
        json_t *text = json_object_get(root, "text");
        if (!json_is_string(text)) {
            snprintf(err, errlen, "text: is required (a string)");
            goto done;
        }
        size_t n = json_string_length(text);
        if (n > OV_CHAT_TEXT_MAX_BYTES) {
            *code = "too_long";
            snprintf(err, errlen, "text: longer than %zu characters", max_chars);
            goto done;
        }
        char tmp[OV_CHAT_TEXT_MAX_BYTES + 1];
        n = trim_copy(json_string_value(text), n, tmp);
        int c = ov_chat_text_check(tmp, n, max_chars, err, errlen);
        if (c == CC_ETOOBIG)
            *code = "too_long";
        if (c < 0)
            goto done;
        memcpy(out->text, tmp, n + 1);
        json_t *q = json_object_get(root, "question");
        if (q && !json_is_boolean(q)) {
            snprintf(err, errlen, "question: must be true or false");
            goto done;
        }
        out->question = json_is_true(q);
    } else {
        out->type = OV_CHAT_NAME;
        json_t *name = json_object_get(root, "name");
        *code = "invalid_name";
        if (!json_is_string(name)) {
            snprintf(err, errlen, "name: is required (a string)");
            goto done;
        }
        size_t n = json_string_length(name);
        if (ov_chat_name_check(json_string_value(name), n, err, errlen) < 0)
            goto done;
        memcpy(out->name, json_string_value(name), n + 1);
    }
    rc = 0;
    *code = NULL;
done:
    json_decref(root);
    return rc;
}

/* ---- normalisation ----------------------------------------------------------------------- */

/* Latin-1 Supplement letters U+00C0-U+00FF folded to ASCII ("" = separator;
 * U+00DF sharp s and the ligatures become two letters). */
static const char *const latin1_fold[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",  /* C0-CF */
    "d", "n", "o", "o", "o", "o", "o", "",  "o", "u", "u", "u", "u", "y", "th", "ss", /* D0-DF (D7 x) */
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",  /* E0-EF */
    "d", "n", "o", "o", "o", "o", "o", "",  "o", "u", "u", "u", "u", "y", "th", "y",  /* F0-FF (F7 /) */
};

static char fold_ascii(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    switch (c) {
    case '0': return 'o';
    case '1': return 'i';
    case '3': return 'e';
    case '4': return 'a';
    case '5': return 's';
    case '7': return 't';
    case '@': return 'a';
    case '$': return 's';
    default: break;
    }
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return c;
    return ' ';
}

size_t ov_mod_normalise(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < 3)
        return 0;
    out[o++] = ' ';
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_next((const unsigned char *)in + i, n - i, &cp);
        const char *rep = NULL;
        char one[2] = {0, 0};
        const char *raw = NULL;
        size_t rawlen = 0;
        if (l == 0) {
            l = 1;
            rep = " ";
        } else if (cp < 0x80) {
            one[0] = fold_ascii((char)cp);
            rep = one;
        } else if (cp >= 0xff01 && cp <= 0xff5e) { /* fullwidth ASCII */
            one[0] = fold_ascii((char)(cp - 0xfee0));
            rep = one;
        } else if (cp >= 0xc0 && cp <= 0xff) {
            rep = latin1_fold[cp - 0xc0];
            if (rep[0] == '\0')
                rep = " ";
        } else if (cp == 0xad || (cp >= 0x200b && cp <= 0x200d) || cp == 0x2060 || cp == 0xfeff) {
            rep = ""; /* invisible: dropped, so "fr<ZWSP>ee" is "free" */
        } else if (cp < 0xc0 || (cp >= 0x2000 && cp <= 0x206f) || cp == 0x3000) {
            rep = " "; /* Latin-1 punctuation, general punctuation, ideographic space */
        } else {
            raw = in + i; /* any other letter (Cyrillic, CJK...) is kept as it is */
            rawlen = l;
        }
        i += l;
        const char *src = raw ? raw : rep;
        size_t sl = raw ? rawlen : strlen(rep);
        for (size_t k = 0; k < sl; k++) {
            char c = src[k];
            if (c == ' ' && out[o - 1] == ' ')
                continue;
            if (o + 2 > cap)
                goto full;
            out[o++] = c;
        }
    }
full:
    if (out[o - 1] != ' ' && o + 1 < cap)
        out[o++] = ' ';
    out[o] = '\0';
    return o;
}

/* ---- blocked terms -------------------------------------------------------------------------- */

void ov_mod_terms_free(ov_mod_terms_t *t)
{
    free(t->t);
    t->t = NULL;
    t->n = 0;
}

int ov_mod_terms_parse(const char *json, size_t len, ov_mod_terms_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > 256 * 1024) {
        snprintf(err, errlen, "terms: the list is too large");
        return CC_EINVAL;
    }
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *arr = json_is_object(root) ? json_object_get(root, "terms") : root;
    int rc = CC_EINVAL;
    if (json_is_object(root)) {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            if (strcmp(key, "terms") != 0 && strcmp(key, "by") != 0 && strcmp(key, "reason") != 0) {
                snprintf(err, errlen, "%.40s: unknown field", key);
                goto done;
            }
        }
    }
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "terms: must be a list of {\"term\": TEXT, \"action\": \"reject\"|\"hold\"}");
        goto done;
    }
    if (json_array_size(arr) > OV_MOD_TERMS_MAX) {
        snprintf(err, errlen, "terms: at most %d terms", OV_MOD_TERMS_MAX);
        goto done;
    }
    out->t = calloc(json_array_size(arr) + 1, sizeof(*out->t));
    if (out->t == NULL) {
        rc = CC_ENOMEM;
        goto done;
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        json_t *term = json_object_get(e, "term"), *action = json_object_get(e, "action");
        if (!json_is_object(e) || json_object_size(e) > (action ? 2u : 1u)) {
            snprintf(err, errlen, "terms[%zu]: must be {\"term\": TEXT, \"action\": \"reject\"|\"hold\"}", i);
            goto fail;
        }
        size_t n = json_is_string(term) ? json_string_length(term) : 0;
        char why[160];
        if (n == 0 || n > OV_MOD_TERM_MAX_BYTES || check_text(json_string_value(term), n, OV_MOD_TERM_MAX_BYTES,
                                                              &(size_t){0}, why, sizeof(why), "term") < 0) {
            snprintf(err, errlen, "terms[%zu].term: must be 1-%d bytes of text without control characters", i,
                     OV_MOD_TERM_MAX_BYTES);
            goto fail;
        }
        ov_mod_term_t *t = &out->t[out->n];
        memcpy(t->term, json_string_value(term), n + 1);
        size_t nl = ov_mod_normalise(t->term, n, t->norm, sizeof(t->norm));
        if (nl <= 2) {
            snprintf(err, errlen, "terms[%zu].term: has no letter or digit", i);
            goto fail;
        }
        const char *a = json_is_string(action) ? json_string_value(action) : action ? "" : "reject";
        if (strcmp(a, "reject") == 0)
            t->action = OV_MOD_REJECT;
        else if (strcmp(a, "hold") == 0)
            t->action = OV_MOD_HOLD;
        else {
            snprintf(err, errlen, "terms[%zu].action: must be \"reject\" or \"hold\"", i);
            goto fail;
        }
        out->n++;
    }
    rc = 0;
    goto done;
fail:
    ov_mod_terms_free(out);
done:
    json_decref(root);
    return rc;
}

char *ov_mod_terms_json(const ov_mod_terms_t *t)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "term", t->t[i].term, "action",
                                           t->t[i].action == OV_MOD_HOLD ? "hold" : "reject"));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

ov_mod_action_t ov_mod_terms_match(const ov_mod_terms_t *t, const char *norm, size_t *which)
{
    ov_mod_action_t best = 0;
    for (size_t i = 0; t && i < t->n; i++) {
        if (strstr(norm, t->t[i].norm) == NULL)
            continue;
        if (best == 0 || t->t[i].action == OV_MOD_REJECT) {
            best = t->t[i].action;
            if (which)
                *which = i;
        }
        if (best == OV_MOD_REJECT)
            break; /* nothing is stronger */
    }
    return best;
}

/* ---- the review hook's answer ------------------------------------------------------------------ */

int ov_review_parse(const char *body, size_t len, size_t max_chars, ov_review_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > 16384) {
        snprintf(err, errlen, "answer larger than 16 KiB");
        return CC_EINVAL;
    }
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *r = json_object_get(root, "result");
    const char *res = json_is_string(r) ? json_string_value(r) : "";
    int rc = CC_EINVAL;
    if (strcasecmp(res, "allow") == 0) {
        out->result = OV_REVIEW_ALLOW;
    } else if (strcasecmp(res, "deny") == 0) {
        out->result = OV_REVIEW_DENY;
        json_t *why = json_object_get(root, "reason");
        if (json_is_string(why)) {
            char tmp[OV_MOD_REASON_MAX + 1];
            size_t n = json_string_length(why);
            if (n > OV_MOD_REASON_MAX)
                n = OV_MOD_REASON_MAX;
            memcpy(tmp, json_string_value(why), n);
            tmp[n] = '\0';
            char e2[160];
            size_t chars;
            /* a cut may split a UTF-8 sequence or the reason may hold controls: then no reason */
            if (check_text(tmp, n, OV_MOD_REASON_MAX, &chars, e2, sizeof(e2), "reason") == 0)
                memcpy(out->reason, tmp, n + 1);
        }
    } else if (strcasecmp(res, "replace") == 0) {
        out->result = OV_REVIEW_REPLACE;
        json_t *text = json_object_get(root, "text");
        size_t n = json_is_string(text) ? json_string_length(text) : 0;
        char tmp[OV_CHAT_TEXT_MAX_BYTES + 1];
        if (!json_is_string(text) || n > OV_CHAT_TEXT_MAX_BYTES) {
            snprintf(err, errlen, "replace: text missing or too long");
            goto done;
        }
        n = trim_copy(json_string_value(text), n, tmp);
        if (ov_chat_text_check(tmp, n, max_chars, err, errlen) < 0)
            goto done;
        memcpy(out->text, tmp, n + 1);
    } else {
        snprintf(err, errlen, "result: must be allow, deny or replace");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}
