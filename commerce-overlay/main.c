/* cartcast-overlay: the WebSocket sidecar (docs/overlay.md).
 *
 * One libuv loop: libwebsockets (HTTP + WebSocket on one port, foreign loop),
 * two Redis connections (commands, blocking XREAD) and the signal handlers. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cartcast/config.h"
#include "cartcast/err.h"
#include "cartcast/log.h"
#include "cartcast/redis.h"
#include "gift.h"
#include "ident.h"
#include "overlay.h"
#include "server.h"

#ifndef CC_SOURCE_DIR
#define CC_SOURCE_DIR "."
#endif

typedef struct main_ctx {
    uv_loop_t *loop;
    ov_server_t *srv;
    ov_app_t *app;
    uv_signal_t sigint, sigterm;
} main_ctx_t;

static void on_signal(uv_signal_t *h, int signum)
{
    main_ctx_t *m = h->data;
    cc_log_info("overlay.stop", "signal=%d", signum);
    uv_signal_stop(&m->sigint);
    uv_signal_stop(&m->sigterm);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    if (m->srv) {
        ov_server_stop(m->srv);
        m->srv = NULL;
    }
    if (m->app)
        ov_app_stop(m->app);
}

/* {"TOKEN": ["shop", "other"], "T2": "*"} */
static int load_tokens_file(const char *path, ov_token_t **tokens, size_t *n, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        snprintf(err, errlen, "--tokens-file %s: %s", path,
                 root ? "must be a JSON object {\"TOKEN\": [\"STREAM\", ...] or \"*\"}" : jerr.text);
        json_decref(root);
        return CC_ECONFIG;
    }
    const char *key;
    json_t *v;
    size_t idx = 0;
    json_object_foreach(root, key, v) {
        idx++;
        char spec[2048];
        int used = snprintf(spec, sizeof(spec), "%s=", key);
        if (json_is_string(v)) {
            used += snprintf(spec + used, sizeof(spec) - (size_t)used, "%s", json_string_value(v));
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            size_t i;
            json_t *s;
            json_array_foreach(v, i, s) {
                if (!json_is_string(s) || (size_t)used >= sizeof(spec))
                    break;
                used += snprintf(spec + used, sizeof(spec) - (size_t)used, "%s%s", i ? "," : "", json_string_value(s));
            }
        } else {
            used = 0;
        }
        ov_token_t t;
        char why[256];
        if (used == 0 || (size_t)used >= sizeof(spec) || ov_token_parse(spec, &t, why, sizeof(why)) < 0) {
            /* never print the token: name it by its position */
            snprintf(err, errlen, "--tokens-file %s: token #%zu: %s", path, idx,
                     used == 0 ? "its value must be a stream name, \"*\" or a list of them" : why);
            OPENSSL_cleanse(spec, sizeof(spec));
            json_decref(root);
            return CC_ECONFIG;
        }
        OPENSSL_cleanse(spec, sizeof(spec));
        ov_token_t *nt = realloc(*tokens, (*n + 1) * sizeof(*nt));
        if (nt == NULL) {
            ov_token_free(&t);
            json_decref(root);
            return CC_ENOMEM;
        }
        *tokens = nt;
        (*tokens)[(*n)++] = t;
    }
    json_decref(root);
    return 0;
}

int main(int argc, char **argv)
{
    int http_port = 8090, max_message = 4096, send_queue = 64, send_queue_kb = 1024, max_conns = 20000, sndbuf_kb = 0;
    int max_per_addr = 200, ping_s = 20, fanout_threads = 0, max_qty = 10, buy_rate = 5, buy_window_ms = 10000, msg_rate = 50;
    int live_stale_ms = 5000, max_active = 32, maxlen = 10000, idem_ttl = 86400, grace_ms = 10000, block_ms = 1000;
    const char *bind = "0.0.0.0", *redis = "redis://127.0.0.1:6379", *log_level = "info", *secret = NULL;
    const char *node = NULL, *origin_url = "http://127.0.0.1:8080", *web_root = CC_SOURCE_DIR "/commerce-overlay/web";
    const char *hlsjs = CC_SOURCE_DIR "/node_modules/hls.js/dist/hls.min.js", *tokens_file = NULL;
    cc_strlist_t token_specs = {0}, mod_specs = {0};
    /* chat and moderation (docs/chat.md) */
    ov_chat_config_t chat;
    ov_chat_config_default(&chat);
    const char *review_fallback = "allow";
    const char *gifts_file = NULL;
    ov_gift_catalog_t gifts = {0};
    const cc_option_t options[] = {
        {"http-port", CC_OPT_INT, &http_port, "N", "HTTP + WebSocket port (REST, pages, /metrics, /v1/streams/NAME/ws)", 0,
         65535},
        {"bind", CC_OPT_STRING, &bind, "ADDR", "IPv4 address to listen on", 0, 0},
        {"redis", CC_OPT_STRING, &redis, "URL", "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", 0, 0},
        {"operator-token", CC_OPT_LIST, &token_specs, "TOKEN=STREAM[,STREAM...]",
         "an operator token and the streams it may control (* = every stream); repeatable", 0, 0},
        {"tokens-file", CC_OPT_STRING, &tokens_file, "FILE",
         "JSON map of operator tokens to stream scopes: {\"TOKEN\": [\"shop\"], \"ADMIN\": \"*\"}", 0, 0},
        {"viewer-secret", CC_OPT_STRING, &secret, "SECRET",
         "HMAC key that signs viewer identities (same on every overlay; random when absent)", 0, 0},
        {"node-id", CC_OPT_STRING, &node, "ID", "this instance's name in buys (default HOSTNAME-PORT)", 0, 0},
        {"origin-url", CC_OPT_STRING, &origin_url, "URL", "playback base URL the viewer page uses (the origin or an edge)",
         0, 0},
        {"web-root", CC_OPT_STRING, &web_root, "DIR", "directory of the viewer and operator pages", 0, 0},
        {"hlsjs", CC_OPT_STRING, &hlsjs, "FILE", "hls.min.js served as /static/hls.min.js", 0, 0},
        {"max-message", CC_OPT_INT, &max_message, "BYTES", "largest viewer message (more: close 1009)", 64, 4096},
        {"send-queue", CC_OPT_INT, &send_queue, "N", "messages queued per viewer before it is dropped (close 4008)", 1,
         1024},
        {"send-queue-kb", CC_OPT_INT, &send_queue_kb, "KB", "bytes queued per viewer before it is dropped", 4, 65536},
        {"sndbuf-kb", CC_OPT_INT, &sndbuf_kb, "KB",
         "socket send buffer per viewer (0 = the kernel's autotuning, which may hold MBs for a slow viewer)", 0, 65536},
        {"fanout-threads", CC_OPT_INT, &fanout_threads, "N",
         "threads sharing the send()s of a broadcast to a big room, the event loop's included (0 = one per CPU, up "
         "to 8; 1 = the event loop alone)",
         0, 64},
        {"max-connections", CC_OPT_INT, &max_conns, "N", "viewer WebSockets in all (more: close 1013)", 1, 1000000},
        {"max-conns-per-addr", CC_OPT_INT, &max_per_addr, "N", "viewer WebSockets per client address (more: close 1013)",
         1, 1000000},
        {"ping-interval-s", CC_OPT_INT, &ping_s, "S", "idle WebSockets get a PING after this; silent ones go after 2x+5",
         1, 3600},
        {"max-qty", CC_OPT_INT, &max_qty, "N", "units in one buy", 1, 1000},
        {"buy-rate", CC_OPT_INT, &buy_rate, "N", "buys per viewer per --buy-window-ms (counted in Redis)", 1, 100000},
        {"buy-window-ms", CC_OPT_INT, &buy_window_ms, "MS", "rate-limit window of buys", 100, 3600000},
        {"msg-rate", CC_OPT_INT, &msg_rate, "N", "messages per viewer connection per 10 s", 1, 100000},
        {"live-stale-ms", CC_OPT_INT, &live_stale_ms, "MS", "a live edge older than this means the stream is not live",
         500, 600000},
        {"max-active-cues", CC_OPT_INT, &max_active, "N", "active cues per stream", 1, 64},
        {"cue-stream-maxlen", CC_OPT_INT, &maxlen, "N", "entries kept in each stream's cue stream (MAXLEN ~)", 100,
         10000000},
        {"idempotency-ttl-s", CC_OPT_INT, &idem_ttl, "S", "how long an Idempotency-Key is remembered", 60, 2592000},
        {"cue-grace-ms", CC_OPT_INT, &grace_ms, "MS", "a cue stays buyable this long after its end", 0, 600000},
        {"block-ms", CC_OPT_INT, &block_ms, "MS", "XREAD BLOCK time", 10, 60000},
        {"moderator-token", CC_OPT_LIST, &mod_specs, "TOKEN=STREAM[,STREAM...]",
         "a moderator token: chat moderation of those streams only, no cues (* = every stream)", 0, 0},
        {"chat-max-chars", CC_OPT_INT, &chat.max_chars, "N", "characters (code points) in one chat message", 1,
         OV_CHAT_TEXT_MAX_CHARS},
        {"chat-rate", CC_OPT_INT, &chat.rate, "N", "chat messages per viewer connection per 10 s", 1, 1000},
        {"chat-history", CC_OPT_INT, &chat.history, "N", "chat messages a viewer gets in hello", 0, 200},
        {"chat-tick-ms", CC_OPT_INT, &chat.tick_ms, "MS",
         "chat batching tick: one frame per viewer per tick (0 = one frame per message)", 0, 1000},
        {"chat-stream-maxlen", CC_OPT_INT, &chat.stream_maxlen, "N", "entries kept in each chat stream (MAXLEN ~)", 100,
         10000000},
        {"modlog-maxlen", CC_OPT_INT, &chat.modlog_maxlen, "N", "entries kept in each moderation log (MAXLEN ~)", 100,
         100000000},
        {"chat-held-max", CC_OPT_INT, &chat.held_max, "N", "held messages (and open questions) per stream", 1, 100000},
        {"chat-review-url", CC_OPT_STRING, &chat.review_url, "URL",
         "review hook: every chat message is POSTed here (http://HOST[:PORT]/PATH) for allow/deny/replace", 0, 0},
        {"chat-review-timeout-ms", CC_OPT_INT, &chat.review_timeout_ms, "MS",
         "how long the review hook may take before the fallback applies", 10, 10000},
        {"chat-review-fallback", CC_OPT_STRING, &review_fallback, "allow|deny",
         "what happens to a message when the review hook does not answer in time (or answers nonsense)", 0, 0},
        {"gifts", CC_OPT_STRING, &gifts_file, "FILE",
         "gift catalog and creator share: {\"creator_share_pct\": 70, \"gifts\": [{\"id\", \"name\", \"price\", "
         "\"image\"}]} (none: gifts are refused)", 0, 0},
        {"log-level", CC_OPT_STRING, &log_level, "LEVEL", "debug, info, warn or error", 0, 0},
    };
    const cc_program_t prog = {
        "cartcast-overlay",
        "The live-shopping sidecar: operators pin product cards, buy buttons, polls and countdowns over REST\n"
        "(POST /v1/streams/NAME/cues); viewers get them over ws://HOST:PORT/v1/streams/NAME/ws in sync with the\n"
        "video, buy, vote and chat (moderated: docs/chat.md).  Redis carries everything between overlays, the\n"
        "origin and the order service.",
        options, sizeof(options) / sizeof(options[0])};

    char err[512];
    int exit_code = 0;
    ov_token_t *tokens = NULL;
    size_t ntokens = 0;
    main_ctx_t m = {0};
    int r = cc_config_parse(&prog, argc, argv, err, sizeof(err));
    if (r == 1)
        goto out;
    if (r < 0) {
        fprintf(stderr, "cartcast-overlay: %s\n", err);
        exit_code = 2;
        goto out;
    }
    cc_log_level_t level;
    if (cc_log_parse_level(log_level, &level) < 0) {
        fprintf(stderr, "cartcast-overlay: --log-level must be debug, info, warn or error, got '%s'\n", log_level);
        exit_code = 2;
        goto out;
    }
    cc_log_set_level(level);
    ov_app_config_t cfg = {0};
    char rerr[256];
    if (cc_redis_url_parse(redis, &cfg.redis, rerr, sizeof(rerr)) < 0) {
        fprintf(stderr, "cartcast-overlay: --redis: %s\n", rerr);
        exit_code = 2;
        goto out;
    }
    for (size_t i = 0; i < token_specs.count; i++) {
        ov_token_t t;
        char why[256];
        if (ov_token_parse(token_specs.items[i], &t, why, sizeof(why)) < 0) {
            fprintf(stderr, "cartcast-overlay: --operator-token #%zu: %s\n", i + 1, why);
            exit_code = 2;
            goto out;
        }
        ov_token_t *nt = realloc(tokens, (ntokens + 1) * sizeof(*nt));
        if (nt == NULL) {
            ov_token_free(&t);
            exit_code = 1;
            goto out;
        }
        tokens = nt;
        tokens[ntokens++] = t;
    }
    for (size_t i = 0; i < mod_specs.count; i++) {
        ov_token_t t;
        char why[256];
        if (ov_token_parse(mod_specs.items[i], &t, why, sizeof(why)) < 0) {
            fprintf(stderr, "cartcast-overlay: --moderator-token #%zu: %s\n", i + 1, why);
            exit_code = 2;
            goto out;
        }
        t.moderator = 1;
        ov_token_t *nt = realloc(tokens, (ntokens + 1) * sizeof(*nt));
        if (nt == NULL) {
            ov_token_free(&t);
            exit_code = 1;
            goto out;
        }
        tokens = nt;
        tokens[ntokens++] = t;
    }
    if (strcmp(review_fallback, "allow") != 0 && strcmp(review_fallback, "deny") != 0) {
        fprintf(stderr, "cartcast-overlay: --chat-review-fallback must be allow or deny, got '%s'\n", review_fallback);
        exit_code = 2;
        goto out;
    }
    chat.review_fallback_deny = strcmp(review_fallback, "deny") == 0;
    if (chat.review_url && chat.review_url[0] == '\0')
        chat.review_url = NULL;
    if (chat.review_url && (strncmp(chat.review_url, "http://", 7) != 0 || chat.review_url[7] == '\0' ||
                            strcspn(chat.review_url, " \t\r\n") != strlen(chat.review_url))) {
        fprintf(stderr, "cartcast-overlay: --chat-review-url must be http://HOST[:PORT]/PATH (plain HTTP: put the hook "
                        "next to the overlay), got '%s'\n", chat.review_url);
        exit_code = 2;
        goto out;
    }
    if (tokens_file && load_tokens_file(tokens_file, &tokens, &ntokens, err, sizeof(err)) < 0) {
        fprintf(stderr, "cartcast-overlay: %s\n", err);
        exit_code = 2;
        goto out;
    }
    if (gifts_file && ov_gift_catalog_load(gifts_file, &gifts, err, sizeof(err)) < 0) {
        fprintf(stderr, "cartcast-overlay: %s\n", err);
        exit_code = 2;
        goto out;
    }
    if (ntokens == 0)
        cc_log_warn("overlay.config", "msg=\"no --operator-token: the REST API will refuse every request\"");
    char random_secret[65];
    if (secret == NULL) {
        if (ov_random_hex(random_secret, 32) < 0) {
            fprintf(stderr, "cartcast-overlay: no randomness for a viewer secret\n");
            exit_code = 1;
            goto out;
        }
        secret = random_secret;
        cc_log_warn("overlay.config", "msg=\"no --viewer-secret: identities will not survive a restart nor move "
                                      "between overlays\"");
    } else if (strlen(secret) < 16) {
        fprintf(stderr, "cartcast-overlay: --viewer-secret must be at least 16 characters\n");
        exit_code = 2;
        goto out;
    }
    char node_buf[140];
    if (node == NULL) {
        char host[64] = "overlay";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(node_buf, sizeof(node_buf), "%s-%d", host, http_port);
        for (char *p = node_buf; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                  *p == '-' || *p == '_'))
                *p = '_';
        node = node_buf;
    }
    cfg.tokens = tokens;
    cfg.ntokens = ntokens;
    cfg.viewer_secret = secret;
    cfg.viewer_secret_len = strlen(secret);
    cfg.node = node;
    cfg.max_qty = max_qty;
    cfg.buy_rate = buy_rate;
    cfg.buy_window_ms = buy_window_ms;
    cfg.msg_rate = msg_rate;
    cfg.live_stale_ms = live_stale_ms;
    cfg.max_active_cues = max_active;
    cfg.stream_maxlen = maxlen;
    cfg.idem_ttl_s = idem_ttl;
    cfg.cue_grace_ms = grace_ms;
    cfg.block_ms = block_ms;
    cfg.origin_url = origin_url;
    cfg.web_root = web_root;
    cfg.hlsjs = hlsjs;
    chat.block_ms = block_ms;
    cfg.chat = chat;
    cfg.gift_catalog = gifts_file ? &gifts : NULL;
    signal(SIGPIPE, SIG_IGN);

    m.loop = uv_default_loop();
    if ((r = ov_app_new(m.loop, &cfg, &m.app)) < 0) {
        fprintf(stderr, "cartcast-overlay: %s\n", cc_strerror(r));
        exit_code = 1;
        goto out;
    }
    ov_server_config_t scfg;
    ov_server_config_default(&scfg);
    scfg.bind = bind;
    scfg.port = http_port;
    scfg.max_message = (size_t)max_message;
    scfg.send_queue_msgs = (size_t)send_queue;
    scfg.send_queue_bytes = (size_t)send_queue_kb * 1024;
    scfg.max_conns = (uint32_t)max_conns;
    scfg.sndbuf = sndbuf_kb * 1024;
    scfg.max_conns_per_addr = (uint32_t)max_per_addr;
    scfg.ping_interval_s = (uint16_t)ping_s;
    scfg.fanout_threads = (unsigned)fanout_threads;
    ov_server_callbacks_t cb;
    ov_app_server_callbacks(m.app, &cb);
    if ((r = ov_server_start(m.loop, &scfg, &cb, &m.srv)) < 0) {
        fprintf(stderr, "cartcast-overlay: cannot listen on %s:%d: %s\n", bind, http_port, cc_strerror(r));
        ov_app_stop(m.app);
        uv_run(m.loop, UV_RUN_DEFAULT);
        exit_code = 1;
        goto out;
    }
    ov_app_set_server(m.app, m.srv);
    uv_signal_init(m.loop, &m.sigint);
    uv_signal_init(m.loop, &m.sigterm);
    m.sigint.data = m.sigterm.data = &m;
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    char rurl[300];
    cc_log_info("overlay.start", "http=%s:%d redis=%s tokens=%zu node=%s", bind, ov_server_port(m.srv),
                cc_redis_url_format(&cfg.redis, rurl, sizeof(rurl)), ntokens, node);
    uv_run(m.loop, UV_RUN_DEFAULT);
    cc_log_info("overlay.exit", "status=clean");

out:
    if (m.loop) {
        uv_run(m.loop, UV_RUN_DEFAULT);
        ov_app_free(m.app);
        uv_loop_close(m.loop);
    }
    for (size_t i = 0; i < ntokens; i++)
        ov_token_free(&tokens[i]);
    free(tokens);
    ov_gift_catalog_free(&gifts);
    cc_strlist_free(&token_specs);
    cc_strlist_free(&mod_specs);
    cc_config_release();
    return exit_code;
}
