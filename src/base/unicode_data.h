/*
 * unicode_data.h - declarations of the generated tables in unicode_data.c
 * (scripts/gen-unicode-tables.py). Internal to unicode.c and its tests.
 *
 * Categories: cat = unicode_cat_stage2[unicode_cat_stage1[cp >> 7] * 128 +
 * (cp & 127)]; its low 5 bits index unicode_cat_names, bit 5 is White_Space,
 * and unicode_cat_flags[cat] are the UCAT_* flags.
 * Case and NFD tables are sorted by their _from arrays (binary search).
 */
#ifndef CLLM_BASE_UNICODE_DATA_H
#define CLLM_BASE_UNICODE_DATA_H

#include <stddef.h>
#include <stdint.h>

#define UNICODE_CAT_SHIFT 7
#define UNICODE_CAT_WS_BIT 0x20

extern const char unicode_data_version[];
extern const char unicode_cat_names[32][3];
extern const uint16_t unicode_cat_flags[64];
extern const uint16_t unicode_cat_stage1[0x110000 >> UNICODE_CAT_SHIFT];
extern const uint8_t unicode_cat_stage2[];
extern const size_t unicode_cat_stage2_len;

extern const uint32_t unicode_lower_from[], unicode_lower_to[];
extern const size_t unicode_lower_count;
extern const uint32_t unicode_upper_from[], unicode_upper_to[];
extern const size_t unicode_upper_count;

extern const uint32_t unicode_nfd_from[];
extern const uint16_t unicode_nfd_offset[];
extern const uint8_t unicode_nfd_length[];
extern const uint32_t unicode_nfd_pool[];
extern const size_t unicode_nfd_count;

#endif
