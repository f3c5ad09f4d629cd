#include "reasons.h"

struct mqtt_reason_row {
    uint8_t code;
    enum mqtt_answer answer5, answer4;
    uint8_t code4;
    const char *label, *when;
};

static const struct mqtt_reason_row mqtt_reasons[] = {
#define MQTT_REASON_ROW(name, code, a5, a4, code4, label, when)                                    \
    {code, MQTT_ANSWER_##a5, MQTT_ANSWER_##a4, code4, label, when},
    MQTT_REASON_TABLE(MQTT_REASON_ROW)
#undef MQTT_REASON_ROW
};
_Static_assert(sizeof(mqtt_reasons) / sizeof(mqtt_reasons[0]) == MQTT_R__COUNT,
               "every mqtt reason has a row");

static const struct mqtt_reason_row *row(enum mqtt_reason r)
{
    return &mqtt_reasons[(unsigned)r < MQTT_R__COUNT ? r : MQTT_R_PROTOCOL_ERROR];
}

uint8_t mqtt_reason_code(enum mqtt_reason r)
{
    return row(r)->code;
}

enum mqtt_answer mqtt_reason_answer5(enum mqtt_reason r)
{
    return row(r)->answer5;
}

enum mqtt_answer mqtt_reason_answer4(enum mqtt_reason r)
{
    return row(r)->answer4;
}

uint8_t mqtt_reason_code4(enum mqtt_reason r)
{
    return row(r)->code4;
}

const char *mqtt_reason_label(enum mqtt_reason r)
{
    return row(r)->label;
}

const char *mqtt_reason_when(enum mqtt_reason r)
{
    return row(r)->when;
}

enum mqtt_answer mqtt_reason_answer(enum mqtt_reason r, uint8_t version, uint8_t *code)
{
    if (version == 5 && r != MQTT_R_UNSUPPORTED_PROTOCOL) {
        *code = row(r)->code;
        return row(r)->answer5;
    }
    *code = row(r)->code4;
    return row(r)->answer4;
}
