/*
 * errors.h - every refusal of a policy, from one table.
 *
 * A row is one stable code, the HTTP status tp-policy answers it with (the
 * usual {"error":{"code":"<code>","message":"..."}}; the message names the
 * field) and when it is returned. policy_parse_body, policy_record_read and
 * policy_set_apply return these codes; nothing else of policy/ invents one, so
 * a typo fails to compile (the model is ingest/errors.h).
 *
 * Pure table; any thread.
 *
 *     enum policy_error code;
 *     if (policy_parse_body(body, n, name, &lim, now, &p, &code, msg, sizeof(msg)) != TP_OK)
 *         reply(policy_error_status(code), policy_error_code(code), msg);
 */
#ifndef TP_POLICY_ERRORS_H
#define TP_POLICY_ERRORS_H

/* X(NAME, status, "code", "when") */
#define POLICY_ERROR_TABLE(X)                                                                      \
    X(NONE, 0, "none", "no refusal")                                                               \
    X(BODY_TOO_LARGE, 400, "body_too_large", "a body over 64 KiB (POLICY_BODY_MAX)")               \
    X(INVALID_JSON, 400, "invalid_json",                                                           \
      "not one JSON object: syntax, invalid UTF-8, a NUL, or nesting deeper than the schema")      \
    X(UNKNOWN_FIELD, 400, "unknown_field", "a member the schema does not define")                  \
    X(DUPLICATE_FIELD, 400, "duplicate_field", "a member given twice in one object")               \
    X(WRONG_TYPE, 400, "wrong_type", "a member of the wrong JSON type")                            \
    X(INVALID_NAME, 400, "invalid_name",                                                           \
      "a name that is not 1..64 characters of A-Z a-z 0-9 . _ -")                                  \
    X(MISSING_SELECTOR, 400, "missing_selector", "no selector")                                    \
    X(EMPTY_SELECTOR, 400, "empty_selector",                                                       \
      "a selector with neither an attribute condition nor a device id")                            \
    X(UNKNOWN_ATTRIBUTE, 400, "unknown_attribute",                                                 \
      "an attribute other than the Reading's model, firmware, region")                             \
    X(INVALID_CONDITION, 400, "invalid_condition",                                                 \
      "a condition that is not exactly one of {\"eq\": s} or {\"prefix\": s}")                     \
    X(INVALID_VALUE, 400, "invalid_value", "an eq or prefix value that is not 1..128 bytes")       \
    X(TOO_MANY_DEVICE_IDS, 400, "too_many_device_ids", "more than 10,000 device ids")              \
    X(INVALID_DEVICE_ID, 400, "invalid_device_id",                                                 \
      "a device id that is not 1..128 characters of A-Z a-z 0-9 . _ : -")                          \
    X(TOO_MANY_SITES, 400, "too_many_sites", "more than 64 sites")                                 \
    X(INVALID_SITE, 400, "invalid_site",                                                           \
      "a site that is not 1..64 characters of A-Z a-z 0-9 . _ -")                                  \
    X(INVALID_LEVEL, 400, "invalid_level", "a level other than \"aggregates\" or \"raw\"")         \
    X(INVALID_REPORT_EVERY, 400, "invalid_report_every_ms",                                        \
      "a report_every_ms that is not an integer in 1,000..86,400,000")                             \
    X(INVALID_TIME, 400, "invalid_time",                                                           \
      "a from or until that is not an RFC 3339 UTC time (Z or +00:00) in 1970..9999")              \
    X(MISSING_UNTIL, 400, "missing_until", "no until")                                             \
    X(UNTIL_NOT_AFTER_FROM, 400, "until_not_after_from", "an until at or before from")             \
    X(DURATION_TOO_LONG, 400, "duration_too_long",                                                 \
      "an until more than policy.max_duration_s after from")                                       \
    X(INVALID_RECORD, 400, "invalid_record",                                                       \
      "a policies-topic record: unknown version, key other than its name, missing or bad "         \
      "issued_at, revision or from")                                                               \
    X(TOO_MANY_POLICIES, 409, "too_many_policies", "a new policy when the set holds its maximum")

enum policy_error {
#define POLICY_ERROR_ENUM(name, status, code, when) POLICY_ERR_##name,
    POLICY_ERROR_TABLE(POLICY_ERROR_ENUM)
#undef POLICY_ERROR_ENUM
        POLICY_ERR__COUNT
};

/* The stable code, e.g. "invalid_level". */
const char *policy_error_code(enum policy_error e);
/* The HTTP status the service answers it with. */
unsigned policy_error_status(enum policy_error e);
/* When it is returned (the table's text). */
const char *policy_error_when(enum policy_error e);

#endif
