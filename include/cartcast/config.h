/* Configuration: one option table per daemon drives --help, the JSON config
 * file and the command line.
 *
 * Precedence: built-in default < --config FILE.json < command-line flag.
 * In the JSON file an option is the flag's name with '-' or '_' ("http-port"
 * or "http_port"); repeatable options take a JSON array of strings. */
#ifndef CARTCAST_CONFIG_H
#define CARTCAST_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    CC_OPT_INT,     /* int *; range [min, max] */
    CC_OPT_STRING,  /* const char ** (points into argv or a strdup'd JSON value) */
    CC_OPT_LIST,    /* cc_strlist_t *: repeatable */
    CC_OPT_BOOL,    /* int *: flag with no value ("--flag"), JSON true/false */
} cc_opt_type_t;

typedef struct cc_strlist {
    char **items;
    size_t count;
} cc_strlist_t;

typedef struct cc_option {
    const char *name; /* without the leading "--" */
    cc_opt_type_t type;
    void *target;
    const char *metavar; /* "N", "ADDR", "NAME=KEY" */
    const char *help;
    long min, max; /* CC_OPT_INT only */
} cc_option_t;

typedef struct cc_program {
    const char *name;    /* "cartcast-origin" */
    const char *summary; /* one line for --help */
    const cc_option_t *options;
    size_t noptions;
} cc_program_t;

/* Parses argv (after applying --config FILE if given).  Handles --help (prints
 * and returns 1) and --config itself.  On error writes a one-line message to
 * errbuf and returns CC_ECONFIG. */
int cc_config_parse(const cc_program_t *prog, int argc, char **argv, char *errbuf, size_t errlen);
void cc_config_print_help(const cc_program_t *prog, FILE *out);
void cc_strlist_free(cc_strlist_t *l);
/* Frees every string the parses kept (call once, at exit). */
void cc_config_release(void);

#endif
