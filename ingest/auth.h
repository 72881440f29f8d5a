/* Stream keys: a secret KEY (what the encoder sends as the RTMP publish name
 * or the SRT streamid) maps to a public stream NAME (what viewers see in
 * playback URLs and what logs name).  The key itself is never logged.
 *
 * Lookups compare the key's SHA-256 against every entry's, in constant time
 * and without stopping at a match, so neither the content of a key nor its
 * position in the table shows in the timing. */
#ifndef CARTCAST_INGEST_AUTH_H
#define CARTCAST_INGEST_AUTH_H

#include <stddef.h>

#define CC_AUTH_KEY_MAX 256

typedef struct cc_auth cc_auth_t;

/* NULL when out of memory. */
cc_auth_t *cc_auth_new(void);
void cc_auth_free(cc_auth_t *auth);

/* Adds "NAME=KEY" (the --stream-key flag's value).  NAME must pass
 * cc_stream_name_check; KEY is 1..256 printable ASCII bytes with no spaces
 * (8+ recommended).  A key already in the table is refused (it would be
 * ambiguous); a name may have several keys (rotation).  Returns 0, CC_EINVAL
 * (malformed; nothing is added) or CC_ENOMEM. */
int cc_auth_add(cc_auth_t *auth, const char *name_eq_key);
/* The same with the parts given apart. */
int cc_auth_add_pair(cc_auth_t *auth, const char *name, const char *key);

/* Finds the stream name for key.  0 and *name (owned by auth, valid until it
 * is freed), or CC_EAUTH for an unknown key. */
int cc_auth_lookup(const cc_auth_t *auth, const char *key, const char **name);

size_t cc_auth_count(const cc_auth_t *auth);

#endif
