/*
 * clock.h - monotonic time for timings and timeouts.
 */
#ifndef CLLM_BASE_CLOCK_H
#define CLLM_BASE_CLOCK_H

/* Milliseconds on the monotonic clock (an arbitrary origin). */
double clock_ms(void);

#endif
