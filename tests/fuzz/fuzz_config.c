/* fuzz_config: libFuzzer drives arbitrary bytes through config loading, the
 * one parser that reads an operator's file: JSON with comments, every section's
 * checks, secret references, routes, rules and templates. Loading a hostile
 * file must end in a config or a clear error, never a crash, a hang or a
 * sanitizer report (deeply nested files included: json_parse bounds them).
 *
 * Input: the whole input is the config file's text. Secrets referenced as env:
 * resolve to the variables set below; file: references point nowhere unless
 * the input names a real file, which is fine: that is an error path too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char config_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Load warnings are not findings, and writing them costs most of the time. */
    log_set_level(LOG_ERROR);
    setenv("ZOOM_WEBHOOK_SECRET", "fuzz-zoom-secret-0123", 1);
    setenv("CLOSE_API_KEY", "api_fuzzKey0123456789", 1);
    snprintf(config_path, sizeof(config_path), "/tmp/fuzz_config.%ld.json", (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(config_path, "wb");
    if (f == NULL)
        return 0;
    size_t written = fwrite(data, 1, size, f);
    fclose(f);
    if (written != size)
        return 0;
    char err[4096];
    config *cfg = config_load(config_path, err, sizeof(err));
    config_free(cfg);
    return 0;
}
