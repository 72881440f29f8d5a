/* Chat and moderation's pure parsers (commerce-overlay/moderation.h): viewer
 * chat messages, term normalisation and matching, blocked-term lists, the
 * review hook's answer.  The first byte picks the parser; the properties:
 * every accepted message/answer passes the same checks again, every refusal
 * says why, normalisation stays within its cap, is idempotent and has the
 * documented shape, and a term list survives its JSON round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "moderation.h"

static void check_norm(const char *s, size_t n)
{
    size_t cap = OV_MOD_NORM_CAP(n);
    char *a = malloc(cap), *b = malloc(OV_MOD_NORM_CAP(cap));
    size_t la = ov_mod_normalise(s, n, a, cap);
    if (la >= cap || la < 1 || a[0] != ' ' || a[la - 1] != ' ' || strlen(a) != la)
        abort();
    for (size_t i = 0; i < la; i++)
        if ((a[i] >= 'A' && a[i] <= 'Z') || (a[i] == ' ' && i > 0 && a[i - 1] == ' ') || a[i] == '0' || a[i] == '\0')
            abort();
    size_t lb = ov_mod_normalise(a, la, b, OV_MOD_NORM_CAP(cap));
    if (lb != la || memcmp(a, b, la) != 0)
        abort(); /* normalising twice changes nothing */
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    char err[200];
    switch (data[0] % 4) {
    case 0: {
        ov_chat_msg_t m;
        const char *code = NULL;
        int rc = ov_chat_parse(s, n, 300, &m, &code, err, sizeof(err));
        if (rc == 0) {
            if (code != NULL)
                abort();
            if (m.type == OV_CHAT_SEND && ov_chat_text_check(m.text, strlen(m.text), 300, err, sizeof(err)) != 0)
                abort();
            if (m.type == OV_CHAT_NAME && ov_chat_name_check(m.name, strlen(m.name), err, sizeof(err)) != 0)
                abort();
        } else if (rc < 0 && (err[0] == '\0' || code == NULL)) {
            abort(); /* every refusal has a code and a reason */
        }
        break;
    }
    case 1:
        check_norm(s, n);
        break;
    case 2: {
        ov_mod_terms_t t;
        if (ov_mod_terms_parse(s, n, &t, err, sizeof(err)) == 0) {
            char *j = ov_mod_terms_json(&t);
            ov_mod_terms_t t2;
            if (j == NULL || ov_mod_terms_parse(j, strlen(j), &t2, err, sizeof(err)) != 0 || t2.n != t.n)
                abort();
            for (size_t i = 0; i < t.n; i++) {
                if (strcmp(t.t[i].norm, t2.t[i].norm) != 0 || t.t[i].action != t2.t[i].action)
                    abort();
                /* a term always matches its own text */
                char norm[OV_MOD_NORM_CAP(OV_MOD_TERM_MAX_BYTES)];
                ov_mod_normalise(t.t[i].term, strlen(t.t[i].term), norm, sizeof(norm));
                if (ov_mod_terms_match(&t, norm, NULL) == 0)
                    abort();
            }
            ov_mod_terms_free(&t2);
            free(j);
            ov_mod_terms_free(&t);
        } else if (err[0] == '\0') {
            abort();
        }
        break;
    }
    case 3: {
        ov_review_t r;
        if (ov_review_parse(s, n, 300, &r, err, sizeof(err)) == 0) {
            if (r.result == OV_REVIEW_REPLACE && ov_chat_text_check(r.text, strlen(r.text), 300, err, sizeof(err)) != 0)
                abort();
        } else if (err[0] == '\0') {
            abort();
        }
        break;
    }
    }
    return 0;
}
