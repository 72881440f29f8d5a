/* One option table drives the JSON config file, the command line and --help.
 * Every string a parse produces is copied into a small arena owned here and
 * released by cc_config_release(), so option targets never dangle. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/config.h"
#include "cartcast/err.h"

static char **arena;
static size_t arena_len, arena_cap;

static char *keep(const char *s)
{
    if (arena_len == arena_cap) {
        size_t cap = arena_cap ? arena_cap * 2 : 32;
        char **a = realloc(arena, cap * sizeof(*a));
        if (a == NULL)
            return NULL;
        arena = a;
        arena_cap = cap;
    }
    char *copy = strdup(s);
    if (copy != NULL)
        arena[arena_len++] = copy;
    return copy;
}

void cc_config_release(void)
{
    for (size_t i = 0; i < arena_len; i++)
        free(arena[i]);
    free(arena);
    arena = NULL;
    arena_len = arena_cap = 0;
}

void cc_strlist_free(cc_strlist_t *l)
{
    free(l->items); /* the strings themselves live in the arena */
    l->items = NULL;
    l->count = 0;
}

static int fail(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return CC_ECONFIG;
}

/* "http_port" and "http-port" name the same option. */
static int name_eq(const char *opt, const char *key, size_t keylen)
{
    size_t i = 0;
    for (; i < keylen && opt[i]; i++) {
        char a = opt[i] == '_' ? '-' : opt[i];
        char b = key[i] == '_' ? '-' : key[i];
        if (a != b)
            return 0;
    }
    return i == keylen && opt[i] == '\0';
}

static const cc_option_t *find_option(const cc_program_t *prog, const char *key, size_t keylen)
{
    for (size_t i = 0; i < prog->noptions; i++)
        if (name_eq(prog->options[i].name, key, keylen))
            return &prog->options[i];
    return NULL;
}

static int list_add(cc_strlist_t *l, const char *value)
{
    char *copy = keep(value);
    char **items = copy ? realloc(l->items, (l->count + 1) * sizeof(*items)) : NULL;
    if (items == NULL)
        return CC_ENOMEM;
    l->items = items;
    l->items[l->count++] = copy;
    return 0;
}

/* Applies a textual value (from argv) to an option. */
static int set_from_text(const cc_option_t *o, const char *value, const char *origin, char *errbuf, size_t errlen)
{
    switch (o->type) {
    case CC_OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0')
            return fail(errbuf, errlen, "%s: --%s expects a number, got '%s'", origin, o->name, value);
        if (v < o->min || v > o->max)
            return fail(errbuf, errlen, "%s: --%s must be between %ld and %ld, got %ld", origin, o->name, o->min,
                        o->max, v);
        *(int *)o->target = (int)v;
        return 0;
    }
    case CC_OPT_STRING: {
        char *copy = keep(value);
        if (copy == NULL)
            return CC_ENOMEM;
        *(const char **)o->target = copy;
        return 0;
    }
    case CC_OPT_LIST:
        return list_add((cc_strlist_t *)o->target, value);
    case CC_OPT_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
            *(int *)o->target = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
            *(int *)o->target = 0;
        else
            return fail(errbuf, errlen, "%s: --%s expects true or false, got '%s'", origin, o->name, value);
        return 0;
    }
    return CC_EINVAL;
}

static int apply_json_value(const cc_option_t *o, json_t *v, const char *file, char *errbuf, size_t errlen)
{
    char num[32];
    switch (o->type) {
    case CC_OPT_INT:
        if (!json_is_integer(v))
            return fail(errbuf, errlen, "%s: \"%s\" must be an integer", file, o->name);
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return set_from_text(o, num, file, errbuf, errlen);
    case CC_OPT_STRING:
        if (!json_is_string(v))
            return fail(errbuf, errlen, "%s: \"%s\" must be a string", file, o->name);
        return set_from_text(o, json_string_value(v), file, errbuf, errlen);
    case CC_OPT_BOOL:
        if (!json_is_boolean(v))
            return fail(errbuf, errlen, "%s: \"%s\" must be true or false", file, o->name);
        *(int *)o->target = json_is_true(v);
        return 0;
    case CC_OPT_LIST:
        if (json_is_string(v))
            return list_add((cc_strlist_t *)o->target, json_string_value(v));
        if (!json_is_array(v))
            return fail(errbuf, errlen, "%s: \"%s\" must be a string or an array of strings", file, o->name);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (!json_is_string(item))
                return fail(errbuf, errlen, "%s: \"%s\"[%zu] must be a string", file, o->name, i);
            int r = list_add((cc_strlist_t *)o->target, json_string_value(item));
            if (r < 0)
                return r;
        }
        return 0;
    }
    return CC_EINVAL;
}

static int load_file(const cc_program_t *prog, const char *path, char *errbuf, size_t errlen)
{
    json_error_t jerr;
    /* Config files are small; refuse anything absurd rather than parse it. */
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(errbuf, errlen, "cannot open config file %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (size > 1 << 20)
        return fail(errbuf, errlen, "config file %s is larger than 1 MiB", path);
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return fail(errbuf, errlen, "config file %s line %d: %s", path, jerr.line, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(errbuf, errlen, "config file %s: the top level must be a JSON object", path);
    }
    const char *key;
    json_t *v;
    int r = 0;
    json_object_foreach(root, key, v) {
        const cc_option_t *o = find_option(prog, key, strlen(key));
        if (o == NULL) {
            r = fail(errbuf, errlen, "config file %s: unknown option \"%s\" (see --help)", path, key);
            break;
        }
        if ((r = apply_json_value(o, v, path, errbuf, errlen)) < 0)
            break;
    }
    json_decref(root);
    return r;
}

int cc_config_parse(const cc_program_t *prog, int argc, char **argv, char *errbuf, size_t errlen)
{
    /* Pass 1: --help and --config, so the file applies before any flag. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cc_config_print_help(prog, stdout);
            return 1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return fail(errbuf, errlen, "--config needs a file name");
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
        if (path != NULL) {
            int r = load_file(prog, path, errbuf, errlen);
            if (r < 0)
                return r;
        }
    }
    /* A list given on the command line replaces the file's list, like any other flag. */
    unsigned char list_from_argv[64] = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(arg, "--config=", 9) == 0)
            continue;
        if (strncmp(arg, "--", 2) != 0)
            return fail(errbuf, errlen, "unexpected argument '%s' (see --help)", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
        const cc_option_t *o = find_option(prog, name, namelen);
        if (o == NULL)
            return fail(errbuf, errlen, "unknown option '%.*s' (see --help)", (int)(namelen + 2), arg);
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL && o->type == CC_OPT_BOOL)
            value = "true";
        if (value == NULL) {
            if (i + 1 >= argc)
                return fail(errbuf, errlen, "--%s needs a value (%s)", o->name, o->metavar ? o->metavar : "VALUE");
            value = argv[++i];
        }
        size_t idx = (size_t)(o - prog->options);
        if (o->type == CC_OPT_LIST && idx < sizeof(list_from_argv) && !list_from_argv[idx]) {
            list_from_argv[idx] = 1;
            cc_strlist_free((cc_strlist_t *)o->target);
        }
        int r = set_from_text(o, value, "command line", errbuf, errlen);
        if (r < 0)
            return r;
    }
    return 0;
}

void cc_config_print_help(const cc_program_t *prog, FILE *out)
{
    fprintf(out, "Usage: %s [--config FILE.json] [OPTIONS]\n\n%s\n\nOptions:\n", prog->name, prog->summary);
    fprintf(out, "  %-28s %s\n", "--help", "show this help and exit");
    fprintf(out, "  %-28s %s\n", "--config FILE.json",
            "read options from a JSON object (keys are option names; flags override it)");
    for (size_t i = 0; i < prog->noptions; i++) {
        const cc_option_t *o = &prog->options[i];
        char lhs[64];
        if (o->type == CC_OPT_BOOL)
            snprintf(lhs, sizeof(lhs), "--%s", o->name);
        else
            snprintf(lhs, sizeof(lhs), "--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
        fprintf(out, "  %-28s %s", lhs, o->help);
        if (o->type == CC_OPT_INT)
            fprintf(out, " (default %d)", *(int *)o->target);
        else if (o->type == CC_OPT_STRING && *(const char **)o->target != NULL)
            fprintf(out, " (default %s)", *(const char **)o->target);
        else if (o->type == CC_OPT_LIST)
            fprintf(out, " (repeatable)");
        fputc('\n', out);
    }
}
