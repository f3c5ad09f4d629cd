/* common.h: wall-clock timestamps shared by the mqtt-edge experiment programs.
 *
 * Every program prints events as "HH:MM:SS.uuuuuu <what>" in the same format as
 * `strace -tt`, so lines from several processes and from strace can be merged
 * by sorting. Not part of twinpipe; see README.md beside this file. */
#ifndef MQTT_EDGE_COMMON_H
#define MQTT_EDGE_COMMON_H

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static inline void stamp(char *buf, size_t size)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    snprintf(buf, size, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
}

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
