/*
 * creds.h - who may call tp-registry: HTTP Basic credentials with a role, as
 * Confluent Schema Registry authenticates, so its clients keep working
 * (basic.auth.user.info=user:password).
 *
 * As tp-query's API keys (query/apikeys.h), the service knows only the
 * SHA-256 of each password, never the password: registry.credentials is a
 * comma-separated list of "user:<SHA-256 hex of the password>:role",
 * registry.credentials_file the same entries one a line ('#' comments).
 * Roles: read (every GET, the lookup POST /subjects/{s} and the
 * compatibility check, which change nothing) and write (everything; for
 * operators). A presented user and password are hashed and compared with
 * every entry's digests in constant time (CRYPTO_memcmp on 32-byte digests,
 * no early exit), so neither the answer time nor a length says anything
 * about a credential. Passwords are never logged.
 *
 * Object: struct creds, embedded (filled before the server starts, read only
 * afterwards, so any thread may check). A password and its entry:
 *     pw=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
 *     echo "ingest:$(printf %s "$pw" | sha256sum | cut -d' ' -f1):read"
 *
 *     struct creds c = {0};
 *     creds_add_list(&c, cfg.credentials, errstr, n);
 *     enum creds_role r = creds_check(&c, http_request_header(req, "Authorization"), user,
 *                                     sizeof(user), why, sizeof(why));   // CREDS_NONE -> 401
 */
#ifndef TP_REGISTRY_CREDS_H
#define TP_REGISTRY_CREDS_H

#include <stddef.h>

#include "common/err.h"

#define CREDS_MAX          256
#define CREDS_USER_MAX     128 /* bytes of a user name */
#define CREDS_PASSWORD_MAX 512 /* bytes of a presented password */

enum creds_role { CREDS_NONE = 0, CREDS_READ = 1, CREDS_WRITE = 2 };

struct creds {
    size_t n;
    unsigned char user[CREDS_MAX][32];     /* SHA-256 of the user name */
    unsigned char password[CREDS_MAX][32]; /* SHA-256 of the password */
    enum creds_role role[CREDS_MAX];
};

/* Adds "user:hex:role,..." (spaces around entries allowed). TP_CONFIG when malformed. */
enum tp_err creds_add_list(struct creds *c, const char *list, char *errstr, size_t errstr_size);
/* Adds a file's entries: one a line; blank lines and '#' comments skipped. */
enum tp_err creds_add_file(struct creds *c, const char *path, char *errstr, size_t errstr_size);
/* "read" or "write". */
const char *creds_role_name(enum creds_role r);
/*
 * The role of an Authorization header value ("Basic base64(user:password)"), CREDS_NONE
 * when it is missing, malformed or unknown (why says which; never the password). The
 * presented user name goes to user (cut to user_size) once the header is well formed.
 */
enum creds_role creds_check(const struct creds *c, const char *header, char *user, size_t user_size,
                            char *why, size_t why_size);

#endif
