/*
 * unicode.h - the Unicode facts the tokenizers need, from compact tables
 * generated from the Unicode Character Database (scripts/gen-unicode-tables.py,
 * committed output in unicode_data.c): UTF-8 decoding that never fails,
 * general categories, whitespace, case mapping, NFD decomposition, and the
 * GPT-2 byte <-> printable-code-point mapping used by byte-level BPE.
 */
#ifndef CLLM_BASE_UNICODE_H
#define CLLM_BASE_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Flags of a code point's general category (one of the first 7) and extras. */
enum {
    UCAT_LETTER = 1 << 0,      /* L* */
    UCAT_MARK = 1 << 1,        /* M* */
    UCAT_NUMBER = 1 << 2,      /* N* */
    UCAT_PUNCT = 1 << 3,       /* P* */
    UCAT_SYMBOL = 1 << 4,      /* S* */
    UCAT_SEPARATOR = 1 << 5,   /* Z* */
    UCAT_OTHER = 1 << 6,       /* C* (also unassigned) */
    UCAT_WHITESPACE = 1 << 7,  /* \s as regex engines define it */
    UCAT_LOWER = 1 << 8,       /* Ll */
    UCAT_UPPER = 1 << 9,       /* Lu */
    UCAT_TITLE = 1 << 10,      /* Lt */
    UCAT_NUMBER_DECIMAL = 1 << 11, /* Nd */
    UCAT_MARK_NONSPACING = 1 << 12 /* Mn (what BERT's strip_accents removes) */
};

#define UNICODE_REPLACEMENT 0xFFFD

/* Decode one code point at s[0..len). Sets *n to the bytes consumed (>= 1 when
 * len > 0). Invalid or truncated sequences decode as U+FFFD consuming 1 byte. */
uint32_t utf8_decode(const char *s, size_t len, size_t *n);
/* Encode cp into out (up to 4 bytes); returns the byte count. */
size_t utf8_encode(uint32_t cp, char out[4]);
/* The same, for parsers that reject bad input: the bytes of one valid code
 * point at s[0..len) (its value in *cp), or 0 for an invalid, overlong,
 * surrogate or truncated sequence. */
size_t utf8_decode_strict(const char *s, size_t len, uint32_t *cp);
/* Code points in s[0..len) (each byte that is not a continuation byte). */
size_t utf8_count(const char *s, size_t len);
/* Length of the sequence a lead byte starts (1 for an invalid lead byte). */
size_t utf8_seq_len(uint8_t lead);

/* The lenient forms, as the tokenizers' reference (llama.cpp) reads and
 * writes text: decoding checks the structure only (overlong forms and
 * surrogates decode to their value; a bad or truncated sequence is U+FFFD
 * consuming 1 byte), encoding writes surrogates as they are (above
 * U+10FFFF: U+FFFD). */
uint32_t utf8_decode_lenient(const char *s, size_t len, size_t *n);
size_t utf8_encode_lenient(uint32_t cp, char out[4]);
/* Length a lead byte announces from its high bits alone, without checking
 * what follows (1 for ASCII and stray continuation bytes, 2 for 0xC0-0xDF,
 * 3 for 0xE0-0xEF, 4 for 0xF0-0xFF): how the tokenizers split symbols. */
size_t utf8_lead_len(uint8_t lead);

/* Byte offset of character index in s[0..len) (len if there are fewer). */
size_t utf8_offset(const char *s, size_t len, size_t index);

/* The value of a hex digit (0-9, a-f, A-F), or -1. */
int unicode_hex_value(uint32_t c);

unsigned unicode_flags(uint32_t cp);
uint32_t unicode_tolower(uint32_t cp);
uint32_t unicode_toupper(uint32_t cp);
/* Canonical decomposition of cp (recursively), written to out; returns the count
 * (1 with out[0] = cp when it has none). out must hold 8. */
size_t unicode_nfd(uint32_t cp, uint32_t out[8]);

/* The two-letter general category of cp ("Lu", "Nd", "Cn" for unassigned). */
const char *unicode_category_name(uint32_t cp);
/* The Unicode version the tables were generated from, e.g. "15.0.0". */
const char *unicode_version(void);

/* GPT-2 byte-level mapping: each byte to a printable code point and back. */
uint32_t unicode_byte_to_cp(uint8_t b);
int unicode_cp_to_byte(uint32_t cp); /* -1 if cp is not one of the 256 */

#endif
