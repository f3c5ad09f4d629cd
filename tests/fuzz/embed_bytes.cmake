# cmake -DIN=file -DOUT=file.c -P embed_bytes.cmake: the file's bytes and length as
# fuzz_telemetry_fds[] and fuzz_telemetry_fds_len (tests/fuzz/fuzz.h).
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* generated from ${IN} */\n#include <stddef.h>\n#include <stdint.h>\n"
  "extern const uint8_t fuzz_telemetry_fds[];\nextern const size_t fuzz_telemetry_fds_len;\n"
  "const uint8_t fuzz_telemetry_fds[] = {${body}0x00};\nconst size_t fuzz_telemetry_fds_len = ${n};\n")
