/*
 * fuzz_compat - the compatibility checker (registry/compat.c) on two
 * arbitrary FileDescriptorSets: every rule walked over whatever they hold.
 *
 * Input: a 2-byte big-endian length, that many bytes of the old set, then
 * the new set.
 *
 * Checked: compat_diff returns only the COMPAT_BREAKS_* bits and writes one
 * line per issue; compat_check agrees with compat_diff for every level
 * (NONE never refuses; BACKWARD refuses exactly when the diff breaks
 * backward; FORWARD, FULL likewise), and a set that parses compared with
 * itself breaks nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "fuzz.h"
#include "registry/compat.h"
#include "schema/fdset.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *old_fds, *new_fds;
    size_t old_len, new_len;
    fuzz_split(data, size, &old_fds, &old_len, &new_fds, &new_len);

    struct buf msgs;
    buf_init(&msgs, 1u << 20);
    unsigned bits = compat_diff(old_fds, old_len, new_fds, new_len, "v1: ", &msgs);
    if (bits & ~(COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD))
        abort();
    if (bits && msgs.len == 0)
        abort();

    struct compat_version old = {old_fds, old_len, 1};
    static const enum compat_level levels[] = {COMPAT_NONE, COMPAT_BACKWARD, COMPAT_FORWARD,
                                               COMPAT_FULL, COMPAT_BACKWARD_TRANSITIVE};
    static const unsigned refuses[] = {0, COMPAT_BREAKS_BACKWARD, COMPAT_BREAKS_FORWARD,
                                       COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD,
                                       COMPAT_BREAKS_BACKWARD};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        buf_reset(&msgs);
        bool ok = compat_check(levels[i], new_fds, new_len, &old, 1, &msgs);
        if (ok != !(bits & refuses[i]))
            abort();
    }

    struct fdset *fs;
    char err[256];
    if (fdset_new(new_fds, new_len, &fs, err, sizeof(err)) == TP_OK) {
        fdset_free(fs);
        buf_reset(&msgs);
        if (compat_diff(new_fds, new_len, new_fds, new_len, "", &msgs) != 0)
            abort(); /* a set is compatible with itself */
    }
    buf_release(&msgs);
    return 0;
}
